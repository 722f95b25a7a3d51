"""The admin API described as OpenAPI 3.1, served at /_sluis/admin/api/openapi.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway import __version__
from gateway.pace import Limit
from gateway.rooms import LIMITS, MIN_IDLE_SECONDS, RoomConfig

LIMIT_NAMES: list[str | None] = [str(limit) for limit in Limit]
_TIME = {"type": ["string", "null"], "format": "date-time",
         "description": "ISO 8601 with a UTC offset, e.g. 2027-03-01T09:00:00+01:00; "
                        "null or \"\" clears it"}


def _whole(name: str, what: str) -> dict[str, Any]:
    low, high = LIMITS[name]
    return {"type": "integer", "minimum": low, "maximum": high, "description": what}


CHANGE = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "rate_per_minute": _whole("rate_per_minute", "admissions a minute, spread over ticks"),
        "max_active": _whole("max_active", "never more live sessions than this"),
        "session_seconds": _whole("session_seconds", "the longest a session lasts from "
                                  "admission"),
        "idle_seconds": _whole("idle_seconds", "a session with no request for this long "
                               f"ends; 0: no idle limit, else at least {MIN_IDLE_SECONDS}"),
        "grace_seconds": _whole("grace_seconds", "a silent waiting visitor loses the place "
                                                 "after this long"),
        "paused": {"type": "boolean", "description": "true: nobody is admitted"},
        "closed": {"type": "boolean", "description": "true: no new places"},
        "opens_at": {**_TIME, "description": "the opening; before it arrivals join a "
                                             "pre-queue that is drawn at opening. "
                     + str(_TIME["description"])},
        "closes_at": {**_TIME, "description": "from then on no new places; those in line "
                                              "are still served. " + str(_TIME["description"])},
    },
}

ROOM = {
    "type": "object",
    "required": ["room", "rate_per_minute", "max_active", "session_seconds", "paused",
                 "opens_at", "closes_at", "state", "queued", "prequeued", "active",
                 "joined_total", "admitted_total"],
    "properties": {
        "room": {"type": "string"},
        "title": {"type": "string"},
        "rate_per_minute": {"type": "integer"},
        "max_active": {"type": "integer"},
        "session_seconds": {"type": "integer"},
        "idle_seconds": {"type": "integer", "description": "0: no idle limit"},
        "grace_seconds": {"type": "integer"},
        "paused": {"type": "boolean"},
        "closed": {"type": "boolean"},
        "opens_at": {"type": ["string", "null"], "format": "date-time"},
        "closes_at": {"type": ["string", "null"], "format": "date-time"},
        "state": {"enum": ["open", "prequeue", "paused", "closed"]},
        "mode": {"enum": ["queue", "passthrough", "queue_all"]},
        "paths": {"type": "array", "items": {"type": "string"}},
        "hosts": {"type": "array", "items": {"type": "string"}},
        "queued": {"type": "integer"},
        "prequeued": {"type": "integer"},
        "active": {"type": "integer"},
        "joined_total": {"type": "integer"},
        "admitted_total": {"type": "integer"},
        "expired_total": {"type": "integer"},
        "drained_total": {"type": "integer"},
        "breaker": {"type": "object", "properties": {
            "open": {"type": "boolean"}, "reason": {"type": ["string", "null"]},
            "since_ms": {"type": ["integer", "null"]}}},
        "adaptive": {"type": "object", "properties": {
            "enabled": {"type": "boolean"}, "min_rate": {"type": "integer"},
            "max_rate": {"type": "integer"}, "target_p95_ms": {"type": "integer"},
            "max_error_rate": {"type": "number"}}},
        "leader": {"type": ["string", "null"], "description": "the worker leading the room"},
        "effective_rate_per_minute": {
            "type": "number", "description": "admissions a minute the room can keep up: the "
            "smaller of rate_per_minute and max_active × 60 / typical_session_seconds; 0 "
            "while admission is held"},
        "pace_set_by": {"enum": LIMIT_NAMES, "description": "what sets the effective pace: "
                        "the rate, max_active, or what holds admission (sold out, closed with "
                        "nobody in line, paused, the backend breaker, not open yet)"},
        "pace": {"type": "string", "description": "the same in one sentence, for people"},
        "max_active_allows_per_minute": {
            "type": ["number", "null"], "description": "max_active × 60 / "
            "typical_session_seconds; null when sessions take no measurable time"},
        "typical_session_seconds": {
            "type": "number", "description": "the mean length of the sessions that ended "
            "(typical_session_measured), else the longest a session may last "
            "(session_seconds)"},
        "typical_session_measured": {"type": "boolean"},
        "sessions_measured_total": {"type": "integer", "description": "sessions that "
                                    "ended and were measured: by the site, idle or expired"},
        "line_held_by": {"enum": [*LIMIT_NAMES, None], "description": "what keeps the "
                         "head of the line waiting now: `max_active` when every slot is "
                         "taken, `rate` while slots are free; null when nobody waits"},
        "inventory_remaining": {"type": ["integer", "null"], "description": "places left "
                                "as the room's inventory source last reported; null when "
                                "it has none or nothing is known"},
        "inventory_source": {"type": ["string", "null"]},
        "sold_out": {"type": "boolean", "description": "the inventory source reports no "
                     "places left: admission stops"},
    },
}

ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"},
                   "reasons": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "what is wrong, per field"}},
}

AUDIT_ENTRY = {
    "type": "object",
    "properties": {
        "room": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string", "description": "who: a name and where from, 'config', "
                  "'breaker', or 'adaptive: <why>'"},
        "mode": {"enum": ["define", "change", "drain", "trip", "reset"]},
        "reason": {"type": "string"},
        "changes": {"type": "array", "description": "[field, old, new] per value changed",
                    "items": {"type": "array", "minItems": 3, "maxItems": 3}},
    },
}

SAMPLE = {
    "type": "object",
    "properties": {
        "t": {"type": "integer", "description": "ms since the epoch"},
        "waiting": {"type": "integer"}, "queued": {"type": "integer"},
        "prequeued": {"type": "integer"}, "active": {"type": "integer"},
        "admitted_total": {"type": "integer"},
        "rate": {"type": "integer", "description": "target admissions a minute"},
        "measured": {"type": ["number", "null"], "description": "admissions a minute, "
                     "measured while people waited"},
        "p95_ms": {"type": ["integer", "null"], "description": "backend p95, last 10 s"},
        "error_rate": {"type": "number"}, "answers": {"type": "integer"},
        "last_wait_s": {"type": "integer", "description": "wait of the last in line"},
        "breaker": {"type": "boolean"}, "paused": {"type": "boolean"},
        "adaptive": {"type": "string", "description": "adaptive admission's last decision"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    what = {401: "no or wrong credentials", 403: "a dashboard session's change without its "
            "CSRF token", 404: "unknown room", 413: "body too large", 415: "not JSON",
            422: "a bad value; `reasons` names each field; nothing was changed",
            503: "Redis unreachable; nothing was changed"}
    return {str(c): {"$ref": f"#/components/responses/E{c}"} if c in (401, 403, 503)
            else _json(ERROR, what[c]) for c in codes}


def document(rooms: Sequence[RoomConfig]) -> dict[str, Any]:
    room_param = {"name": "room", "in": "path", "required": True,
                  "schema": {"type": "string", "enum": [r.name for r in rooms]}}
    common = (401, 403, 503)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sluis admin API", "version": __version__,
                 "description": "Read and change waiting rooms; every change is audited."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": [], "csrf": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "SLUIS_ADMIN_TOKEN"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sluis_admin",
                            "description": "the dashboard's session, after signing in"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                         "description": "needed with the session cookie for any change"},
            },
            "schemas": {"Room": ROOM, "Change": CHANGE, "Error": ERROR,
                        "AuditEntry": AUDIT_ENTRY, "Sample": SAMPLE},
            "responses": {
                "E401": _json(ERROR, "no or wrong credentials"),
                "E403": _json(ERROR, "a dashboard session's change without its CSRF token"),
                "E503": _json(ERROR, "Redis unreachable; nothing was changed"),
            },
        },
        "paths": {
            "/_sluis/admin/api/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1"),
                              **_errors(*common)}}},
            "/_sluis/admin/api/rooms": {"get": {
                "operationId": "listRooms", "summary": "Every room, settings and live figures",
                "responses": {"200": _json({"type": "object", "properties": {
                    "rooms": {"type": "array", "items": {"$ref": "#/components/schemas/Room"}}}},
                    "the rooms"), **_errors(*common)}}},
            "/_sluis/admin/api/rooms/{room}": {
                "parameters": [room_param],
                "get": {"operationId": "getRoom", "summary": "One room",
                        "responses": {"200": _json({"$ref": "#/components/schemas/Room"},
                                                   "the room"), **_errors(*common, 404)}},
                "patch": {"operationId": "changeRoom",
                          "summary": "Change live settings; takes effect within one tick",
                          "requestBody": {"required": True, "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/Change"}}}},
                          "responses": {"200": _json({"$ref": "#/components/schemas/Room"},
                                                     "the room after the change"),
                                        **_errors(*common, 404, 413, 415, 422)}},
            },
            "/_sluis/admin/api/rooms/{room}/drain": {
                "parameters": [room_param],
                "post": {"operationId": "drainRoom",
                         "summary": "End every live session of the room (audited)",
                         "responses": {"200": _json({"type": "object", "properties": {
                             "room": {"type": "string"}, "ended": {"type": "integer"}}},
                             "how many sessions were ended"), **_errors(*common, 404)}}},
            "/_sluis/admin/api/rooms/{room}/series": {
                "parameters": [room_param, {
                    "name": "minutes", "in": "query", "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 60, "default": 60}}],
                "get": {"operationId": "roomSeries",
                        "summary": "The room's figures sampled every 10 s (last hour at most)",
                        "responses": {"200": _json({"type": "object", "properties": {
                            "room": {"type": "string"}, "now_ms": {"type": "integer"},
                            "samples": {"type": "array",
                                        "items": {"$ref": "#/components/schemas/Sample"}}}},
                            "samples, oldest first"), **_errors(*common, 404, 422)}}},
            "/_sluis/admin/api/audit": {"get": {
                "operationId": "audit", "summary": "Who changed what, when (newest first)",
                "parameters": [{"name": "limit", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 1000,
                                           "default": 100}}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "entries": {"type": "array",
                                "items": {"$ref": "#/components/schemas/AuditEntry"}}}},
                    "the audit trail"), **_errors(*common, 422)}}},
        },
    }
