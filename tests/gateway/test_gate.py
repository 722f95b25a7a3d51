"""The gate through the ASGI app with a real Redis: join → wait → admitted → forwarded."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backends import verify
from gateway.passes import Passes
from gateway.store import Store
from queue_worker.worker import Worker
from tests.conftest import KEYS, make_settings
from tests.helpers import arrive, gateway_client

JSON = {"accept": "application/json"}


def jar_header(jar: dict[str, str]) -> dict[str, bytes]:
    raw = "; ".join(f"{k}={v}" for k, v in jar.items())
    return {"cookie": raw.encode("latin-1")} if jar else {}


class CountingUpstream:
    """An upstream that records every request that reached it."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def any_path(request: Request) -> Response:
            self.hits.append({"method": request.method, "path": request.url.path,
                              "admission": request.headers.get("sluis-admission"),
                              "cookie": request.headers.get("cookie")})
            headers = {"Sluis-Session": "end"} if request.url.path == "/checkout/done" else {}
            return JSONResponse({"reached": "upstream", "path": request.url.path},
                                headers=headers)

        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
        return Starlette(routes=[Route("/{p:path}", any_path, methods=methods)])


async def admit_everyone(store: Store, settings: Any) -> None:
    await store.change_room("default", {"rate_per_minute": "600000", "max_active": "1000"},
                            "test", ("s", "h"))
    worker = Worker(store, settings.rooms, worker_id="test-worker")
    await worker.tick()  # starts the clock
    await asyncio.sleep(0.05)
    await worker.tick()


async def test_a_visitor_waits_is_admitted_and_forwarded(redis_url: str, tmp_path: Path,
                                                         store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0, rate_per_minute=0)
    upstream = CountingUpstream()
    async with gateway_client(settings, upstream.app()) as (_, client):
        page = await client.get("/inschrijven")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert page.headers["cache-control"] == "no-store"
        # The first answer: the cookie, and no place until the browser brings it back.
        assert "Een ogenblik" in page.text and 'data-arriving="1"' in page.text
        assert (await store.view("default")).queued == 0
        cookie = page.cookies["sluis_visitor"]
        assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=Lax" in page.headers[
            "set-cookie"]
        looked = (await client.get("/_sluis/status?room=default")).json()
        assert looked["state"] == "none"  # a status call without join=1 only looks
        assert (await store.view("default")).queued == 0
        status = (await client.get("/_sluis/status?room=default&join=1")).json()  # the page's
        assert status["state"] == "queued" and status["position"] == 1 and status["ahead"] == 0
        again = (await client.get("/_sluis/status?join=1&room=default")).json()
        assert again["position"] == 1 and (await store.view("default")).queued == 1
        page = await client.get("/inschrijven")
        assert "Je bent nummer <strong>1</strong>" in page.text
        assert "set-cookie" not in page.headers
        assert (await store.view("default")).queued == 1
        assert upstream.hits == []

        await admit_everyone(store, settings)
        status = await client.get("/_sluis/status")
        assert status.json()["state"] == "admitted"
        assert "sluis_admission" in status.cookies
        forwarded = await client.post("/inschrijven", content=b"child=1")
        assert forwarded.json() == {"reached": "upstream", "path": "/inschrijven"}
        hit = upstream.hits[-1]
        adm = verify(hit["admission"], KEYS, room="default")
        assert adm is not None and adm.visitor == Passes(KEYS).visitor_from_cookie(cookie)
        assert "sluis_" not in (hit["cookie"] or "")  # the gateway's cookies stay with it


async def test_an_idle_room_lets_a_newcomer_straight_through(redis_url: str,
                                                            tmp_path: Path) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=10)
    upstream = CountingUpstream()
    async with gateway_client(settings, upstream.app()) as (_, client):
        r = await arrive(client, "/kampen")
        assert r.json()["reached"] == "upstream"
        assert {"sluis_visitor", "sluis_admission"} <= set(client.cookies)
        assert "sluis_admission" in r.cookies
        assert len(upstream.hits) == 1


PATH_FORMS = ["/checkout", "//checkout", "/a/../checkout", "/_sluis/../checkout",
              "/_SLUIS/admin/api/rooms", "/%63heckout", "/checkout%2F..%2F", "/./checkout",
              "/_sluis/static/../../checkout", "/CHECKOUT?x=1"]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


async def test_nothing_reaches_the_backend_without_an_admission(redis_url: str,
                                                               tmp_path: Path) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    upstream = CountingUpstream()
    forged = Passes(["another-key-0123456789abcd"])
    async with gateway_client(settings, upstream.app()) as (_, client):
        first = await client.get("/", headers=JSON)
        visitor_cookie = first.cookies["sluis_visitor"]
        client.cookies.clear()
        other = await client.get("/", headers=JSON)
        other_visitor = Passes(KEYS).visitor_from_cookie(other.cookies["sluis_visitor"])
        assert other_visitor
        stolen = Passes(KEYS).admission.issue("default", other_visitor, 900)
        cookie_sets = [
            {},
            {"sluis_visitor": visitor_cookie},
            {"sluis_visitor": visitor_cookie, "sluis_admission": "garbage"},
            {"sluis_visitor": visitor_cookie,
             "sluis_admission": forged.admission.issue("default", "x" * 16, 900)},
            {"sluis_visitor": visitor_cookie, "sluis_admission": stolen},  # someone else's
        ]
        for path in PATH_FORMS:
            for method in METHODS:
                for jar in cookie_sets:
                    client.cookies.clear()
                    r = await client.request(method, path,
                                             headers={"sluis-admission": stolen,
                                                      **jar_header(jar)})
                    assert r.status_code in (200, 404, 405), (method, path, r.status_code)
                    if method != "HEAD":
                        assert b"upstream" not in r.content, (method, path, jar)
    assert upstream.hits == []


async def test_status_without_or_with_a_tampered_cookie_is_none(redis_url: str,
                                                                tmp_path: Path) -> None:
    settings = make_settings(redis_url, tmp_path)
    async with gateway_client(settings) as (_, client):
        for jar in ({}, {"sluis_visitor": "tampered.value"}, {"sluis_visitor": "\x00\xff"}):
            client.cookies.clear()
            r = await client.get("/_sluis/status", headers=jar_header(jar))
            assert r.status_code == 200
            body = r.json()
            assert body["state"] == "none" and body["position"] is None
            assert set(body) >= {"room", "state", "position", "ahead", "queue_length",
                                 "eta_seconds", "eta_low_seconds", "eta_high_seconds",
                                 "opens_at", "poll_after_seconds", "draw", "updated_at"}


async def test_status_json_follows_the_contract(redis_url: str, tmp_path: Path,
                                                store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0, rate_per_minute=60)
    async with gateway_client(settings) as (_, client):
        for _ in range(3):
            client.cookies.clear()
            await arrive(client, "/", headers=JSON)
        client.cookies.clear()
        r = await arrive(client, "/", headers=JSON)  # the fourth in line
        body = r.json()
        assert body["state"] == "queued" and body["position"] == 4 and body["ahead"] == 3
        assert body["queue_length"] == 4
        # With max_active 0 nobody can go in: no honest estimate exists.
        assert body["eta_seconds"] is None and body["eta_high_seconds"] is None
        assert 1 <= body["poll_after_seconds"] <= 60
        assert body["opens_at"] is None and body["draw"] == {"seed_sha256": None, "seed": None}
        assert body["updated_at"].endswith(("+01:00", "+02:00"))
        assert r.headers["cache-control"] == "no-store"


async def test_the_backend_ends_a_session_with_sluis_session_end(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=5)
    upstream = CountingUpstream()
    async with gateway_client(settings, upstream.app()) as (_, client):
        assert (await arrive(client, "/start")).json()["reached"] == "upstream"
        assert (await store.view("default")).active == 1
        done = await client.get("/checkout/done")
        assert "sluis-session" not in done.headers
        assert "sluis_admission=;" in done.headers["set-cookie"]
        assert (await store.view("default")).active == 0


async def test_use_slides_a_session_with_an_idle_limit_forward(redis_url: str, tmp_path: Path,
                                                               store: Store) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=5,
                                                 idle_seconds=60), renew_every_seconds=1)
    async with gateway_client(settings) as (_, client):
        await arrive(client, "/start")
        k_active = store.keys("default").active
        before = (await store.client.zrange(k_active, 0, -1, withscores=True))[0][1]
        await asyncio.sleep(1.1)
        r = await client.get("/next")
        assert "sluis_admission=" in r.headers["set-cookie"]
        after = (await store.client.zrange(k_active, 0, -1, withscores=True))[0][1]
        assert after > before


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
async def test_head_gets_headers_without_a_body(redis_url: str, tmp_path: Path,
                                                accept: str) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    async with gateway_client(settings) as (_, client):
        r = await client.head("/", headers={"accept": accept})
        assert r.status_code == 200 and r.content == b""
        assert int(r.headers["content-length"]) > 0


async def test_readyz_and_livez(redis_url: str, tmp_path: Path) -> None:
    # The test client's address is a public one; metrics answer private networks unless told.
    settings = dataclasses.replace(make_settings(redis_url, tmp_path),
                                   metrics_networks=("0.0.0.0/0",))
    async with gateway_client(settings) as (_, client):
        assert (await client.get("/_sluis/livez")).json() == {"status": "ok"}
        assert (await client.get("/_sluis/readyz")).json()["redis"] == "ok"
        metrics = (await client.get("/_sluis/metrics")).text
        for name in ("sluis_queue_length", "sluis_active_sessions", "sluis_admissions_total",
                     "sluis_admission_rate_per_minute", "sluis_build_info",
                     "sluis_wait_seconds_bucket"):
            assert name in metrics




async def test_sluis_paths_in_any_spelling_are_answered_by_sluis_never_the_gate(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    upstream = CountingUpstream()
    async with gateway_client(settings, upstream.app()) as (_, client):
        await arrive(client, "/", headers=JSON)
        # (httpx resolves dot segments itself; doubled and trailing slashes go as they are.)
        for path in ("/_sluis/status", "/_sluis//status", "/_sluis/status/",
                     "/_sluis///status//"):
            polled = await client.get(path + "?room=default")
            assert polled.json()["position"] == 1, path
        prefs = await client.get("/_sluis/prefs?lang=fr&next=/kampen")
        assert prefs.status_code == 303 and "sluis_lang=fr" in prefs.headers["set-cookie"]
        live = await client.get("/_sluis//livez")
        assert live.json() == {"status": "ok"}
        assert live.headers["x-frame-options"] == "DENY"  # added to Starlette's answer
        missing = await client.get("/_sluis/nothing-here")
        assert missing.status_code == 404 and "content-security-policy" in missing.headers
    assert upstream.hits == []
    assert (await store.view("default")).queued == 1
