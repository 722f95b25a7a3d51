"""Redis down: a calm 503, admitted visitors keep passing, and the queue goes on after."""

from __future__ import annotations

from pathlib import Path

from gateway.store.embedded import EmbeddedRedis
from tests.conftest import make_settings
from tests.helpers import arrive, gateway_client

JSON = {"accept": "application/json"}


async def test_redis_down_then_back(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        settings = make_settings(server.url, tmp_path, max_active=1)
        async with gateway_client(settings) as (_, admitted):
            assert (await arrive(admitted, "/start")).json()["reached"] == "upstream"
            async with gateway_client(settings) as (_, waiting):
                first = await arrive(waiting, "/", headers=JSON)
                assert first.json()["position"] == 1
                visitor_cookie = waiting.cookies["sluis_visitor"]

                server.kill()  # a crash, not a clean stop

                r = await waiting.get("/")
                assert r.status_code == 503 and r.headers["retry-after"] == "5"
                assert "Houd deze pagina open" in r.text
                assert r.headers["cache-control"] == "no-store"
                j = await waiting.get("/", headers=JSON)
                assert j.status_code == 503 and j.json()["keep_page_open"] is True
                s = await waiting.get("/_sluis/status")
                assert s.status_code == 503 and s.json()["error"] == "unavailable"
                assert (await waiting.get("/_sluis/readyz")).status_code == 503
                # The admitted visitor's token needs no Redis.
                assert (await admitted.get("/more")).json()["reached"] == "upstream"
                # A newcomer gets the cookie (no Redis needed), then the calm 503.
                waiting.cookies.clear()
                newcomer = await waiting.get("/")
                assert newcomer.status_code == 200 and "sluis_visitor" in newcomer.cookies
                assert (await waiting.get("/")).status_code == 503

                server.start()  # from its AOF
                assert (await waiting.get("/_sluis/readyz")).status_code == 200
                waiting.cookies.clear()
                waiting.cookies.set("sluis_visitor", visitor_cookie)
                back = await waiting.get("/_sluis/status")
                assert back.status_code == 200 and back.json()["position"] == 1
    finally:
        server.stop()


async def test_sequence_numbers_are_never_reissued_after_a_restart_from_the_aof(
        tmp_path: Path) -> None:
    import redis.asyncio as aioredis

    from gateway import lottery
    from gateway.rooms import LiveSettings, RoomConfig
    from gateway.store import Store
    from gateway.store.connect import client_from_url

    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        store = Store(client_from_url(server.url))
        await store.define_room(RoomConfig(name="default", initial=LiveSettings(max_active=0)),
                                lottery.new_seed())
        for i in range(100):
            await store.join("default", f"visitor-{i:08d}")
        k = store.keys("default")
        issued = {int(s) for _, s in await store.client.zrange(k.queue, 0, -1, withscores=True)}
        # The worst an AOF that lost its last second can do: forget the last number issued.
        await store.client.delete(k.state)
        server.kill()
        server.start()
        for i in range(100, 200):
            await store.join("default", f"visitor-{i:08d}")
        raw = aioredis.Redis.from_url(server.url)
        after = [int(s) for _, s in await raw.zrange(k.queue, 0, -1, withscores=True)]
        await raw.aclose()
        await store.close()
        fresh = after[100:]
        assert len(fresh) == 100 and not issued & set(fresh)
        assert min(fresh) > max(issued)
    finally:
        server.stop()


async def test_a_session_end_that_finds_redis_away_is_applied_when_it_returns(
        tmp_path: Path) -> None:
    import asyncio

    from gateway.store import Store
    from gateway.store.connect import client_from_url

    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        settings = make_settings(server.url, tmp_path, max_active=1)
        async with gateway_client(settings) as (_, client):
            assert (await arrive(client, "/start")).json()["reached"] == "upstream"
            server.kill()
            done = await client.get("/checkout/done")  # the backend says Sluis-Session: end
            assert done.status_code == 200 and "sluis_admission=;" in done.headers["set-cookie"]
            server.start()
            store = Store(client_from_url(server.url))
            try:
                active = (await store.view("default")).active
                for _ in range(50):  # retried every second until Redis answers
                    if active == 0:
                        break
                    await asyncio.sleep(0.1)
                    active = (await store.view("default")).active
                assert active == 0  # the slot went back to the line
            finally:
                await store.close()
    finally:
        server.stop()
