"""The admin API (JSON, bearer token): read and change rooms, read the audit trail."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import lottery
from gateway.rooms import RoomConfig, RoomSettingsError, validate_changes
from gateway.store import Store, StoreUnavailable, UnfairChange

MAX_BODY = 64 * 1024


def _error(status: int, error: str, **more: Any) -> JSONResponse:
    return JSONResponse({"error": error, **more}, status_code=status,
                        headers={"cache-control": "no-store"})


def authorized(request: Request) -> bool:
    expected: str = request.app.state.settings.admin_token
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def _room(request: Request) -> RoomConfig | None:
    name = request.path_params.get("room")
    rooms: list[RoomConfig] = list(request.app.state.rooms.rooms)
    return next((r for r in rooms if r.name == name), None)


async def room_json(store: Store, room: RoomConfig) -> dict[str, Any]:
    view = await store.view(room.name)
    c = view.counters
    return {
        "room": room.name,
        "title": room.title,
        **view.settings.public(room.tz),
        "queued": view.queued,
        "prequeued": view.prequeued,
        "active": view.active,
        "joined_total": c.get("joined_total", 0),
        "admitted_total": c.get("admitted_total", 0),
        "expired_total": c.get("expired_total", 0),
        "leader": view.leader,
    }


def guarded(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "unauthorized", detail="send Authorization: Bearer <admin token>")
        try:
            result: Response = await handler(request)
        except StoreUnavailable:
            return _error(503, "unavailable", detail="Redis is unreachable; nothing was changed")
        return result

    endpoint.__name__ = handler.__name__
    return endpoint


@guarded
async def list_rooms(request: Request) -> Response:
    store: Store = request.app.state.store
    return JSONResponse({"rooms": [await room_json(store, r)
                                   for r in request.app.state.rooms.rooms]})


@guarded
async def get_room(request: Request) -> Response:
    room = _room(request)
    if room is None:
        return _error(404, "unknown_room")
    return JSONResponse(await room_json(request.app.state.store, room))


def _redis_value(value: int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@guarded
async def patch_room(request: Request) -> Response:
    room = _room(request)
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
    actor = f"admin-api@{request.client.host if request.client else 'unknown'}"
    try:
        await store.change_room(room.name, {k: _redis_value(v) for k, v in changes.items()},
                                actor, lottery.new_seed())
    except UnfairChange as exc:
        return _error(422, "invalid", reasons={"opens_at": str(exc)})
    return JSONResponse(await room_json(store, room))


@guarded
async def audit(request: Request) -> Response:
    store: Store = request.app.state.store
    try:
        limit = min(1000, max(1, int(request.query_params.get("limit", "100"))))
    except ValueError:
        return _error(422, "invalid", reasons={"limit": "must be a whole number"})
    entries = []
    for room in request.app.state.rooms.rooms:
        for entry in await store.audit(room.name, limit):
            entries.append({"room": room.name, **entry})
    entries.sort(key=lambda e: str(e.get("at", "")), reverse=True)
    return JSONResponse({"entries": entries[:limit]})


routes = [
    Route("/_sluis/admin/api/rooms", list_rooms, methods=["GET"]),
    Route("/_sluis/admin/api/rooms/{room}", get_room, methods=["GET"]),
    Route("/_sluis/admin/api/rooms/{room}", patch_room, methods=["PATCH"]),
    Route("/_sluis/admin/api/audit", audit, methods=["GET"]),
]
