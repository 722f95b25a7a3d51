"""Sessions that end without the shop's help: end_on paths and markers, the idle limit,
the longest session, and a shop's sold-out text; against a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.inventory import InventoryConfig
from gateway.rooms import LiveSettings, RoomConfig
from gateway.session_end import EndRules, Scanner
from gateway.store import Store
from tests.conftest import make_settings
from tests.helpers import arrive, gateway_client

THANKS = "Thank you for your order"
SOLD_OUT = "This event is sold out"


def shop() -> Starlette:
    """A shop that never says `Sluis-Session: end`: a confirmation page after an order,
    and a sold-out page."""

    async def page(request: Request) -> Response:
        return HTMLResponse(f"<h1>{request.url.path}</h1>")

    async def order(request: Request) -> Response:
        return RedirectResponse("/orders/17/done", status_code=303)

    async def done(request: Request) -> Response:
        # Long enough to arrive in pieces, with the marker across no fixed boundary.
        return HTMLResponse("<p>" + "x" * 70_000 + f"</p><h1>{THANKS}</h1>")

    async def sold_out(request: Request) -> Response:
        return HTMLResponse(f"<p>{SOLD_OUT}</p>")

    return Starlette(routes=[
        Route("/order", order, methods=["POST"]),
        Route("/orders/{n}/done", done),
        Route("/sold-out", sold_out),
        Route("/{p:path}", page),
    ])


def room(**kw: object) -> RoomConfig:
    return RoomConfig(name="default", initial=LiveSettings(max_active=5), **kw)  # type: ignore[arg-type]


async def test_an_end_on_path_ends_the_session_after_showing_the_page(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = dataclasses.replace(
        make_settings(redis_url, tmp_path),
        rooms=(room(end_on=EndRules.of(("/orders/*/done",), ())),))
    async with gateway_client(settings, shop()) as (_, client):
        assert (await arrive(client, "/start")).status_code == 200
        assert (await store.view("default")).active == 1
        r = await client.post("/order")
        assert r.status_code == 303
        done = await client.get(r.headers["location"])
        assert done.status_code == 200 and THANKS in done.text  # shown in full
        assert "sluis_admission=;" in done.headers["set-cookie"]
        view = await store.view("default")
        assert view.active == 0 and view.counters["ended_total"] == 1
        assert view.counters["sessions_measured_total"] == 1


async def test_an_end_on_marker_ends_the_session_and_the_old_cookie_stops_passing(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path),
                                   rooms=(room(end_on=EndRules.of((), (THANKS,))),))
    async with gateway_client(settings, shop()) as (_, client):
        await arrive(client, "/start")
        old = dict(client.cookies)
        done = await client.get("/orders/3/done")
        assert done.text.endswith(f"<h1>{THANKS}</h1>")  # the whole answer
        assert (await store.view("default")).active == 0
        # The answer's head was gone before the marker was read: the cookie is still in
        # the browser, but the gateway refuses it at once (not at its next renewal).
        await store.change_room("default", {"max_active": "0"}, "test", ("s", "h"))
        client.cookies.clear()
        for name, value in old.items():
            client.cookies.set(name, value)
        # Reading goes on for a moment (the way out: the confirmation, a reload of it)...
        reading = await client.get("/orders/3/done")
        assert THANKS in reading.text and "set-cookie" not in reading.headers
        # ...but nothing more: a form post is answered from the line.
        again = await client.post("/order", headers={"accept": "application/json"})
        assert again.json()["state"] == "queued"
        assert "sluis_admission=;" in again.headers["set-cookie"]
        assert (await store.view("default")).active == 0


async def test_a_page_without_the_marker_leaves_the_session_alone(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path),
                                   rooms=(room(end_on=EndRules.of(("/orders/*/done",),
                                                                  (THANKS,))),))
    async with gateway_client(settings, shop()) as (_, client):
        await arrive(client, "/start")
        for path in ("/basket", "/orders/17", "/orders/17/done/more"):
            assert (await client.get(path)).text == f"<h1>{path}</h1>"
        assert (await store.view("default")).active == 1


async def test_the_shops_sold_out_text_stops_admissions_and_tells_the_line(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    inventory = InventoryConfig(source="marker", marker=SOLD_OUT, marker_hold_seconds=60,
                                waiting_list_url="https://example.org/wachtlijst",
                                waiting_list_text=(("nl", "Wachtlijst"), ("en", "Waiting list")))
    settings = dataclasses.replace(make_settings(redis_url, tmp_path),
                                   rooms=(room(inventory=inventory),))
    async with gateway_client(settings, shop()) as (_, client):
        await arrive(client, "/start")
        r = await client.get("/sold-out")
        assert SOLD_OUT in r.text
        view = await store.view("default")
        assert view.sold_out and view.inventory_remaining == 0 and view.active == 0
        audit = (await store.audit("default"))[0]
        assert audit["actor"] == "inventory" and audit["changes"] == [["sold_out", "false",
                                                                       "true"]]
        # A newcomer is not let in although the room is empty: there are no places.
        client.cookies.clear()
        first = await client.get("/x", headers={"accept": "application/json"})
        assert first.json()["state"] == "none"
        body = (await client.get("/x", headers={"accept": "application/json",
                                                 "accept-language": "en"})).json()
        assert body["state"] == "sold_out" and body["places_left"] == 0
        assert body["waiting_list"] == {"url": "https://example.org/wachtlijst",
                                        "text": "Waiting list"}
        page = await client.get("/x", headers={"accept-language": "nl"})
        assert "Alle plaatsen zijn volzet" in page.text
        assert 'href="https://example.org/wachtlijst"' in page.text


async def test_an_idle_session_ends_and_no_session_outlives_its_longest_length(
        store: Store) -> None:
    k = store.keys("default")
    await store.define_room(RoomConfig(name="default", initial=LiveSettings(
        max_active=5, session_seconds=120, idle_seconds=30)), ("s", "h"))
    _, place = await store.join("default", "v1")
    assert place.code.name == "ADMITTED"
    started = float(await store.client.hget(k.started, "v1"))
    expiry = (await store.client.zscore(k.active, "v1"))
    assert expiry == started + 30_000  # the idle limit, not the whole session
    assert 25 <= await store.renew("default", "v1") <= 30
    # Past the idle limit the session is over; renewing it does not revive it.
    await store.client.zadd(k.active, {"v1": started + 1}, xx=True)
    await asyncio.sleep(0.01)
    assert await store.renew("default", "v1") == 0
    # A session admitted long ago is renewed only up to its longest length.
    await store.join("default", "v2")
    await store.client.hset(k.started, "v2", int(started) - 110_000)
    seconds = await store.renew("default", "v2")
    assert 0 < seconds <= 10


async def test_session_lengths_are_measured_when_sessions_end_or_expire(
        store: Store) -> None:
    k = store.keys("default")
    await store.define_room(RoomConfig(name="default", initial=LiveSettings(max_active=5)),
                            ("s", "h"))
    for v in ("a", "b"):
        await store.join("default", v)
    started = float(await store.client.hget(k.started, "a"))
    await store.client.hset(k.started, "a", int(started) - 40_000)
    assert await store.end_session("default", "a")
    # "b" ran for 20 s and then expired.
    await store.client.hset(k.started, "b", int(started) - 21_000)
    await store.client.zadd(k.active, {"b": started - 1_000}, xx=True)
    await store.expire("default", [])
    view = await store.view("default")
    assert view.active == 0 and view.counters["sessions_measured_total"] == 2
    assert view.mean_session_seconds is not None
    assert 29 <= view.mean_session_seconds <= 31
    assert await store.client.hlen(k.started) == 0


def test_the_scanner_finds_a_marker_split_across_pieces() -> None:
    scan = Scanner((b"Thank you", b"Sold out"))
    for piece in (b"...Tha", b"nk", b" you...", b"So", b"ld", b" ou"):
        scan.feed(piece)
    assert scan.found == {0}
    scan.feed(b"t")
    assert scan.found == {0, 1}


async def test_after_the_site_ends_a_session_its_confirmation_is_read_without_a_place(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = dataclasses.replace(
        make_settings(redis_url, tmp_path),
        rooms=(room(end_on=EndRules.of(("/orders/*/done",), ()), exit_seconds=2),))
    async with gateway_client(settings, shop()) as (_, client):
        await arrive(client, "/start")
        done = await client.get("/orders/17/done")
        assert THANKS in done.text and "sluis_exit=" in done.headers["set-cookie"]
        assert "sluis_admission" not in client.cookies
        # The confirmation again (a reload), and a page it links to: read, no place taken.
        for path in ("/orders/17/done", "/basket"):
            r = await client.get(path)
            assert r.status_code == 200 and "<h1>" in r.text
        view = await store.view("default")
        assert view.active == 0 and view.queued == 0
        # Reading only: a form post is answered from the line (a full one, here).
        await store.change_room("default", {"max_active": "0"}, "test", ("s", "h"))
        posted = await client.post("/order", headers={"accept": "application/json"})
        assert posted.json()["state"] == "queued"
        assert (await client.get("/orders/17/done")).status_code == 200  # still reading
        # And only for exit_seconds (the pass's time is kept to the whole second).
        await asyncio.sleep(3.1)
        later = await client.get("/orders/17/done", headers={"accept": "application/json"})
        assert later.json()["state"] == "queued"
