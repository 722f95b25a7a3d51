"""The forwarded path's pieces on their own: the request as the backend gets it, the one
send layer between backend and server, the in-flight guard's status, the metric tallies
and the proxy's request head. No network, no Redis."""

from __future__ import annotations

import random

from backends.base import Receive, Relay, Scope, Send, is_forwarding
from backends.guard import Guarded
from backends.outcomes import Outcomes
from backends.proxy import ProxyBackend
from gateway import metrics
from gateway.forwarding import ForwardedAnswer
from gateway.gate import _for_backend
from gateway.http import cookies
from gateway.request_id import WithRequestId
from gateway.types import Message

OWN = ("sluis_visitor", "sluis_admission")


def forwarded_token(headers: list[tuple[bytes, bytes]]) -> bytes:
    return [v for k, v in headers if k == b"sluis-admission"][-1]


def test_the_admission_token_sent_on_is_the_one_the_gate_read_from_the_cookies() -> None:
    tricky = [
        b"sluis_visitor=v1; sluis_admission=tok-a",
        b"sluis_admission=tok-a; sluis_admission=tok-b",
        b' sluis_admission = "x"; sluis_admission="tok-q" ',
        b"\xa0sluis_admission=tok-nbsp; sluis_admission=tok-b",
        b"\x1csluis_admission=tok-fs\x85",
        b"other=1;sluis_admission=;sluis_admission=tok-late",
        b"sluis_admissionx=no; a=b",
        b"no-sluis=here",
        b"",
    ]
    rng = random.Random(7)
    alphabet = [b"sluis_admission", b"sluis_visitor", b"=", b";", b" ", b"\t", b"\xa0", b"\x85",
                b'"', b"tok", b"a", b"sluis_", b"\x1f", b"\r"]
    tricky += [b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
               for _ in range(3000)]
    for jar in tricky:
        for extra_header in ([], [(b"cookie", b"sluis_admission=second-header")]):
            headers = [(b"host", b"sluis.test"), (b"cookie", jar), *extra_header,
                       (b"sluis-admission", b"forged-by-the-client")]
            out = _for_backend(headers, None)
            expected = cookies(headers).get("sluis_admission", "").encode()
            assert forwarded_token(out) == expected, jar
            assert [k for k, _ in out].count(b"sluis-admission") == 1
            # The gateway's own cookies, as the gate reads them, never reach the backend.
            assert not set(cookies(out)) & set(OWN), (jar, out)


def test_a_given_token_wins_over_the_cookie() -> None:
    out = _for_backend([(b"cookie", b"sluis_admission=old; site=1")], "renewed")
    assert forwarded_token(out) == b"renewed"
    assert (b"cookie", b"site=1") in out


class Sent:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)


async def test_one_send_layer_ends_the_session_and_adds_the_gates_headers_in_order() -> None:
    server = Sent()
    renewed = (b"set-cookie", b"sluis_admission=new; Path=/")
    answer = ForwardedAnswer(WithRequestId(server, "req-1"), "kamp", [renewed], False)
    assert answer.send is server  # the request id's own layer is folded in
    before = metrics._answered[("kamp", 200)]
    await answer({"type": "http.response.start", "status": 200,
                  "headers": [(b"content-type", b"text/html"), (b"Sluis-Session", b" End "),
                              (b"x-site", b"1")]})
    await answer({"type": "http.response.body", "body": b"ok"})
    head = server.messages[0]["headers"]
    assert [k for k, _ in head] == [b"content-type", b"x-site", b"set-cookie", b"set-cookie",
                                    b"x-request-id"]
    assert head[2] == renewed and head[3][1].startswith(b"sluis_admission=;")
    assert head[4] == (b"x-request-id", b"req-1")
    assert answer.ended and answer.status == 200
    assert server.messages[1] == {"type": "http.response.body", "body": b"ok"}
    assert metrics._answered[("kamp", 200)] == before + 1


async def test_without_a_request_id_layer_and_without_a_session_header() -> None:
    server = Sent()
    answer = ForwardedAnswer(server, "kamp", [], True)
    await answer({"type": "http.response.start", "status": 404,
                  "headers": [(b"sluis-sessions", b"end")]})
    assert server.messages[0]["headers"] == [(b"sluis-sessions", b"end")]
    assert not answer.ended and answer.status == 404


async def test_the_guard_counts_the_status_of_the_callers_relay_without_a_layer_of_its_own(
        ) -> None:
    seen: list[Send] = []

    async def backend(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(send)
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    class Adapter:
        __call__ = staticmethod(backend)

        async def startup(self) -> None:
            return None

        async def shutdown(self) -> None:
            return None

    outcomes = Outcomes()
    guarded = Guarded("kamp", Adapter(), max_inflight=2, wait_seconds=0, outcomes=outcomes)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    relay = Relay(Sent())
    answer = ForwardedAnswer(WithRequestId(Sent(), "req-2"), "kamp", [], False)
    await guarded({"type": "http", "method": "GET"}, receive, relay)
    await guarded({"type": "http", "method": "GET"}, receive, answer)
    await guarded({"type": "http", "method": "GET"}, receive, Sent())
    assert seen[0] is relay and seen[1] is answer and isinstance(seen[2], Relay)
    (_, _, fields), = outcomes.take()
    assert fields["n"] == 3 and fields["err"] == 3
    assert guarded.inflight == 0


def test_sends_are_known_by_what_they_declare_not_by_their_class() -> None:
    server = Sent()
    assert is_forwarding(Relay(server)) and is_forwarding(ForwardedAnswer(server, "r", [], False))
    assert not is_forwarding(server) and not is_forwarding(WithRequestId(server, "req-3"))

    class OwnHeaders:  # any layer that only adds headers, declared as such
        adds_headers = True

        def __init__(self) -> None:
            self.send, self.tail = server, [(b"x-own", b"1")]

        async def __call__(self, message: Message) -> None:
            raise AssertionError("folded into the forwarded answer, never called")

    answer = ForwardedAnswer(OwnHeaders(), "r", [(b"x-gate", b"2")], False)
    assert answer.send is server and answer.tail == [(b"x-gate", b"2"), (b"x-own", b"1")]


def test_tallies_reach_the_metrics_when_flushed() -> None:
    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    metrics.flush()
    requests = value("sluis_backend_requests_total", room="tally", code="201")
    checks = value("sluis_token_checks_total", result="valid")
    observed = value("sluis_backend_request_seconds_count")
    fast = value("sluis_backend_request_seconds_bucket", le="0.01")
    metrics.backend_started("tally")
    metrics.backend_started("tally")
    metrics.backend_answered("tally", 201)
    metrics.token_checked("valid")
    metrics.backend_finished("tally", 0.004)
    metrics.flush()
    assert value("sluis_backend_requests_total", room="tally", code="201") == requests + 1
    assert value("sluis_token_checks_total", result="valid") == checks + 1
    assert value("sluis_backend_inflight", room="tally") == 1
    assert value("sluis_backend_request_seconds_count") == observed + 1
    assert value("sluis_backend_request_seconds_bucket", le="0.01") == fast + 1
    metrics.backend_finished("tally", 3.0)
    assert b'sluis_backend_inflight{room="tally"} 0.0' in metrics.exposition()


def test_the_request_head_drops_hop_by_hop_and_named_headers_and_says_who_asked() -> None:
    proxy = ProxyBackend.to("http://upstream.test:8080/base")
    scope = {"type": "http", "method": "POST", "scheme": "https", "path": "/a b",
             "raw_path": b"/a%20b", "query_string": b"q=1", "client": ("203.0.113.9", 4000),
             "headers": [(b"host", b"sluis.test"), (b"connection", b"keep-alive, x-private"),
                         (b"x-private", b"1"), (b"keep-alive", b"5"), (b"te", b"trailers"),
                         (b"x-forwarded-for", b"198.51.100.1"), (b"x-forwarded-host", b"evil"),
                         (b"accept-encoding", b"br, gzip;q=0.8, zstd"),
                         (b"sluis-admission", b"tok")]}
    head, host, has_body, chunked = proxy._request_head(scope, b"POST")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /base/a%20b?q=1 HTTP/1.1"
    assert head.endswith(b"\r\n\r\n") and host == b"sluis.test"
    assert not has_body and not chunked
    names = [line.split(":")[0] for line in lines[1:] if line]
    assert sorted(names) == sorted(["accept-encoding", "sluis-admission", "host",
                                    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                                    "content-length"])
    assert "accept-encoding: gzip;q=0.8" in lines
    assert "host: upstream.test:8080" in lines
    assert "x-forwarded-for: 198.51.100.1, 203.0.113.9" in lines
    assert "x-forwarded-proto: https" in lines and "x-forwarded-host: sluis.test" in lines
    assert "content-length: 0" in lines


def test_a_visitor_cannot_name_the_admission_header_away() -> None:
    proxy = ProxyBackend.to("http://upstream.test:8080")
    scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/", "query_string": b"",
             "client": ("203.0.113.9", 4000),
             "headers": [(b"connection", b"close, Sluis-Admission, x-private"),
                         (b"x-private", b"1"), (b"sluis-admission", b"tok")]}
    head = proxy._request_head(scope, b"GET")[0].decode().split("\r\n")
    assert "sluis-admission: tok" in head
    assert not any(line.startswith("x-private") for line in head)


def test_the_forwarded_paths_memos_are_bounded_and_remember_short_keys_only() -> None:
    from backends import proxy as proxy_module
    from gateway import forwarding
    from gateway.common.memo import Memo

    short, long = b"site=1; sluis_admission=tok", b"site=1; " + b"x" * 2000
    assert forwarding.jar_for_backend(short) == (b"site=1", b"tok")
    assert forwarding.jar_for_backend(long) == (long, None)
    assert short in forwarding._jars and long not in forwarding._jars
    proxy_module._named(b"close, x-a", frozenset())
    proxy_module._named(b"x-b, " * 100, frozenset())
    assert (b"close, x-a", frozenset()) in proxy_module._named_seen
    assert (b"x-b, " * 100, frozenset()) not in proxy_module._named_seen
    for memo in (forwarding._jars, proxy_module._named_seen, proxy_module._decodable_seen):
        assert isinstance(memo, Memo) and len(memo) <= memo.limit
