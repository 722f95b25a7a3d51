"""Holds lapse and free their place; freed places go to the waiting list first."""

from __future__ import annotations

from .support import Running, camp, invariant_holds, register, registration


async def status_of(r: Running, registration_id: object) -> str:
    return str((await r.client.get(f"/api/registrations/{registration_id}")).json()["status"])


async def test_a_lapsed_hold_frees_its_place_for_the_next_parent(engine_app: Running) -> None:
    r = engine_app
    (session,) = await r.add(camp(capacity=1))
    code, first = await register(r, registration(session, 1))
    assert (code, first["status"]) == (201, "held")
    assert (await register(r, registration(session, 2)))[0] == 409

    r.clock.advance(minutes=14)
    assert (await register(r, registration(session, 2)))[0] == 409
    r.clock.advance(minutes=2)
    code, second = await register(r, registration(session, 2))
    assert (code, second["status"]) == (201, "held")
    assert await status_of(r, first["id"]) == "expired"
    confirm = await r.client.post(f"/api/registrations/{first['id']}/confirm")
    assert confirm.status_code == 409
    await invariant_holds(r)


async def test_the_sweep_releases_lapsed_holds_without_anyone_asking(engine_app: Running) -> None:
    r = engine_app
    (session,) = await r.add(camp(capacity=3))
    for n in range(3):
        assert (await register(r, registration(session, n)))[0] == 201
    r.clock.advance(minutes=16)
    assert await r.ctx.booking.release_expired(r.clock()) == 3
    assert await r.ctx.booking.release_expired(r.clock()) == 0
    listing = (await r.client.get("/api/activities")).json()["activities"][0]["sessions"][0]
    assert (listing["booked"], listing["available"]) == (0, 3)
    await invariant_holds(r)


async def test_checking_out_in_time_keeps_the_place(engine_app: Running) -> None:
    r = engine_app
    (session,) = await r.add(camp(capacity=1))
    _, held = await register(r, registration(session, 1))
    r.clock.advance(minutes=14)
    confirmed = await r.client.post(f"/api/registrations/{held['id']}/confirm")
    assert confirmed.json()["status"] == "confirmed"
    r.clock.advance(days=30)
    assert await r.ctx.booking.release_expired(r.clock()) == 0
    assert await status_of(r, held["id"]) == "confirmed"


async def test_a_cancelled_place_is_offered_to_the_first_in_line_then_the_next(
    engine_app: Running,
) -> None:
    r = engine_app
    (session,) = await r.add(camp(capacity=1))
    _, owner = await register(r, registration(session, 1, confirm=True))
    _, first = await register(r, registration(session, 2, waitlist=True))
    _, second = await register(r, registration(session, 3, waitlist=True))
    assert (first["status"], second["status"]) == ("waitlisted", "waitlisted")
    detail = (await r.client.get(f"/api/registrations/{second['id']}")).json()
    assert detail["waitlist_position"] == 2

    cancelled = await r.client.post(f"/api/registrations/{owner['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    offered = (await r.client.get(f"/api/registrations/{first['id']}")).json()
    assert offered["status"] == "offered" and offered["expires_at"] is not None
    assert (await r.client.get(f"/api/registrations/{second['id']}")).json()[
        "waitlist_position"
    ] == 1
    # The freed place is spoken for: a newcomer cannot take it.
    assert (await register(r, registration(session, 4)))[0] == 409

    # The offer lapses unanswered, so it passes to the next in line.
    r.clock.advance(hours=49)
    assert await r.ctx.booking.release_expired(r.clock()) == 1
    assert await status_of(r, first["id"]) == "expired"
    assert await status_of(r, second["id"]) == "offered"
    accepted = await r.client.post(f"/api/registrations/{second['id']}/confirm")
    assert accepted.json()["status"] == "confirmed"
    await invariant_holds(r)


async def test_cancelling_with_nobody_waiting_makes_the_place_free_again(
    engine_app: Running,
) -> None:
    r = engine_app
    (session,) = await r.add(camp(capacity=2))
    _, a = await register(r, registration(session, 1, confirm=True))
    await register(r, registration(session, 2, confirm=True))
    assert (await register(r, registration(session, 3)))[0] == 409
    await r.client.post(f"/api/registrations/{a['id']}/cancel")
    assert (await r.client.post(f"/api/registrations/{a['id']}/cancel")).status_code == 409
    assert (await register(r, registration(session, 3)))[0] == 201
    # Cancelled, the child may register again for the same session.
    assert (await register(r, registration(session, 1, waitlist=True)))[1]["status"] == "waitlisted"
    await invariant_holds(r)


async def test_an_activity_without_waiting_list_says_full(engine_app: Running) -> None:
    r = engine_app
    (session,) = await r.add(camp(capacity=1, waitlist=False))
    await register(r, registration(session, 1))
    code, body = await register(r, registration(session, 2, waitlist=True))
    assert (code, body) == (409, {"error": "full", "waitlist_available": False})
