"""The admin API: bearer token, validated changes, an audit trail, nothing half-done."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import arrive, gateway_client

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
ROOM = "/_sluis/admin/api/rooms/default"


async def test_missing_or_wrong_token_is_refused(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": ADMIN_TOKEN},
                        {"authorization": f"Basic {ADMIN_TOKEN}"}):
            assert (await client.get(ROOM, headers=headers)).status_code == 401
            r = await client.patch(ROOM, headers=headers, json={"paused": True})
            assert r.status_code == 401
        room = (await client.get(ROOM, headers=AUTH)).json()
        assert room["paused"] is False


async def test_a_change_is_applied_and_audited(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        r = await client.patch(ROOM, headers=AUTH, json={"rate_per_minute": 90, "paused": True})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["rate_per_minute"] == 90 and body["paused"] is True
        for name in ("max_active", "session_seconds", "opens_at", "queued", "prequeued",
                     "active", "joined_total", "admitted_total"):
            assert name in body
        rooms = (await client.get("/_sluis/admin/api/rooms", headers=AUTH)).json()["rooms"]
        assert [x["room"] for x in rooms] == ["default"]
        audit = (await client.get("/_sluis/admin/api/audit", headers=AUTH)).json()["entries"]
        assert audit[0]["room"] == "default" and audit[0]["actor"].startswith("admin-api@")
        assert ["rate_per_minute", "60", "90"] in audit[0]["changes"]
        assert ["paused", "0", "1"] in audit[0]["changes"]


async def test_bad_values_get_422_with_reasons_and_change_nothing(redis_url: str,
                                                                  tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        bad_bodies = [
            {"rate_per_minute": -1},
            {"rate_per_minute": "fast"},
            {"max_active": 1.5},
            {"session_seconds": 5},
            {"paused": "yes"},
            {"opens_at": "tomorrow"},
            {"opens_at": "2027-03-01T09:00:00"},  # no offset
            {"unknown": 1},
            {"rate_per_minute": 100, "max_active": -5},  # one bad value spoils the change
            {},
            [],
        ]
        for body in bad_bodies:
            r = await client.patch(ROOM, headers=AUTH, json=body)
            assert r.status_code == 422, body
            assert r.json()["reasons"], body
        r = await client.patch(ROOM, headers={**AUTH, "content-type": "application/json"},
                               content=b"{not json")
        assert r.status_code == 422 and "body" in r.json()["reasons"]
        r = await client.patch(ROOM, headers=AUTH, content=b"rate=5")
        assert r.status_code == 415
        assert (await client.patch("/_sluis/admin/api/rooms/nope", headers=AUTH,
                                   json={"paused": True})).status_code == 404
        room = (await client.get(ROOM, headers=AUTH)).json()
        assert room["rate_per_minute"] == 60 and room["max_active"] == 100
        audit = (await client.get("/_sluis/admin/api/audit", headers=AUTH)).json()["entries"]
        assert all(e["mode"] == "define" for e in audit)


async def test_a_new_opening_may_not_jump_ahead_of_people_waiting(redis_url: str,
                                                                  tmp_path: Path) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    async with gateway_client(settings) as (_, client):
        await arrive(client, "/")
        r = await client.patch(ROOM, headers=AUTH, json={"opens_at": "2099-01-01T09:00:00+01:00"})
        assert r.status_code == 422 and "waiting" in r.json()["reasons"]["opens_at"]
        assert (await client.get(ROOM, headers=AUTH)).json()["opens_at"] is None


async def test_scheduling_an_opening_publishes_the_seed_commitment(redis_url: str,
                                                                   tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        r = await client.patch(ROOM, headers=AUTH, json={"opens_at": "2099-01-01T09:00:00+01:00"})
        assert r.status_code == 200
        assert r.json()["opens_at"] == "2099-01-01T09:00:00+01:00"
        page = await arrive(client, "/", headers={"accept": "application/json"})
        body = page.json()
        assert body["state"] == "prequeue" and body["position"] is None
        assert body["opens_at"] == "2099-01-01T09:00:00+01:00"
        assert len(body["draw"]["seed_sha256"]) == 64 and body["draw"]["seed"] is None
        html = (await client.get("/")).text
        assert body["draw"]["seed_sha256"] in html
