"""The JSON API beside the pages: the programme, and registrations by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from backends.internal import catalogue
from backends.internal.booking import Full, NotFound, WrongState
from backends.internal.catalogue import ActivityView, RegistrationView
from backends.internal.context import context_of
from backends.internal.validation import Invalid, Reason, parse_registration

NO_STORE = {"Cache-Control": "no-store"}


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _invalid(reasons: list[Reason]) -> JSON:
    return JSON({"error": "invalid", "reasons": [r.as_dict() for r in reasons]}, 422, NO_STORE)


def activity_json(a: ActivityView) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "name": a.name,
        "description": a.description,
        "location": a.location,
        "age_rule": {"born_from_year": a.born_from_year, "born_to_year": a.born_to_year},
        "registration_window": {
            "opens_at": _iso(a.opens_at),
            "residents_open_at": _iso(a.residents_open_at),
            "closes_at": _iso(a.closes_at),
        },
        "social_discount_percent": a.social_discount_percent,
        "waitlist": a.waitlist,
        "capacity": sum(s.capacity for s in a.sessions),
        "booked": sum(s.booked for s in a.sessions),
        "available": sum(s.available for s in a.sessions),
        "sessions": [
            {
                "id": s.id,
                "label": s.label,
                "starts_at": _iso(s.starts_at),
                "ends_at": _iso(s.ends_at),
                "capacity": s.capacity,
                "booked": s.booked,
                "available": s.available,
                "waitlisted": s.waitlisted,
                "prices": {
                    "currency": "EUR",
                    "resident_cents": s.price_resident_cents,
                    "non_resident_cents": s.price_non_resident_cents,
                },
            }
            for s in a.sessions
        ],
    }


def registration_json(r: RegistrationView) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": r.status.value,
        "session_id": r.session_id,
        "activity": {"id": r.activity_id, "name": r.activity_name},
        "session": {
            "label": r.session_label,
            "starts_at": _iso(r.starts_at),
            "ends_at": _iso(r.ends_at),
        },
        "child": {
            "first_name": r.first_name,
            "last_name": r.last_name,
            "birth_date": r.birth_date.isoformat(),
        },
        "resident": r.resident,
        "social_tariff": r.social_tariff,
        "price_cents": r.price_cents,
        "currency": "EUR",
        "expires_at": _iso(r.expires_at),
        "waitlist_position": r.waitlist_position,
        "paid": r.paid_at is not None,
        "created_at": _iso(r.created_at),
    }


def _int_param(request: Request, name: str) -> int | Reason | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 9:
        return Reason(name, "invalid", "must be a whole number")
    return int(raw)


async def list_activities(request: Request) -> Response:
    born = _int_param(request, "born")
    kind = request.query_params.get("kind") or None
    if isinstance(born, Reason):
        return _invalid([born])
    if kind not in (None, "camp", "swim"):
        return _invalid([Reason("kind", "invalid", "camp or swim")])
    found = await context_of(request).db.read(
        lambda conn: catalogue.list_activities(conn, born_year=born, kind=kind)
    )
    return JSON({"activities": [activity_json(a) for a in found]}, headers=NO_STORE)


async def create_registration(request: Request) -> Response:
    ctx = context_of(request)
    now = ctx.clock()
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _invalid([Reason("body", "not_json", "the body must be JSON")])
    try:
        req = parse_registration(payload, ctx.local_date(now))
        placed = await ctx.booking.register(req, now)
    except Invalid as exc:
        return _invalid(exc.reasons)
    except Full as exc:
        return JSON({"error": "full", "waitlist_available": exc.waitlist_available}, 409, NO_STORE)
    body: dict[str, Any] = {"id": placed.id, "status": placed.status.value}
    if placed.expires_at is not None:
        body["expires_at"] = placed.expires_at.isoformat()
    body["price_cents"] = placed.price_cents
    return JSON(body, 201, {**NO_STORE, "Location": f"registrations/{placed.id}"})


async def _view(request: Request, registration_id: str) -> RegistrationView | None:
    return await context_of(request).db.read(
        lambda conn: catalogue.registration(conn, registration_id)
    )


async def get_registration(request: Request) -> Response:
    view = await _view(request, request.path_params["registration_id"])
    if view is None:
        return JSON({"error": "not_found"}, 404, NO_STORE)
    return JSON(registration_json(view), headers=NO_STORE)


async def confirm_registration(request: Request) -> Response:
    ctx = context_of(request)
    registration_id = request.path_params["registration_id"]
    try:
        await ctx.booking.confirm(registration_id, ctx.clock())
    except NotFound:
        return JSON({"error": "not_found"}, 404, NO_STORE)
    except WrongState as exc:
        return JSON({"error": "wrong_state", "status": exc.status.value}, 409, NO_STORE)
    return await get_registration(request)


async def cancel_registration(request: Request) -> Response:
    ctx = context_of(request)
    registration_id = request.path_params["registration_id"]
    try:
        await ctx.booking.cancel(registration_id, ctx.clock())
    except NotFound:
        return JSON({"error": "not_found"}, 404, NO_STORE)
    except WrongState as exc:
        return JSON({"error": "wrong_state", "status": exc.status.value}, 409, NO_STORE)
    return await get_registration(request)
