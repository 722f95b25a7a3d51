"""The admin API (JSON): read and change rooms, end a room's sessions, read the audit trail.

Callers authenticate with the bearer token, or with the dashboard's session cookie
plus its CSRF token (gateway/admin_auth.py). 401 without valid credentials, 403 for a
session's change without the CSRF token, 422 with a reason per field for bad values;
nothing is written unless everything is valid.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import lottery, pace
from gateway.admin_auth import AdminAuth, Operator, Refusal
from gateway.rooms import RoomConfig, RoomSettingsError, validate_changes
from gateway.routes.admin_openapi import document
from gateway.store import RoomView, Store, StoreUnavailable, UnfairChange

MAX_BODY = 64 * 1024
Handler = Callable[[Request, Operator], Awaitable[Response]]


def _error(status: int, error: str, **more: Any) -> JSONResponse:
    return JSONResponse({"error": error, **more}, status_code=status,
                        headers={"cache-control": "no-store"})


def auth_of(request: Request) -> AdminAuth:
    auth: AdminAuth | None = getattr(request.app.state, "admin_auth", None)
    if auth is None:
        settings = request.app.state.settings
        auth = request.app.state.admin_auth = AdminAuth(settings.admin_token,
                                                        settings.secret_keys)
    return auth


def authorized(request: Request) -> bool:
    """True when the request carries the admin bearer token."""
    return isinstance(auth_of(request).check(request), Operator)


def room_of(request: Request) -> RoomConfig | None:
    name = request.path_params.get("room")
    rooms: tuple[RoomConfig, ...] = request.app.state.rooms.rooms
    return next((r for r in rooms if r.name == name), None)


def closed_now(view_settings: Any, now_ms: int) -> bool:
    return bool(view_settings.closed or (view_settings.closes_at_ms
                                         and now_ms >= view_settings.closes_at_ms))


def state_of(view_settings: Any, now_ms: int, breaker_open: bool) -> str:
    """The room as a visitor would find it: open, prequeue, paused, closed."""
    if closed_now(view_settings, now_ms):
        return "closed"
    if view_settings.paused or breaker_open:
        return "paused"
    if view_settings.opens_at_ms > now_ms:
        return "prequeue"
    return "open"


def pace_json(view: RoomView) -> dict[str, Any]:
    """The pace the room keeps (the rate, or max_active over the typical session), what
    sets it, and what holds the line back at this moment."""
    s, c = view.settings, view.counters
    waiting = view.queued + view.prequeued
    held = pace.held_by(paused=s.paused, breaker_open=view.breaker_open, sold_out=view.sold_out,
                        opens_later=s.opens_at_ms > view.now_ms,
                        closed=closed_now(s, view.now_ms), waiting=waiting)
    p = pace.pace(rate_per_minute=s.rate_per_minute, max_active=s.max_active,
                  session_seconds=s.session_seconds, idle_seconds=s.idle_seconds,
                  mean_session_seconds=view.mean_session_seconds, held=held)
    now = pace.holding_now(p, waiting=waiting, active=view.active, max_active=s.max_active)
    return {
        "effective_rate_per_minute": round(p.per_minute, 1),
        "pace_set_by": str(p.set_by),
        "pace": pace.describe(p, s.max_active),
        "max_active_allows_per_minute": (None if math.isinf(p.capacity_per_minute)
                                         else round(p.capacity_per_minute, 1)),
        "typical_session_seconds": round(p.session_seconds, 1),
        "typical_session_measured": p.measured,
        "sessions_measured_total": c.get("sessions_measured_total", 0),
        "line_held_by": None if now is None else str(now),
        "inventory_remaining": view.inventory_remaining,
        "inventory_source": view.inventory_source,
        "sold_out": view.sold_out,
    }


async def room_json(store: Store, room: RoomConfig) -> dict[str, Any]:
    view = await store.view(room.name)
    c = view.counters
    a = room.adaptive
    return {
        "room": room.name,
        "title": room.title,
        **view.settings.public(room.tz),
        "state": state_of(view.settings, view.now_ms, view.breaker_open),
        "mode": room.route.mode,
        "paths": list(room.route.paths),
        "hosts": list(room.route.hosts),
        "queued": view.queued,
        "prequeued": view.prequeued,
        "active": view.active,
        "joined_total": c.get("joined_total", 0),
        "admitted_total": c.get("admitted_total", 0),
        "expired_total": c.get("expired_total", 0),
        "drained_total": c.get("drained_total", 0),
        "breaker": {"open": view.breaker_open, "reason": view.breaker_reason or None,
                    "since_ms": view.breaker_since_ms or None},
        "adaptive": {"enabled": a.enabled, "min_rate": a.min_rate, "max_rate": a.max_rate,
                     "target_p95_ms": a.target_p95_ms, "max_error_rate": a.max_error_rate},
        "leader": view.leader,
        **pace_json(view),
    }


def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        who = auth_of(request).check(request)
        if who is Refusal.UNAUTHENTICATED:
            return _error(401, "unauthorized", detail="send Authorization: Bearer <admin token>")
        if who is Refusal.FORBIDDEN:
            return _error(403, "forbidden", detail="a change from the dashboard needs its "
                          "CSRF token in the X-CSRF-Token header")
        assert isinstance(who, Operator)
        try:
            response = await handler(request, who)
        except StoreUnavailable:
            return _error(503, "unavailable", detail="Redis is unreachable; nothing was changed")
        # Live figures and the audit trail: never from a cache.
        response.headers.setdefault("cache-control", "no-store")
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


@guarded
async def list_rooms(request: Request, who: Operator) -> Response:
    store: Store = request.app.state.store
    return JSONResponse({"rooms": [await room_json(store, r)
                                   for r in request.app.state.rooms.rooms]})


@guarded
async def get_room(request: Request, who: Operator) -> Response:
    room = room_of(request)
    if room is None:
        return _error(404, "unknown_room")
    return JSONResponse(await room_json(request.app.state.store, room))


def redis_value(value: int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


async def apply(store: Store, room: RoomConfig, changes: dict[str, int | bool], actor: str
                ) -> list[list[Any]]:
    """Write validated changes (one script: settings and the audit entry together)."""
    return await store.change_room(room.name, {k: redis_value(v) for k, v in changes.items()},
                                   actor, lottery.new_seed())


@guarded
async def patch_room(request: Request, who: Operator) -> Response:
    room = room_of(request)
    if room is None:
        return _error(404, "unknown_room")
    if "application/json" not in request.headers.get("content-type", ""):
        return _error(415, "unsupported_media_type", detail="send application/json")
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "too_large", detail=f"at most {MAX_BODY} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _error(422, "invalid", reasons={"body": f"not valid JSON: {exc.msg}"})
    try:
        changes = validate_changes(data)
    except RoomSettingsError as exc:
        return _error(422, "invalid", reasons=exc.reasons)
    store: Store = request.app.state.store
    try:
        await apply(store, room, changes, who.actor)
    except UnfairChange as exc:
        return _error(422, "invalid", reasons={"opens_at": str(exc)})
    return JSONResponse(await room_json(store, room))


@guarded
async def drain_room(request: Request, who: Operator) -> Response:
    room = room_of(request)
    if room is None:
        return _error(404, "unknown_room")
    ended = await request.app.state.store.drain(room.name, who.actor)
    return JSONResponse({"room": room.name, "ended": ended})


@guarded
async def series(request: Request, who: Operator) -> Response:
    room = room_of(request)
    if room is None:
        return _error(404, "unknown_room")
    try:
        minutes = int(request.query_params.get("minutes", "60"))
    except ValueError:
        return _error(422, "invalid", reasons={"minutes": "must be a whole number"})
    if not 1 <= minutes <= 60:
        return _error(422, "invalid", reasons={"minutes": "must be between 1 and 60"})
    store: Store = request.app.state.store
    view = await store.view(room.name)
    samples = await store.series(room.name, view.now_ms - minutes * 60_000)
    return JSONResponse({"room": room.name, "now_ms": view.now_ms, "samples": samples})


@guarded
async def audit(request: Request, who: Operator) -> Response:
    store: Store = request.app.state.store
    try:
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        return _error(422, "invalid", reasons={"limit": "must be a whole number"})
    limit = min(1000, max(1, limit))
    return JSONResponse({"entries": await audit_entries(request, store, limit)})


async def audit_entries(request: Request, store: Store, limit: int) -> list[dict[str, Any]]:
    entries = []
    for room in request.app.state.rooms.rooms:
        for entry in await store.audit(room.name, limit):
            entries.append({"room": room.name, **entry})
    entries.sort(key=lambda e: str(e.get("at", "")), reverse=True)
    return entries[:limit]


@guarded
async def openapi(request: Request, who: Operator) -> Response:
    return JSONResponse(document(request.app.state.rooms.rooms))


routes = [
    Route("/_sluis/admin/api/openapi.json", openapi, methods=["GET"]),
    Route("/_sluis/admin/api/rooms", list_rooms, methods=["GET"]),
    Route("/_sluis/admin/api/rooms/{room}", get_room, methods=["GET"]),
    Route("/_sluis/admin/api/rooms/{room}", patch_room, methods=["PATCH"]),
    Route("/_sluis/admin/api/rooms/{room}/drain", drain_room, methods=["POST"]),
    Route("/_sluis/admin/api/rooms/{room}/series", series, methods=["GET"]),
    Route("/_sluis/admin/api/audit", audit, methods=["GET"]),
]
