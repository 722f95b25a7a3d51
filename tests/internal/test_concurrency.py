"""Volzet is volzet: thousands of simultaneous registrations never overbook a session."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter

import pytest
from sqlalchemy import func, select

from backends.internal.tables import registrations, sessions

from .support import ADMIN_TOKEN, Running, camp, registration

ATTEMPTS = 2000
CAPACITY = 40


@pytest.mark.slow
async def test_2000_concurrent_registrations_fill_exactly_40_places(
    engine_app: Running,
) -> None:
    (session_id,) = await engine_app.add(camp(capacity=CAPACITY))
    client = engine_app.client

    async def attempt(n: int) -> tuple[int, dict[str, object]]:
        # Every other parent would rather wait in line than be turned away.
        body = registration(session_id, n, waitlist=n % 2 == 0, confirm=n % 3 == 0)
        response = await client.post("/api/registrations", json=body)
        return response.status_code, response.json()

    results = await asyncio.gather(*(attempt(n) for n in range(ATTEMPTS)))

    codes = Counter(code for code, _ in results)
    statuses = Counter(str(body.get("status")) for code, body in results if code == 201)
    assert set(codes) <= {201, 409}, codes
    assert statuses["held"] + statuses["confirmed"] == CAPACITY
    assert codes[201] == CAPACITY + statuses["waitlisted"]
    # Everyone who asked for the waiting list and got no place is on it; the others got 409.
    wanted_waitlist = sum(1 for n in range(ATTEMPTS) if n % 2 == 0)
    placed_with_waitlist_wish = sum(
        1
        for n, (code, body) in enumerate(results)
        if n % 2 == 0 and body.get("status") in ("held", "confirmed")
    )
    assert statuses["waitlisted"] == wanted_waitlist - placed_with_waitlist_wish
    assert codes[409] == ATTEMPTS - codes[201]
    assert all(
        body == {"error": "full", "waitlist_available": True}
        for code, body in results
        if code == 409
    )

    ids = [str(body["id"]) for code, body in results if code == 201]
    assert len(set(ids)) == len(ids)

    async def counts(conn):  # type: ignore[no-untyped-def]
        booked = (await conn.execute(select(sessions.c.booked))).scalar_one()
        rows = (await conn.execute(select(func.count()).select_from(registrations))).scalar_one()
        return booked, rows

    booked, rows = await engine_app.ctx.db.read(counts)
    assert booked == CAPACITY
    assert rows == codes[201]  # nothing half-written for the 409s

    export = await client.get(
        "/admin/export.csv", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert export.status_code == 200
    exported = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff")), delimiter=";"))
    assert sorted(r["registration_id"] for r in exported) == sorted(ids)
    by_status = Counter(r["status"] for r in exported)
    assert by_status["held"] + by_status["confirmed"] == CAPACITY
    positions = sorted(int(r["waitlist_position"]) for r in exported if r["status"] == "waitlisted")
    assert positions == list(range(1, statuses["waitlisted"] + 1))


async def test_the_same_child_sent_twenty_times_at_once_is_registered_once(
    engine_app: Running,
) -> None:
    (session_id,) = await engine_app.add(camp(capacity=CAPACITY))
    body = registration(session_id, 7)
    responses = await asyncio.gather(
        *(engine_app.client.post("/api/registrations", json=body) for _ in range(20))
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 422: 19}
    for r in responses:
        if r.status_code == 422:
            assert r.json()["reasons"][0]["code"] == "already_registered"
    listing = (await engine_app.client.get("/api/activities")).json()["activities"][0]
    assert listing["sessions"][0]["booked"] == 1
