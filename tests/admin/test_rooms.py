"""Several rooms on one gateway (path prefix, host), bypass rules, passthrough, queue-all,
and a scheduled closing."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from backends.inprocess import InProcessBackend
from gateway.app import create_app
from gateway.rooms import LiveSettings, RoomConfig, RoomSettingsError, load_rooms
from gateway.settings import Settings
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import arrive, gateway_client, running, upstream_app

JSON = {"accept": "application/json"}
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "operator-secret-0123456789"

ROOMS_TOML = f"""
[rooms.algemeen]
title = "Stad"
max_active = 0

[rooms.kampen]
title = "Zomerkampen"
paths = ["/kampen"]
max_active = 0

[rooms.zwemmen]
title = "Zwemmen"
hosts = ["zwemmen.stad.be"]
max_active = 0
bypass_networks = ["198.51.100.0/24"]
bypass_header = "X-Sluis-Bypass"
bypass_secret = "{SECRET}"

[rooms.zwemmen-kampen]
hosts = ["zwemmen.stad.be"]
paths = ["/kampen"]
max_active = 0

[rooms.open]
paths = ["/open"]
mode = "passthrough"
max_active = 0

[rooms.streng]
paths = ["/streng"]
mode = "queue_all"
"""


def settings_for(redis_url: str, tmp: Path) -> Settings:
    path = tmp / "rooms.toml"
    path.write_text(ROOMS_TOML, encoding="utf-8")
    return dataclasses.replace(make_settings(redis_url, tmp), rooms=load_rooms(str(path)))


async def test_rooms_by_path_prefix_and_by_host(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(settings_for(redis_url, tmp_path)) as (_, client):
        async def room_of(path: str, host: str = "sluis.test") -> str:
            client.cookies.clear()
            r = await arrive(client, path, headers={**JSON, "host": host})
            assert r.status_code == 200, (path, host, r.text)
            return str(r.json()["room"])

        assert await room_of("/") == "algemeen"
        assert await room_of("/kampen") == "kampen"
        assert await room_of("/kampen/week-2?x=1") == "kampen"
        assert await room_of("/kampenx") == "algemeen"  # a prefix is a whole segment
        assert await room_of("/./kampen//week") == "kampen"
        assert await room_of("/", "zwemmen.stad.be") == "zwemmen"
        assert await room_of("/", "ZWEMMEN.stad.be:443") == "zwemmen"
        assert await room_of("/kampen/1", "zwemmen.stad.be") == "zwemmen-kampen"
        rooms = (await client.get("/_sluis/admin/api/rooms", headers=AUTH)).json()["rooms"]
        by_name = {r["room"]: r for r in rooms}
        assert by_name["kampen"]["queued"] == 3 and by_name["algemeen"]["queued"] == 2
        assert by_name["zwemmen"]["hosts"] == ["zwemmen.stad.be"]


async def test_bypass_by_address_or_header_secret_passes_without_a_place(
        redis_url: str, tmp_path: Path) -> None:
    swim = {"host": "zwemmen.stad.be"}
    async with gateway_client(settings_for(redis_url, tmp_path)) as (_, client):
        r = await client.get("/", headers={**swim, "x-sluis-bypass": SECRET})
        assert r.json()["reached"] == "upstream" and r.json()["admission"]
        r = await arrive(client, "/", headers={**swim, "x-sluis-bypass": "wrong-secret-000000000"})
        assert "upstream" not in r.text and "sluis_visitor" in client.cookies
        # The bypass header of one room opens no other.
        client.cookies.clear()
        r = await arrive(client, "/kampen", headers={"x-sluis-bypass": SECRET, **JSON})
        assert r.json()["state"] == "queued"
        room = (await client.get("/_sluis/admin/api/rooms/zwemmen", headers=AUTH)).json()
        assert room["queued"] == 1 and room["active"] == 0
    # From an operator's network, no header needed.
    app = create_app(settings_for(redis_url, tmp_path), backend=InProcessBackend(upstream_app()))
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://sluis.test") as c:
            r = await c.get("/", headers=swim)
            assert r.json()["reached"] == "upstream"


async def test_passthrough_counts_and_queues_nobody(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(settings_for(redis_url, tmp_path)) as (_, client):
        for _ in range(5):
            client.cookies.clear()
            r = await client.get("/open/x")
            assert r.json()["reached"] == "upstream" and r.json()["admission"]
        room = (await client.get("/_sluis/admin/api/rooms/open", headers=AUTH)).json()
        assert room["mode"] == "passthrough" and room["queued"] == 0
        metrics = (await client.get("/_sluis/metrics")).text
        assert 'sluis_joins_total{result="passthrough",room="open"} 5.0' in metrics


async def test_queue_all_queues_even_in_an_idle_room(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(settings_for(redis_url, tmp_path)) as (_, client):
        r = await arrive(client, "/streng", headers=JSON)
        assert r.json()["state"] == "queued" and r.json()["position"] == 1
        room = (await client.get("/_sluis/admin/api/rooms/streng", headers=AUTH)).json()
        assert room["active"] == 0 and room["max_active"] == 100  # room to spare, still queued


async def test_after_a_scheduled_closing_nobody_new_joins(redis_url: str, tmp_path: Path) -> None:
    initial = LiveSettings(max_active=0)
    settings = dataclasses.replace(make_settings(redis_url, tmp_path),
                                   rooms=(RoomConfig(name="default", initial=initial),))
    async with gateway_client(settings) as (_, client):
        first = await arrive(client, "/", headers=JSON)
        assert first.json()["state"] == "queued"
        closes = datetime.fromtimestamp(time.time() + 1.0, UTC).isoformat()
        r = await client.patch("/_sluis/admin/api/rooms/default", headers=AUTH,
                               json={"closes_at": closes})
        assert r.status_code == 200 and r.json()["state"] == "open"
        await asyncio.sleep(1.3)
        kept = await client.get("/", headers=JSON)  # already in line: keeps the place
        assert kept.json()["state"] == "queued" and kept.json()["position"] == 1
        client.cookies.clear()
        late = await arrive(client, "/", headers=JSON)
        assert late.json()["state"] == "closed" and late.json()["position"] is None
        room = (await client.get("/_sluis/admin/api/rooms/default", headers=AUTH)).json()
        assert room["state"] == "closed" and room["queued"] == 1 and room["joined_total"] == 1


def test_bad_routing_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "rooms.toml"
    path.write_text('[rooms.a]\npaths = ["kampen"]\nmode = "fast"\nhosts = ["a b"]\n'
                    'bypass_networks = ["10.0.0.0/33"]\nbypass_header = "X-B"\n',
                    encoding="utf-8")
    try:
        load_rooms(str(path))
    except RoomSettingsError as exc:
        assert {"a.paths", "a.mode", "a.hosts", "a.bypass_networks",
                "a.bypass_header"} <= set(exc.reasons)
    else:
        raise AssertionError("bad routing keys were accepted")
