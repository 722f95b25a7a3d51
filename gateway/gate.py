"""The gate: decides every request to the protected site.

A valid admission for this room and this visitor → forwarded to the backend
(join → wait → admitted → forwarded). Anything else → the visitor's place in the
queue, answered in place as the queue page (or JSON). Nothing reaches the backend
without an admission, whatever the method or the form of the path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import orjson

from backends.admission import Admission
from gateway import metrics
from gateway import status as status_mod
from gateway.http import (
    HTML_TYPE,
    NO_STORE,
    Headers,
    canonical_path,
    clear_cookie,
    client_address,
    cookies,
    is_reserved,
    respond,
    respond_json,
    set_cookie,
    wants_json,
)
from gateway.pages import PAGE_HEADERS, SECURITY_HEADERS, Pages
from gateway.rooms import RoomConfig
from gateway.store import Code, Store, StoreUnavailable
from gateway.tickets import ADMISSION_COOKIE, VISITOR_COOKIE, Tickets, new_visitor_id
from gateway.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("sluis.gate")

VISITOR_MAX_AGE = 86_400
RETRY_AFTER_UNAVAILABLE = 5
SESSION_END_HEADER = b"sluis-session"
ADMISSION_HEADER = b"sluis-admission"


@dataclass(frozen=True, slots=True)
class Rooms:
    """Which room a request belongs to. One room serves every path for now."""

    rooms: tuple[RoomConfig, ...]

    def for_scope(self, scope: Scope) -> RoomConfig:
        return self.rooms[0]

    def by_name(self, name: str | None) -> RoomConfig | None:
        if name is None:
            return self.rooms[0]
        for room in self.rooms:
            if room.name == name:
                return room
        return None


class Gate:
    def __init__(self, *, store: Store, tickets: Tickets, rooms: Rooms, backend: ASGIApp,
                 sluis: ASGIApp, pages: Pages, trusted_proxies: list, renew_every: int) -> None:
        self.store = store
        self.tickets = tickets
        self.rooms = rooms
        self.backend = backend
        self.sluis = sluis
        self.pages = pages
        self.trusted = trusted_proxies
        self.renew_every = renew_every

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.sluis(scope, receive, send)
            return
        if kind not in ("http", "websocket"):
            return
        path = canonical_path(scope["path"])
        if is_reserved(path):
            scope = dict(scope, path=path)
            await self.sluis(scope, receive, send)
            return
        room = self.rooms.for_scope(scope)
        jar = cookies(scope["headers"])
        visitor = self.tickets.visitor_from_cookie(jar.get(VISITOR_COOKIE))
        admission = self.tickets.admission_for(jar.get(ADMISSION_COOKIE), room.name, visitor)
        if ADMISSION_COOKIE in jar:
            metrics.TOKEN_CHECKS.labels("valid" if admission else "invalid").inc()
        if admission is not None and visitor is not None:
            await self.forward(scope, receive, send, room, visitor, admission, [])
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.wait(scope, receive, send, room, visitor)

    # -- waiting ------------------------------------------------------------------

    async def wait(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                   visitor: str | None) -> None:
        secure = scope.get("scheme") == "https"
        extra: Headers = []
        if visitor is None:
            visitor = new_visitor_id()
            extra.append((b"set-cookie", set_cookie(
                VISITOR_COOKIE, self.tickets.visitor_cookie(visitor),
                max_age=VISITOR_MAX_AGE, secure=secure)))
        head_only = scope["method"] == "HEAD"
        as_json = wants_json(scope["headers"])
        address = client_address(scope.get("client"), scope["headers"], self.trusted)
        try:
            snap, place = await self.store.join(room.name, visitor, address)
        except StoreUnavailable:
            metrics.REDIS_ERRORS.inc()
            metrics.join_counted(room.name, "unavailable")
            await self.unavailable(send, room, as_json, head_only, extra, scope)
            return
        if place.code == Code.ADMITTED:
            metrics.join_counted(room.name, "admitted")
            token = self.tickets.admission.issue(room.name, visitor, snap.settings.session_seconds)
            extra.append((b"set-cookie", set_cookie(
                ADMISSION_COOKIE, token, max_age=snap.settings.session_seconds, secure=secure)))
            admission = self.tickets.admission.check(token)
            assert admission is not None
            await self.forward(scope, receive, send, room, visitor, admission, extra, token)
            return
        if place.code == Code.LIMITED:
            metrics.join_counted(room.name, "limited")
            body = (orjson.dumps({"room": room.name, "error": "too_many_joins",
                                  "retry_after_seconds": 60}) if as_json
                    else self.pages.limited(room.title, 60, scope["path"]))
            ctype = [(b"content-type", b"application/json")] if as_json else [HTML_TYPE]
            await respond(send, 429, body, [*ctype, *NO_STORE, *SECURITY_HEADERS,
                                            (b"retry-after", b"60"), *extra], head_only)
            return
        metrics.JOINS.labels(room.name, place.code.name.lower()).inc()
        st = status_mod.build(room.name, room.tz, snap, place)
        if as_json:
            await respond_json(send, 200, st.as_json(), extra, head_only)
        else:
            body = self.pages.queue(st, room.title, _self_url(scope))
            await respond(send, 200, body, [*PAGE_HEADERS, *extra], head_only)

    async def unavailable(self, send: Send, room: RoomConfig, as_json: bool, head_only: bool,
                          extra: Headers, scope: Scope) -> None:
        retry = [(b"retry-after", str(RETRY_AFTER_UNAVAILABLE).encode())]
        if as_json:
            await respond_json(send, 503, {
                "room": room.name, "error": "unavailable", "keep_page_open": True,
                "poll_after_seconds": RETRY_AFTER_UNAVAILABLE}, [*retry, *extra], head_only)
            return
        body = self.pages.unavailable(room.title, RETRY_AFTER_UNAVAILABLE, _self_url(scope))
        await respond(send, 503, body, [*PAGE_HEADERS, *retry, *extra], head_only)

    # -- admitted -----------------------------------------------------------------

    async def forward(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                      visitor: str, admission: Admission, extra: Headers,
                      token: str | None = None) -> None:
        secure = scope.get("scheme") == "https"
        if token is None and time.time() - admission.issued_at >= self.renew_every:
            try:
                seconds = await self.store.renew(room.name, visitor)
            except StoreUnavailable:
                metrics.REDIS_ERRORS.inc()
                seconds = -1  # Redis is away: the token alone keeps the visitor in
            if seconds == 0:
                # The session ended (expired, drained, or ended by the backend).
                extra.append((b"set-cookie", clear_cookie(ADMISSION_COOKIE, secure=secure)))
                await self.wait(scope, receive, send, room, visitor)
                return
            if seconds > 0:
                token = self.tickets.admission.issue(room.name, visitor, seconds)
                extra.append((b"set-cookie", set_cookie(
                    ADMISSION_COOKIE, token, max_age=seconds, secure=secure)))
        if token is None:
            token = _cookie_token(scope)
        headers = [(k, v) for k, v in scope["headers"] if k != ADMISSION_HEADER]
        headers.append((ADMISSION_HEADER, token.encode()))
        scope = dict(scope, headers=_without_sluis_cookies(headers))
        ended = False

        async def send_wrapper(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                metrics.BACKEND_REQUESTS.labels(room.name, str(message["status"])).inc()
                out = []
                for k, v in message.get("headers", []):
                    if k.lower() == SESSION_END_HEADER:
                        ended = ended or v.strip().lower() == b"end"
                    else:
                        out.append((k, v))
                if ended:
                    extra.append((b"set-cookie", clear_cookie(ADMISSION_COOKIE, secure=secure)))
                message = dict(message, headers=[*out, *extra])
            await send(message)

        metrics.BACKEND_INFLIGHT.labels(room.name).inc()
        started = time.perf_counter()
        try:
            await self.backend(scope, receive, send_wrapper)
        finally:
            metrics.BACKEND_INFLIGHT.labels(room.name).dec()
            metrics.BACKEND_SECONDS.observe(time.perf_counter() - started)
        if ended:
            try:
                await self.store.end_session(room.name, visitor)
            except StoreUnavailable:
                metrics.REDIS_ERRORS.inc()
                log.warning("could not end session: redis unavailable", extra={"room": room.name})


def _self_url(scope: Scope) -> str:
    query = scope.get("query_string", b"")
    path = scope.get("raw_path") or scope["path"].encode()
    # One leading slash only: "//host/x" in a link would leave the site.
    path = "/" + path.decode("latin-1").lstrip("/")
    return path + ("?" + query.decode("latin-1") if query else "")


def _cookie_token(scope: Scope) -> str:
    return cookies(scope["headers"]).get(ADMISSION_COOKIE, "")


def _without_sluis_cookies(headers: Headers) -> Headers:
    out: Headers = []
    for k, v in headers:
        if k == b"cookie":
            kept = [c for c in v.split(b";")
                    if not c.strip().startswith((b"sluis_visitor=", b"sluis_admission="))]
            if kept:
                out.append((k, b";".join(kept).strip()))
        else:
            out.append((k, v))
    return out
