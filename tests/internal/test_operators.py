"""Operators: token or signed-in session, CSRF on forms, cancel and mark paid."""

from __future__ import annotations

import re

from .support import ADMIN_TOKEN, Running, camp, invariant_holds, register, registration

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match is not None
    return match.group(1)


async def test_operator_pages_need_the_token(sqlite_app: Running) -> None:
    client = sqlite_app.client
    redirect = await client.get("/admin/")
    assert (redirect.status_code, redirect.headers["location"]) == (303, "/admin/login")
    wrong = await client.get("/admin/", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (
        await client.get("/admin/export.csv", headers={"Authorization": "Bearer x"})
    ).status_code == 401
    assert (await client.get("/admin/", headers=BEARER)).status_code == 200
    refused = await client.post("/admin/login", data={"token": "guess"})
    assert refused.status_code == 401


async def test_a_signed_in_operator_cancels_and_marks_paid_with_csrf(sqlite_app: Running) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp(capacity=1))
    _, paid = await register(sqlite_app, registration(session, 1, confirm=True))
    _, waiting = await register(sqlite_app, registration(session, 2, waitlist=True))

    signed_in = await client.post("/admin/login", data={"token": ADMIN_TOKEN})
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie

    page = await client.get(f"/admin/sessions/{session}")
    assert page.status_code == 200
    assert "Kindb" in page.text and "Kindc" in page.text
    token = csrf_of(page.text)

    forged = await client.post(
        f"/admin/registrations/{paid['id']}/paid", data={"session": str(session)}
    )
    assert forged.status_code == 403
    marked = await client.post(
        f"/admin/registrations/{paid['id']}/paid", data={"csrf": token, "session": str(session)}
    )
    assert (marked.status_code, marked.headers["location"]) == (303, f"/admin/sessions/{session}")
    assert (await client.get(f"/api/registrations/{paid['id']}")).json()["paid"] is True

    cancelled = await client.post(
        f"/admin/registrations/{paid['id']}/cancel", data={"csrf": token, "session": str(session)}
    )
    assert cancelled.status_code == 303
    offered = (await client.get(f"/api/registrations/{waiting['id']}")).json()
    assert offered["status"] == "offered"
    await invariant_holds(sqlite_app)


async def test_scripts_use_the_bearer_token_without_csrf(sqlite_app: Running) -> None:
    (session,) = await sqlite_app.add(camp())
    _, held = await register(sqlite_app, registration(session, 1))
    response = await sqlite_app.client.post(
        f"/admin/registrations/{held['id']}/cancel", headers=BEARER
    )
    assert response.status_code == 303
    assert (await sqlite_app.client.get(f"/api/registrations/{held['id']}")).json()[
        "status"
    ] == "cancelled"
    not_confirmed = await sqlite_app.client.post(
        f"/admin/registrations/{held['id']}/paid", headers=BEARER
    )
    assert not_confirmed.status_code == 409


async def test_without_an_admin_token_the_operator_pages_are_off(
    sqlite_app: Running,
) -> None:
    from dataclasses import replace

    ctx = sqlite_app.ctx
    sqlite_app.app.state.booking_context = replace(
        ctx, settings=replace(ctx.settings, admin_token=None)
    )
    assert (await sqlite_app.client.get("/admin/", headers=BEARER)).status_code == 503
