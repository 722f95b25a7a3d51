"""Bad input everywhere: oversized headers and cookies, malformed JSON to the admin API,
unicode and control characters, huge query strings. A clear 4xx (or the queue page),
never a 500, and nothing lost. Properties with Hypothesis; schemathesis against the
admin API's own OpenAPI document on a real gateway process."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.backends.support import gateway
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import gateway_client
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON

BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}
NASTY = ["\u00e9\u00e8\u20ac\U0001f600", "\x00\x01\x7f", "\r\n", "%00%ff%c0%af", "\u202e",
         "../../etc/passwd", "<script>alert(1)</script>", "\ud800".encode(
             "utf-8", "surrogatepass").decode("latin-1"), "x" * 8000]


async def test_nasty_requests_get_a_clear_answer_and_never_a_500(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    codes: dict[int, int] = {}
    async with gateway_client(settings) as (_, client):
        first = await client.get("/", headers=JSON)
        mine = first.cookies["sluis_visitor"]

        async def ask(method: str, path: str, **kw: Any) -> httpx.Response:
            client.cookies.clear()
            client.cookies.set("sluis_visitor", mine)
            r = await client.request(method, path, **kw)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            assert r.status_code < 500, (method, path, r.status_code)
            return r

        for text in NASTY:
            raw = text.encode("utf-8", "surrogatepass")
            await ask("GET", "/inschrijven", params={"q": text})
            await ask("GET", "/" + quote(text, safe="/%"))
            await ask("GET", "/_sluis/status", params={"room": text})
            await ask("GET", "/", headers={"accept-language": raw, "accept": raw,
                                           "user-agent": raw, "x-forwarded-for": raw})
            await ask("GET", "/", headers={"cookie": b"sluis_lang=" + raw + b"; a=" + raw})
            await ask("POST", "/_sluis/prefs", content=b"lang=" + raw,
                      headers={"content-type": "application/x-www-form-urlencoded"})
            await ask("GET", "/_sluis/draw", params={"room": text})
        # A 60 KB query string and a 64 KB cookie header (ASGI has no size limit: the
        # gate itself must cope) - and the visitor's place is still there afterwards.
        await ask("GET", "/inschrijven?" + "a=" + "b" * 60_000)
        await ask("GET", "/", headers={"cookie": "sluis_visitor=" + mine + "; junk=" +
                                       "z" * 65_536})
        await ask("GET", "/", headers={"cookie": "; ".join(f"c{i}=v" for i in range(5000))})
        await ask("GET", "/_sluis/status", headers={"cookie": "sluis_visitor=" + "A" * 100_000})
        after = await ask("GET", "/_sluis/status")
        assert after.json()["position"] == 1
        # Malformed bodies to the admin API: 4xx with a reason, nothing written.
        bodies: list[bytes] = [b"", b"{", b"[]", b"null", b'{"max_active": "many"}',
                               b'{"max_active": 1e309}', b'{"max_active": -1}',
                               b'{"max_active": 99999999999999999999999}', b'{"nope": 1}',
                               b'{"opens_at": "tomorrow"}', b'{"paused": "yes"}',
                               b'\xff\xfe\x00', b'{"max_active": 5,}', b"{}", b"1" * 70_000,
                               b'{"max_active": 5, "max_active": "x"}',
                               b'{"opens_at": "2027-03-01T09:00:00"}']
        for body in bodies:
            r = await ask("PATCH", "/_sluis/admin/api/rooms/default", content=body,
                          headers={**BEARER, "content-type": "application/json"})
            assert 400 <= r.status_code < 500 and "error" in r.json(), body
        await ask("PATCH", "/_sluis/admin/api/rooms/default", content=b'{"max_active": 1}',
                  headers={**BEARER, "content-type": "text/plain"})
        await ask("PATCH", "/_sluis/admin/api/rooms/%00", json={"max_active": 1},
                  headers=BEARER)
        await ask("GET", "/_sluis/admin/api/audit", params={"limit": "1e9"}, headers=BEARER)
        await ask("GET", "/_sluis/admin/api/rooms/default/series", params={"minutes": "-5"},
                  headers=BEARER)
        room = (await ask("GET", "/_sluis/admin/api/rooms/default", headers=BEARER)).json()
        # Requests that carried no visitor cookie of their own took places of their own.
        assert room["max_active"] == 0 and room["queued"] >= 1
    figure("answers by status", dict(sorted(codes.items())))
    assert not [c for c in codes if c >= 500]


def test_oversized_headers_on_a_real_gateway_are_refused_with_a_4xx(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    rooms = '[rooms.default]\ntitle = "Zomerkampen"\nmax_active = 0\n'
    seen: dict[str, str] = {}
    with gateway(redis_url, tmp_path, rooms) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        cases = {
            "cookie of 128 KB": b"Cookie: sluis_visitor=" + b"a" * 131_072 + b"\r\n",
            "4,000 headers": b"".join(b"X-H%d: v\r\n" % i for i in range(4000)),
            "header with a NUL": b"X-Bad: a\x00b\r\n",
            "query of 1 MB": b"",
            "line of 1 MB": b"X-Long: " + b"l" * 1_048_576 + b"\r\n",
        }
        target = b"/inschrijven?q=" + b"q" * 1_048_576
        for name, extra in cases.items():
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                try:
                    s.sendall(b"GET " + (target if name == "query of 1 MB" else b"/inschrijven")
                              + b" HTTP/1.1\r\nHost: x\r\n" + extra +
                              b"Connection: close\r\n\r\n")
                    answer = s.recv(200)
                except (ConnectionResetError, BrokenPipeError):
                    answer = b"closed"
            status = answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/") else "closed"
            seen[name] = status
        # The gateway is still answering afterwards.
        assert httpx.get(url + "/_sluis/livez").status_code == 200
    figure("answers", seen)
    assert all(s == "closed" or s.startswith("4") for s in seen.values()), seen


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10)
FIELDS = st.sampled_from(["rate_per_minute", "max_active", "session_seconds", "grace_seconds",
                          "paused", "closed", "opens_at", "closes_at", "unknown"])


async def test_property_any_json_patch_is_applied_whole_or_refused_with_a_reason(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    outcomes: dict[int, int] = {}
    live = ("rate_per_minute", "max_active", "session_seconds", "paused", "opens_at",
            "closes_at", "closed")
    async with gateway_client(make_settings(redis_url, tmp_path, max_active=3)) as (_, client):
        loop = asyncio.get_running_loop()

        def run(coro: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

        @settings(max_examples=150)
        @given(body=st.one_of(st.dictionaries(FIELDS, JSONISH, max_size=3), JSONISH))
        def patch_anything(body: object) -> None:
            path = "/_sluis/admin/api/rooms/default"
            before = run(client.get(path, headers=BEARER)).json()
            r = run(client.patch(path, content=json.dumps(body).encode(),
                                 headers={**BEARER, "content-type": "application/json"}))
            outcomes[r.status_code] = outcomes.get(r.status_code, 0) + 1
            assert r.status_code in (200, 422), (body, r.status_code, r.text)
            after = run(client.get(path, headers=BEARER)).json()
            if r.status_code == 422:
                assert r.json()["reasons"]
                assert {k: after[k] for k in live} == {k: before[k] for k in live}
            else:
                assert isinstance(body, dict)
                for k, v in body.items():
                    if k in ("rate_per_minute", "max_active", "session_seconds", "paused",
                             "closed"):
                        assert after[k] == v

        await asyncio.to_thread(patch_anything)
    figure("admin PATCH answers by status", outcomes)


def test_schemathesis_finds_no_server_error_in_the_admin_api(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    rooms = '[rooms.default]\ntitle = "Zomerkampen"\nmax_active = 0\n'
    calls = 0
    with gateway(redis_url, tmp_path, rooms,
                 SLUIS_ADMIN_TOKEN=ADMIN_TOKEN) as (url, _):
        schema = schemathesis.openapi.from_url(url + "/_sluis/admin/api/openapi.json",
                                               headers=BEARER)
        operations = [op.ok() for op in schema.get_all_operations()]
        for op in operations:

            @settings(max_examples=25)
            @given(case=op.as_strategy())
            def call(case: Any) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(base_url=url, headers=BEARER, checks=[
                    not_a_server_error, status_code_conformance, content_type_conformance])

            call()
    figure("operations", len(operations))
    figure("generated calls, no failure", calls)
    assert len(operations) >= 6
