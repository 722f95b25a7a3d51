"""The room's effective pace in the admin API and on the dashboard: what max_active and
the typical session allow beside the rate, and what holds the line back now."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.store import Store
from tests.admin.test_api import AUTH, ROOM, sign_in
from tests.conftest import make_settings
from tests.helpers import gateway_client


async def test_the_room_says_max_active_sets_the_pace_until_sessions_are_measured(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, rate_per_minute=120, max_active=2,
                             session_seconds=60)
    async with gateway_client(settings) as (_, client):
        for i in range(5):
            await store.join("default", f"visitor-{i:04d}")
        room = (await client.get(ROOM, headers=AUTH)).json()
        assert (room["active"], room["queued"]) == (2, 3)
        # Nothing ended yet: sessions are taken to last session_seconds, so 2 × 60 / 60.
        assert room["effective_rate_per_minute"] == 2
        assert room["pace_set_by"] == "max_active" and room["max_active_allows_per_minute"] == 2
        assert room["typical_session_seconds"] == 60 and not room["typical_session_measured"]
        assert room["line_held_by"] == "max_active"
        assert room["pace"].startswith("max_active sets the pace, not the rate: 2 × 60 / 60 s")
        assert room["rate_per_minute"] == 120  # the configured rate is still beside it
        assert room["sold_out"] is False and room["inventory_remaining"] is None

        await asyncio.sleep(0.3)
        assert await store.end_session("default", "visitor-0000")
        room = (await client.get(ROOM, headers=AUTH)).json()
        # One short session measured: max_active no longer binds; a slot is free now.
        assert room["typical_session_measured"] and room["sessions_measured_total"] == 1
        assert 0.2 <= room["typical_session_seconds"] < 5
        assert room["pace_set_by"] == "rate" and room["effective_rate_per_minute"] == 120
        assert room["line_held_by"] == "rate"

        r = await client.patch(ROOM, headers=AUTH, json={"paused": True})
        assert r.status_code == 200
        room = r.json()
        assert room["effective_rate_per_minute"] == 0 and room["pace_set_by"] == "paused"
        assert room["line_held_by"] == "paused"
        assert room["pace"] == "nobody is admitted: the room is paused"


async def test_a_closed_room_still_serves_those_in_line(redis_url: str, tmp_path: Path,
                                                        store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, rate_per_minute=30, max_active=1,
                             session_seconds=60)
    async with gateway_client(settings) as (_, client):
        for i in range(2):
            await store.join("default", f"visitor-{i:04d}")
        room = (await client.patch(ROOM, headers=AUTH, json={"closed": True})).json()
        assert room["state"] == "closed" and room["queued"] == 1
        assert room["pace_set_by"] == "max_active" and room["line_held_by"] == "max_active"


async def test_the_dashboard_shows_the_pace_beside_the_rate_in_plain_words(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, rate_per_minute=120, max_active=2,
                             session_seconds=60)
    async with gateway_client(settings) as (_, client):
        for i in range(4):
            await store.join("default", f"visitor-{i:04d}")
        await sign_in(client)
        page = (await client.get("/_sluis/admin/")).text
        assert 'id="pace-default">2<' in page
        assert "max_active sets the pace, not the rate" in page
        assert "Every slot is taken (2 of 2)" in page
        figures = (await client.get("/_sluis/admin/rooms/default/figures")).text
        assert 'id="pace-default">2<' in figures and 'id="held-default"' in figures


def test_the_words_for_each_thing_that_holds_the_line() -> None:
    from gateway.routes.dashboard import held_words

    base = {"mode": "queue", "active": 3, "max_active": 3, "rate_per_minute": 30,
            "opens_at": "2027-03-01T09:00:00+01:00"}
    assert held_words({**base, "line_held_by": None}) == "Nobody is waiting."
    assert held_words({**base, "line_held_by": "max_active"}).startswith(
        "Every slot is taken (3 of 3)")
    assert held_words({**base, "line_held_by": "rate", "active": 1}).startswith(
        "The rate: slots are free")
    assert held_words({**base, "line_held_by": "rate", "rate_per_minute": 0}) == (
        "The rate is 0: nobody is admitted.")
    assert held_words({**base, "line_held_by": "max_active", "max_active": 0,
                       "active": 0}) == "Max active is 0: nobody is admitted."
    for why, words in (("paused", "Paused"), ("breaker", "The backend breaker is open"),
                       ("sold_out", "Sold out"), ("not_open", "Not open yet"),
                       ("closed", "Closed")):
        assert held_words({**base, "line_held_by": why}).startswith(words)


async def test_a_sold_out_room_is_held_and_shows_its_places_left(
        redis_url: str, tmp_path: Path, store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, rate_per_minute=60, max_active=1)
    async with gateway_client(settings) as (_, client):
        for i in range(2):
            await store.join("default", f"visitor-{i:04d}")
        await store.set_inventory("default", 4, "backend")
        room = (await client.get(ROOM, headers=AUTH)).json()
        assert room["inventory_remaining"] == 4 and room["inventory_source"] == "backend"
        assert not room["sold_out"] and room["line_held_by"] == "max_active"
        await store.set_inventory("default", 0, "backend")
        room = (await client.get(ROOM, headers=AUTH)).json()
        assert room["sold_out"] and room["inventory_remaining"] == 0
        assert room["pace_set_by"] == "sold_out" and room["effective_rate_per_minute"] == 0
        assert room["line_held_by"] == "sold_out"
        await sign_in(client)
        page = (await client.get("/_sluis/admin/")).text
        assert "Places left" in page and "Sold out: the inventory source reports" in page
