"""Several rooms on one gateway (path prefix, host), bypass rules, passthrough, queue-all,
and a scheduled closing; rooms chosen on one spelling of the Host and of the path."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from backends.inprocess import InProcessBackend
from gateway.app import create_app
from gateway.roomfile import load_rooms
from gateway.rooms import LiveSettings, RoomConfig, RoomSettingsError
from gateway.routing import AMBIGUOUS_PATH, BAD_HOST, UNKNOWN_HOST, Refusal, Rooms
from gateway.settings import Settings
from gateway.types import Scope
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import arrive, gateway_client, running, upstream_app

JSON = {"accept": "application/json"}
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "operator-secret-0123456789"

ROOMS_TOML = f"""
[rooms.algemeen]
title = "Stad"
hosts = ["*"]                 # every host that no other room names
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
    # The test client's address is a public one; metrics answer private networks unless told.
    settings = dataclasses.replace(settings_for(redis_url, tmp_path),
                                   metrics_networks=("0.0.0.0/0",))
    async with gateway_client(settings) as (_, client):
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


def test_routing_keys_are_read_in_the_one_spelling_they_are_compared_in(tmp_path: Path) -> None:
    path = tmp_path / "rooms.toml"
    path.write_text('[rooms.a]\npaths = ["/Kampen/", "/caf\u00e9"]\n'
                    'hosts = ["Kampen.Stad.BE.", "*.Stad.be", "*"]\n'
                    '[rooms.b]\npaths = ["/Kampen"]\ncase_sensitive_paths = true\n',
                    encoding="utf-8")
    a, b = load_rooms(str(path))
    assert a.route.paths == ("/kampen", "/caf\u00e9") and not a.route.case_sensitive_paths
    assert a.route.hosts == ("kampen.stad.be", "*.stad.be", "*")
    assert b.route.paths == ("/Kampen",) and b.route.case_sensitive_paths
    for bad in ("/kampen%2f", "/kampen.", "/a;b", "/a\\\\b", "/a/../b", "/a//b", "/_SLUIS/x",
                "/a b "):
        path.write_text(f'[rooms.a]\npaths = ["{bad}"]\n', encoding="utf-8")
        try:
            load_rooms(str(path))
        except RoomSettingsError as exc:
            assert set(exc.reasons) == {"a.paths"}, bad
        else:
            raise AssertionError(f"{bad!r} was accepted as a path")
    for bad in ("kampen.stad.be:8000", "a..b", "*kampen.be", "[::1]"):
        path.write_text(f'[rooms.a]\nhosts = ["{bad}"]\n', encoding="utf-8")
        try:
            load_rooms(str(path))
        except RoomSettingsError as exc:
            assert set(exc.reasons) == {"a.hosts"}, bad
        else:
            raise AssertionError(f"{bad!r} was accepted as a host")


SHARED_TOML = """
[rooms.algemeen]

[rooms.kampen]
paths = ["/kampen"]
hosts = ["kampen.stad.be"]

[rooms.info]
hosts = ["info.stad.be", "*.info.stad.be"]
mode = "passthrough"

[rooms.zwembad]
hosts = ["zwembad.be"]
upstream = "http://zwembad.internal:8080"
"""


def scope_for(path: bytes, host: bytes | None, scheme: str = "http") -> Scope:
    headers = [] if host is None else [(b"host", host)]
    return {"type": "http", "method": "GET", "scheme": scheme, "headers": headers,
            "path": path.decode("latin-1"), "raw_path": path}


def room_or_refusal(rooms: Rooms, path: bytes, host: bytes | None) -> str | Refusal:
    chosen = rooms.for_scope(scope_for(path, host))
    return chosen if isinstance(chosen, Refusal) else chosen.name


def test_rooms_by_host_take_known_hosts_only_and_guard_each_others_paths(
        tmp_path: Path) -> None:
    path = tmp_path / "rooms.toml"
    path.write_text(SHARED_TOML, encoding="utf-8")
    rooms = Rooms(load_rooms(str(path)), "http://site.internal")

    def room(p: bytes, host: bytes | None = b"kampen.stad.be") -> str | Refusal:
        return room_or_refusal(rooms, p, host)

    assert room(b"/kampen/boek") == "kampen"
    assert room(b"/over") == "algemeen"  # a known host, a path nobody claims
    for host in (b"KAMPEN.stad.BE.", b"kampen.stad.be:80", b"kampen.stad.be.:8000"):
        assert room(b"/kampen/boek", host) == "kampen", host
    for host in (b"127.0.0.1:8000", b"localhost", b"stad.be", b"", None, b"[::1]"):
        assert room(b"/kampen/boek", host) is UNKNOWN_HOST, host
        assert room(b"/over", host) is UNKNOWN_HOST, host
    for host in (b"kampen.stad.be..", b"kampen.stad.be%2e", b"a b", b"kampen:x", b"[::1"):
        assert room(b"/kampen/boek", host) is BAD_HOST, host
    # Passthrough on its own host, but kampen's paths on the upstream they share stay
    # kampen's, whatever the Host says. The swimming pool's own site is another upstream.
    assert room(b"/over-ons", b"info.stad.be") == "info"
    assert room(b"/over-ons", b"nieuws.info.stad.be") == "info"
    assert room(b"/kampen/boek", b"info.stad.be") == "kampen"
    assert room(b"/KAMPEN;x=1/boek", b"Info.Stad.Be.") is AMBIGUOUS_PATH
    assert room(b"/kampen/boek", b"zwembad.be") == "zwembad"


def test_a_path_names_one_room_in_every_reading_or_none(tmp_path: Path) -> None:
    path = tmp_path / "rooms.toml"
    path.write_text('[rooms.algemeen]\n[rooms.kampen]\npaths = ["/kampen"]\n'
                    '[rooms.zwemmen]\npaths = ["/zwemmen"]\ncase_sensitive_paths = true\n',
                    encoding="utf-8")
    rooms = Rooms(load_rooms(str(path)))

    def room(p: bytes) -> str | Refusal:
        return room_or_refusal(rooms, p, b"any.host")  # no room by host: any Host will do

    for p in (b"/kampen", b"/Kampen/boek", b"/kampen/./boek", b"//kampen", b"/x/../kampen",
              b"/%6bampen/b", b"/kampen/boek;x=1", b"/kampen/a%20b", b"/kampen/a%2fb",
              b"/kampen/.well-known", b"/kampen?x=/y"):
        assert room(p) == "kampen", p
    for p in (b"/", b"/over", b"/over;x=1", b"/kampenx", b"/x/kampen", b"/over/a%2fb",
              b"/Zwemmen/bad"):
        assert room(p) == "algemeen", p
    assert room(b"/zwemmen/bad") == "zwemmen"
    for p in (b"/kampen;x/boek", b"/kampen%00/", b"/kampen./", b"/kampen%20/",
              b"/kampen\\boek", b"/kampen%5cboek", b"/kampen%252fboek", b"/kampen%2fboek",
              b"/x/..;/kampen", b"/kampen/..%2f", b"/kampen/%2e%2e/zwemmen",
              b"/zwemmen/..%2fkampen", b"/kampen::$DATA", b"/%u006bampen"):
        assert room(p) is AMBIGUOUS_PATH, p


def test_one_room_takes_every_request_as_before() -> None:
    rooms = Rooms([RoomConfig(name="default")])
    for p, host in ((b"/kampen%00/", b"evil"), (b"/x", None), (b"/a\\b", b"a b")):
        assert room_or_refusal(rooms, p, host) == "default"
