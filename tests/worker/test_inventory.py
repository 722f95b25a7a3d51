"""Inventory-aware admission: the worker reads the places left from a shop's availability
URL (a real HTTP server) or the booking engine's database, stops admitting at 0, and
resumes when places come back; against a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import standing
from gateway.inventory import InventoryConfig, places_in
from gateway.roomfile import parse_inventory
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Code, Store
from queue_worker.worker import Worker
from tests.internal.support import START as ENGINE_START
from tests.internal.support import Clock, camp, letters_name, running

ROOM = "default"


class Availability:
    """A shop's availability endpoint whose figure the test sets."""

    def __init__(self) -> None:
        self.document: Any = {"events": [{"remaining": 2}, {"remaining": 1}]}
        self.status = 200
        self.asked = 0
        self.token: str | None = None

    def app(self) -> Starlette:
        async def availability(request: Request) -> Response:
            self.asked += 1
            if self.token and request.headers.get("authorization") != self.token:
                return JSONResponse({"detail": "no token"}, status_code=401)
            return JSONResponse(self.document, status_code=self.status)

        return Starlette(routes=[Route("/api/availability", availability)])


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(1000):  # uvicorn offers no event to wait on
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def tick_until(worker: Worker, done: Any, what: str, bound: float = 20.0) -> None:
    """Tick until `done()` holds; a generous bound only against hanging forever."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not await done():
        assert loop.time() < deadline, f"never: {what}"
        await worker.tick()
        await asyncio.sleep(0.05)


async def test_admission_stops_at_zero_places_and_resumes_when_places_come_back(
        store: Store) -> None:
    shop = Availability()
    async with serving(shop.app()) as base:
        inventory = InventoryConfig(source="url", url=base + "/api/availability",
                                    path=("events", "*", "remaining"), interval_seconds=0.5)
        room = RoomConfig(name=ROOM, initial=LiveSettings(rate_per_minute=600_000,
                                                          max_active=1000),
                          inventory=inventory)
        worker = Worker(store, (room,), worker_id="w1", sample_seconds=60)
        await store.define_room(room, ("s", "h"))

        async def places(n: int | None) -> bool:
            return (await store.view(ROOM)).inventory_remaining == n

        await tick_until(worker, lambda: places(3), "3 places read from the shop")
        shop.document = {"events": [{"remaining": 0}, {"remaining": 0}]}
        await tick_until(worker, lambda: places(0), "sold out read from the shop")
        view = await store.view(ROOM)
        assert view.sold_out
        # People who come now wait, however empty the room: there are no places.
        for v in ("a", "b", "c"):
            snap, place = await store.join(ROOM, v)
            assert place.code == Code.QUEUED
            st = standing.build(ROOM, room.tz, snap, place, inventory=inventory)
            assert st.state is standing.State.SOLD_OUT and st.as_json()["places_left"] == 0
            assert st.position is not None  # the place is kept
        for _ in range(5):
            await worker.tick()
            await asyncio.sleep(0.05)
        assert (await store.view(ROOM)).active == 0
        # A cancellation: one place is back, and admission resumes.
        shop.document = {"events": [{"remaining": 1}, {"remaining": 0}]}

        async def admitted() -> bool:
            return (await store.view(ROOM)).active > 0

        await tick_until(worker, admitted, "admission resumed")
        audit = [e for e in await store.audit(ROOM) if e["actor"] == "inventory"]
        assert [e["changes"][0][1:] for e in audit] == [["true", "false"], ["false", "true"]]
        assert audit[0]["places_left"] == 1 and audit[1]["places_left"] == 0
        await worker.release()
        for t in worker.rooms.values():
            if t.inventory is not None:
                await t.inventory.close()


async def test_a_failing_source_changes_nothing_and_is_asked_again(store: Store) -> None:
    shop = Availability()
    shop.status = 503
    async with serving(shop.app()) as base:
        inventory = InventoryConfig(source="url", url=base + "/api/availability",
                                    path=("events", "*", "remaining"), interval_seconds=0.5)
        room = RoomConfig(name=ROOM, inventory=inventory)
        worker = Worker(store, (room,), worker_id="w1", sample_seconds=60)

        async def asked_twice() -> bool:
            return shop.asked >= 2

        await tick_until(worker, asked_twice, "the source asked again after failing")
        assert (await store.view(ROOM)).inventory_remaining is None
        poller = worker.rooms[ROOM].inventory
        assert poller is not None and poller.failures >= 1
        await poller.close()


async def test_a_shop_api_that_needs_a_token_gets_it(store: Store) -> None:
    shop = Availability()
    shop.token = "Token 0123abc"
    async with serving(shop.app()) as base:
        inventory, reasons = parse_inventory("default", {
            "url": base + "/api/availability", "path": "events.*.remaining",
            "interval_seconds": 0.5, "authorization_env": "SHOP_TOKEN"},
            env={"SHOP_TOKEN": "Token 0123abc"})
        assert reasons == {} and inventory is not None
        worker = Worker(store, (RoomConfig(name=ROOM, inventory=inventory),), worker_id="w1",
                        sample_seconds=60)

        async def read() -> bool:
            return (await store.view(ROOM)).inventory_remaining == 3

        await tick_until(worker, read, "the figure read with the token")
        poller = worker.rooms[ROOM].inventory
        assert poller is not None
        await poller.close()
    _, reasons = parse_inventory("default", {"url": "https://x.example/a", "path": "a",
                                             "authorization_env": "UNSET"}, env={})
    assert "default.inventory.authorization_env" in reasons


async def test_the_booking_engine_is_read_directly(store: Store, tmp_path: Path) -> None:
    from backends.internal.settings import InternalSettings

    url = f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite3"
    settings = InternalSettings(database_url=url, secret_keys=("k" * 24,),
                                require_admission=False, sweep_seconds=3600)
    async with running(settings, Clock(ENGINE_START)) as engine:
        session_ids = await engine.add(camp(capacity=2, sessions=2))
        inventory = InventoryConfig(source="internal", sessions=(session_ids[0],),
                                    interval_seconds=0.5)
        room = RoomConfig(name=ROOM, inventory=inventory)
        worker = Worker(store, (room,), worker_id="w1", sample_seconds=60, database_url=url)

        async def places(n: int) -> bool:
            return (await store.view(ROOM)).inventory_remaining == n

        await tick_until(worker, lambda: places(2), "the session's 2 places")
        for n in range(2):
            r = await engine.client.post("/api/registrations", json={
                "session_id": session_ids[0],
                "child": {"first_name": letters_name(n), "last_name": "Peeters",
                          "birth_date": "2018-05-01"},
                "household": {"email": f"ouder{n}@example.org", "postcode": "9990"}})
            assert r.status_code == 201, r.text
        await tick_until(worker, lambda: places(0), "the session full")
        assert (await store.view(ROOM)).sold_out
        poller = worker.rooms[ROOM].inventory
        assert poller is not None
        await poller.close()


def test_places_are_found_and_added_up_along_a_path() -> None:
    doc = {"data": {"quotas": [{"available_number": 3}, {"available_number": 4}],
                    "first": [{"stock": 7}]}}
    assert places_in(doc, ("data", "quotas", "*", "available_number")) == 7
    assert places_in(doc, ("data", "first", "0", "stock")) == 7
    assert places_in({"available": -2}, ("available",)) == 0
    for bad in ({"available": "many"}, {"other": 1}, {"available": True}):
        try:
            places_in(bad, ("available",))
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")


def test_bad_inventory_settings_are_refused_with_every_reason() -> None:
    config, reasons = parse_inventory("kamp", {"source": "url", "url": "ftp://x",
                                               "interval_seconds": 0, "colour": "red",
                                               "waiting_list_url": "javascript:alert(1)"})
    assert config is None
    assert set(reasons) == {"kamp.inventory.url", "kamp.inventory.path",
                            "kamp.inventory.interval_seconds", "kamp.inventory.colour",
                            "kamp.inventory.waiting_list_url"}
    config, reasons = parse_inventory("kamp", {"source": "marker"})
    assert config is None and "kamp.inventory.marker" in reasons
    config, reasons = parse_inventory("kamp", {"url": "https://shop.example/avail",
                                               "path": "available"})
    assert reasons == {} and config is not None and config.source == "url"
    assert dataclasses.replace(config, interval_seconds=1).hold_ms == 30_000
