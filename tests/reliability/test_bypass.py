"""Bypass crawl: raw HTTP over a socket to a real gateway process. Every protected
route in every spelling, method, request-target form and Host trick gets the queue
(or an answer of Sluis's own); the upstream counts every connection and sees none."""

from __future__ import annotations

from pathlib import Path

from gateway.passes import Passes, new_visitor_id
from tests.backends.support import KEY, gateway
from tests.reliability.conftest import Figure
from tests.reliability.support import SocketUpstream, raw_request

ROOMS = """
[rooms.kampen]
title = "Zomerkampen"
hosts = ["kampen.example"]
max_active = 0

[rooms.zwemmen]
title = "Zwemmen"
paths = ["/zwemmen"]
max_active = 0

[rooms.default]
title = "Alles"
hosts = ["*"]
max_active = 0
"""

PATHS = [
    "/inschrijven", "/INSCHRIJVEN", "/Inschrijven/", "//inschrijven", "///inschrijven",
    "/./inschrijven", "/a/../inschrijven", "/a/b/../../inschrijven", "/%69nschrijven",
    "/%2e/inschrijven", "/%2e%2e/inschrijven", "/%2F%2Finschrijven", "/inschrijven%00",
    "/inschrijven;jsessionid=1", "/inschrijven?_sluis=1&x=%00", "/inschrijven#frag",
    "/_sluis/../inschrijven", "/_sluis/%2e%2e/inschrijven", "/_sluis//../inschrijven",
    "/_sluis/static/../../inschrijven", "/_sluis/static/%2e%2e/%2e%2e/inschrijven",
    "/_sluis/admin/../../inschrijven", "/_sluis/status/../../inschrijven", "/_SLUIS/admin/",
    "/_Sluis/status", "/_sluis%2fadmin", "/_sluis\\..\\inschrijven", "/zwemmen",
    "/ZWEMMEN/slot", "/zwemmen/../inschrijven", "/zwemmen/%2e%2e/admin", "/.%2e/x",
    "/%5f%73luis/../inschrijven", "/\u00e9t\u00e9".encode().decode("latin-1"),
]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
HOSTS: list[list[str]] = [
    ["Host: kampen.example"], ["Host: KAMPEN.EXAMPLE."], ["Host: kampen.example:80"],
    ["Host: evil.example", "X-Forwarded-Host: kampen.example"],
    ["Host: kampen.example", "Host: other.example"],
    ["Host: localhost", "X-Original-URL: /inschrijven", "X-Rewrite-URL: /inschrijven"],
    [],  # no Host at all
]


def request_bytes(method: str, target: str, headers: list[str], version: str = "HTTP/1.1"
                  ) -> bytes:
    lines = [f"{method} {target} {version}", *headers, "Connection: close"]
    if method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/x-www-form-urlencoded", "Content-Length: 7"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (
        b"child=1" if method in ("POST", "PUT", "PATCH") else b"")


def classify(answer: bytes) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    code = status[0].decode() if status else "none"
    if b"upstream" in body:
        return "upstream"
    if code == "200" and b"set-cookie: sluis_visitor=" in head.lower():
        return "queue page"
    if code in ("200", "429") and b"cache-control: no-store" in head.lower():
        return "queue page"
    if code in ("400", "414", "431", "none"):
        return f"refused by the HTTP parser ({code})"
    return f"Sluis's own answer ({code})"


def test_raw_http_crawl_reaches_the_upstream_zero_times(redis_url: str, tmp_path: Path,
                                                      figure: Figure) -> None:
    with SocketUpstream().running() as upstream, gateway(
            redis_url, tmp_path, ROOMS, SLUIS_BACKEND=upstream.url) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        before = upstream.connections
        outcomes: dict[str, int] = {}
        sent = 0

        def send(head: bytes) -> None:
            nonlocal sent
            sent += 1
            kind = classify(raw_request(port, head))
            outcomes[kind] = outcomes.get(kind, 0) + 1

        for path in PATHS:
            for method in METHODS:
                for hosts in HOSTS:
                    send(request_bytes(method, path, hosts or [],
                                       "HTTP/1.1" if hosts else "HTTP/1.0"))
        # Absolute-form and authority-form request targets, asterisk-form, odd methods.
        absolute = ["http://other/inschrijven", "http://kampen.example/inschrijven",
                    f"http://127.0.0.1:{port}/_sluis/../inschrijven",
                    f"http://127.0.0.1:{upstream.port}/inschrijven",
                    "https://kampen.example//inschrijven", "http://other/_sluis/../x",
                    "http://user:pw@other/inschrijven", "HTTP://OTHER/INSCHRIJVEN"]
        for target in absolute:
            for method in METHODS:
                for hosts in (["Host: other"], ["Host: kampen.example"]):
                    send(request_bytes(method, target, hosts))
        for method, target in [("CONNECT", f"127.0.0.1:{upstream.port}"),
                               ("CONNECT", "other:443"), ("OPTIONS", "*"),
                               ("get", "/inschrijven"), ("PROPFIND", "/inschrijven"),
                               ("BREW", "/inschrijven"), ("GET", "inschrijven")]:
            send(request_bytes(method, target, ["Host: kampen.example"]))
        reached_during_crawl = upstream.connections - before

        # The control: the upstream does count a request that carries an admission.
        passes = Passes([KEY])
        visitor = new_visitor_id()
        jar = (f"Cookie: sluis_visitor={passes.visitor_cookie(visitor)}; "
               f"sluis_admission={passes.admission.issue('default', visitor, 900)}")
        control = raw_request(port, request_bytes("GET", "/control", ["Host: localhost", jar]))
    figure("raw requests sent", sent)
    figure("outcomes", outcomes)
    figure("reached the upstream", reached_during_crawl)
    assert sent > 2000
    assert reached_during_crawl == 0 and "upstream" not in outcomes
    assert b"upstream" in control and upstream.connections - before == 1
