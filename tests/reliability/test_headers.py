"""Headers and cookies on every kind of answer: Secure over HTTPS (directly, or as a
trusted balancer reports it), HttpOnly and SameSite always, CSP on pages, no-store on
the queue and the status; CSRF on the dashboard's forms; every admin change audited."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from gateway.app import SluisApp
from gateway.settings import Settings
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import arrive, gateway_client
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON

BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@asynccontextmanager
async def clients(settings: Settings) -> AsyncIterator[tuple[SluisApp, list[httpx.AsyncClient]]]:
    """The same app reached over HTTPS directly, and over HTTP from a trusted balancer
    that terminated TLS and says so in X-Forwarded-Proto."""
    async with gateway_client(settings) as (app, _):
        direct = httpx.AsyncClient(transport=httpx.ASGITransport(
            app=app, client=("203.0.113.7", 5000)), base_url="https://sluis.test")
        balanced = httpx.AsyncClient(transport=httpx.ASGITransport(
            app=app, client=("10.0.0.2", 5000)), base_url="http://sluis.test",
            headers={"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.8"})
        async with direct, balanced:
            yield app, [direct, balanced]


def audit_cookies(r: httpx.Response, problems: list[str], where: str) -> int:
    n = 0
    for raw in r.headers.get_list("set-cookie"):
        n += 1
        flags = {p.strip().split("=")[0].lower() for p in raw.split(";")[1:]}
        for needed in ("secure", "httponly", "samesite"):
            if needed not in flags:
                problems.append(f"{where}: {raw.split('=')[0]} lacks {needed}")
    return n


async def test_every_answer_carries_its_security_headers_and_cookie_flags(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=1),
                                   trusted_proxies=("10.0.0.0/8",),
                                   joins_per_ip_per_minute=3)
    problems: list[str] = []
    answers = cookies_seen = 0
    async with clients(settings) as (_, both):
        for c in both:
            where = "direct" if c.base_url.scheme == "https" else "balancer"
            c.cookies.clear()
            checks: list[tuple[str, httpx.Response, set[str]]] = []
            checks.append(("arrival page", await c.get("/inschrijven"),
                           {"csp", "no-store", "hsts"}))
            passed = await c.get("/inschrijven")  # idle: straight through, both cookies
            checks.append(("forwarded", passed, set()))
            c.cookies.clear()
            checks.append(("queue page", await arrive(c, "/inschrijven"),
                           {"csp", "no-store", "hsts"}))
            checks.append(("queue json", await c.get("/inschrijven", headers=JSON),
                           {"no-store", "hsts"}))
            checks.append(("status", await c.get("/_sluis/status"), {"no-store", "hsts"}))
            for _ in range(3):
                c.cookies.clear()
                last = await arrive(c, "/x")
            checks.append(("limited", last, {"no-store", "csp", "hsts"}))
            checks.append(("livez", await c.get("/_sluis/livez"), {"hsts"}))
            checks.append(("static", await c.get("/_sluis/static/sluis.css"), {"hsts"}))
            checks.append(("dashboard login", await c.get("/_sluis/admin/"),
                           {"csp", "no-store", "hsts"}))
            checks.append(("admin api", await c.get("/_sluis/admin/api/rooms", headers=BEARER),
                           {"hsts"}))
            checks.append(("prefs", await c.post("/_sluis/prefs", data={"lang": "fr"}),
                           {"hsts"}))
            for name, r, wanted in checks:
                answers += 1
                cookies_seen += audit_cookies(r, problems, f"{where} {name}")
                h = r.headers
                if name == "forwarded":
                    continue  # the backend's own answer: only Sluis's cookies are Sluis's
                if "x-content-type-options" not in h:
                    problems.append(f"{where} {name}: no nosniff")
                if "csp" in wanted and "frame-ancestors 'none'" not in h.get(
                        "content-security-policy", ""):
                    problems.append(f"{where} {name}: no CSP")
                if "no-store" in wanted and "no-store" not in h.get("cache-control", ""):
                    problems.append(f"{where} {name}: no no-store")
                if "hsts" in wanted and "strict-transport-security" not in h:
                    problems.append(f"{where} {name}: no HSTS")
    figure("answers audited", answers)
    figure("cookies audited", cookies_seen)
    figure("problems", problems or 0)
    assert cookies_seen >= 8 and problems == []


async def test_an_untrusted_peer_cannot_claim_https_and_plain_http_stays_plain(
        redis_url: str, tmp_path: Path) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=0),
                                   trusted_proxies=("10.0.0.0/8",))
    async with gateway_client(settings) as (_, client):
        r = await client.get("/", headers={"x-forwarded-proto": "https"})
        assert "Secure" not in r.headers["set-cookie"]
        assert "HttpOnly" in r.headers["set-cookie"]
        assert "strict-transport-security" not in r.headers


async def test_dashboard_forms_need_their_csrf_token_and_every_change_is_audited(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=7)
    async with gateway_client(settings) as (_, client):
        page = await client.get("/_sluis/admin/")
        nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
        assert nonce
        # The sign-in form itself is guarded: a form posted from elsewhere is refused.
        foreign = httpx.AsyncClient(transport=client._transport, base_url="http://sluis.test")
        async with foreign:
            r = await foreign.post("/_sluis/admin/login", data={
                "nonce": nonce.group(1), "token": ADMIN_TOKEN, "name": "Mallory"})
            assert r.status_code == 403
        r = await client.post("/_sluis/admin/login", data={
            "nonce": nonce.group(1), "token": ADMIN_TOKEN, "name": "An Peeters"})
        assert r.status_code == 303
        home = await client.get("/_sluis/admin/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
        assert csrf
        form = {"action": "settings", "max_active": "9", "confirm": "1"}
        refused = [
            await client.post("/_sluis/admin/rooms/default", data=form),
            await client.post("/_sluis/admin/rooms/default", data={**form, "csrf": "x" * 32}),
            await client.patch("/_sluis/admin/api/rooms/default", json={"max_active": 9}),
            await client.post("/_sluis/admin/api/rooms/default/drain"),
        ]
        assert [r.status_code for r in refused] == [403, 403, 403, 403]
        room = await client.get("/_sluis/admin/api/rooms/default")
        assert room.json()["max_active"] == 7  # nothing was changed

        ok = await client.post("/_sluis/admin/rooms/default", data={**form,
                                                                     "csrf": csrf.group(1)})
        assert ok.status_code == 303
        ok2 = await client.patch("/_sluis/admin/api/rooms/default", json={"paused": True},
                                 headers={"x-csrf-token": csrf.group(1)})
        assert ok2.status_code == 200
        client.cookies.clear()
        api = await client.patch("/_sluis/admin/api/rooms/default",
                                 json={"rate_per_minute": 77},
                                 headers={**BEARER, "x-sluis-actor": "Jan"})
        drained = await client.post("/_sluis/admin/api/rooms/default/drain", headers=BEARER)
        bad = await client.patch("/_sluis/admin/api/rooms/default",
                                 json={"rate_per_minute": -1}, headers=BEARER)
        assert api.status_code == 200 and drained.status_code == 200 and bad.status_code == 422
        entries = (await client.get("/_sluis/admin/api/audit", headers=BEARER)).json()[
            "entries"]
    text = [str(e) for e in entries]
    changes = {"max_active by An Peeters": any("max_active" in t and "An Peeters" in t
                                               for t in text),
               "paused by An Peeters": any("paused" in t and "An Peeters" in t for t in text),
               "rate by Jan": any("rate_per_minute" in t and "Jan" in t for t in text),
               "drain": any("drain" in t for t in text)}
    figure("forged or token-less changes refused", "4/4")
    figure("changes audited", f"{sum(changes.values())}/{len(changes)}")
    assert all(changes.values()), (changes, entries)
    # A refused change leaves no trace as a change.
    assert not any(str(ch[2]) == "-1" for e in entries for ch in e.get("changes") or [])
