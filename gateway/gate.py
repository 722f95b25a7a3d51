"""The gate: decides every request to the protected site.

A valid admission for this room and this visitor → forwarded to the backend
(join → wait → admitted → forwarded). Anything else → the visitor's place in the
queue, answered in place as the queue page (or JSON). Nothing reaches the backend
without an admission, whatever the method or the form of the path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from backends.admission import Admission
from gateway import metrics, proof
from gateway import status as status_mod
from gateway.forwarding import ForwardedAnswer, jar_for_backend
from gateway.http import (
    NO_STORE,
    Headers,
    Network,
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
from gateway.i18n import language_of
from gateway.pages import ARRIVING_REFRESH, PREFS_PATH, REFRESH_COOKIE, Pages, security_headers
from gateway.rooms import RoomConfig
from gateway.routes.prefs import prefs
from gateway.routing import FreePasses, Refusal, Rooms, free_pass
from gateway.sharing import Sharing
from gateway.store import Code, Store, StoreUnavailable
from gateway.tickets import (
    ADMISSION_COOKIE,
    EXIT_COOKIE,
    VISITOR_COOKIE,
    Tickets,
    new_visitor_id,
)
from gateway.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("sluis.gate")

VISITOR_MAX_AGE = 86_400
RETRY_AFTER_UNAVAILABLE = 5
SESSION_END_HEADER = b"sluis-session"
# How long a session end that found Redis away is tried again (a session lasts no longer).
PENDING_END_SECONDS = 3600
ADMISSION_HEADER = b"sluis-admission"
# Sessions that ended (seen here, or published by any process: Store.follow_ends),
# remembered so that their admission cookies are refused at once, not at their renewal.
ENDED_MEMORY = 100_000
# Marks a request that holds its admission's place in flight already.
SHARING_HELD = "sluis.sharing"


@dataclass(frozen=True, slots=True)
class Watch:
    """What a room's forwarded answers are searched for: its end_on markers, then the
    inventory's sold-out marker (at index `sold_out`, -1 when it has none). Any of them
    ends the session: whoever reads "thank you" or "sold out" is done with the site."""

    markers: tuple[bytes, ...]
    sold_out: int

    @classmethod
    def of(cls, room: RoomConfig) -> Watch | None:
        markers = [m.encode() for m in room.end_on.markers]
        marker = room.inventory.marker if room.inventory else None
        sold_out = -1
        if marker:
            sold_out = len(markers)
            markers.append(marker.encode())
        return cls(tuple(markers), sold_out) if markers else None


class Gate:
    def __init__(self, *, store: Store, tickets: Tickets, rooms: Rooms, backend: ASGIApp,
                 sluis: ASGIApp, pages: Pages, trusted_proxies: Sequence[Network],
                 renew_every: int,
                 backends: Mapping[str, ASGIApp] | None = None,
                 sharing: Sharing | None = None) -> None:
        self.store = store
        self.tickets = tickets
        self.rooms = rooms
        self.backend = backend
        # Each room's own backend (behind its in-flight cap); `backend` for any other.
        self.backends = dict(backends or {})
        self._renewed: dict[tuple[str, str], float] = {}
        self._ended: dict[tuple[str, str], float] = {}
        self._drained: dict[str, float] = {}  # room -> when all its sessions were ended
        # Sessions the site ended (here or published by any process), with when and the
        # path whose answer ended them: that page may still be read for the room's
        # exit_seconds without the exit cookie (pass_out), for an end found in the body.
        self._exits: dict[tuple[str, str], tuple[float, str]] = {}
        self._watch = {r.name: w for r in rooms.rooms if (w := Watch.of(r)) is not None}
        self._pending_ends: set[tuple[str, str]] = set()
        self._ending: asyncio.Task[None] | None = None
        self.sluis = sluis
        self.pages = pages
        self.trusted = trusted_proxies
        self.renew_every = renew_every
        self.free_passes = FreePasses(tickets)
        self.sharing = sharing  # an admission is one person's (gateway/sharing.py)

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
            if path == PREFS_PATH and kind == "http":
                await prefs(scope, receive, send)
                return
            await self.sluis(scope, receive, with_security_headers(scope, send))
            return
        room = self.rooms.for_scope(scope)
        if isinstance(room, Refusal):
            await room(scope, receive, send)  # a Host no room takes, an ambiguous path
            return
        why = free_pass(room, scope, self.trusted)
        if why is not None:
            # Operators, health checks, a room in passthrough: counted, never queued.
            metrics.join_counted(room.name, why)
            token, free = self.free_passes.token(room.name, why)
            await self.forward(scope, receive, send, room, why, free, [], token)
            return
        jar = cookies(scope["headers"])
        visitor = self.tickets.visitor_from_cookie(jar.get(VISITOR_COOKIE))
        admission = self.tickets.admission_for(jar.get(ADMISSION_COOKIE), room.name, visitor)
        if ADMISSION_COOKIE in jar:
            metrics.token_checked("valid" if admission else "invalid")
        if admission is not None and visitor is not None:
            await self.admitted(scope, receive, send, room, visitor, admission, [])
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if visitor is not None and EXIT_COOKIE in jar and self._may_leave(
                scope, room, visitor, jar[EXIT_COOKIE]):
            await self.pass_out(scope, receive, send, room, visitor)
            return
        await self.wait(scope, receive, send, room, visitor)

    # -- waiting ------------------------------------------------------------------

    async def wait(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                   visitor: str | None, extra: Headers | None = None) -> None:
        """`extra`: headers for the answer (an ended admission's cleared cookie)."""
        secure = scope.get("scheme") == "https"
        extra = [] if extra is None else extra
        head_only = scope["method"] == "HEAD"
        as_json = wants_json(scope["headers"])
        guard = security_headers(secure, beside_no_store=True)
        if visitor is None:
            # A cookie now, a place when the browser brings it back: a client that
            # drops cookies (a bot) gets a page on every request and never a place.
            visitor = new_visitor_id()
            extra.append((b"set-cookie", set_cookie(
                VISITOR_COOKIE, self.tickets.visitor_cookie(visitor),
                max_age=VISITOR_MAX_AGE, secure=secure)))
            metrics.join_counted(room.name, "arriving")
            await self.arriving(scope, send, room, visitor, as_json, head_only, extra)
            return
        address = client_address(scope.get("client"), scope["headers"], self.trusted)
        try:
            if room.join_proof_bits:
                # A room with proof-of-work: a place only through the page's status
                # call that carries the proof; here, only the place already held.
                snap, place = await self.store.status(room.name, visitor)
            else:
                snap, place = await self.store.join(room.name, visitor, address,
                                                    may_pass=room.route.may_pass_when_idle)
        except StoreUnavailable:
            metrics.REDIS_ERRORS.inc()
            metrics.join_counted(room.name, "unavailable")
            await self.unavailable(send, room, as_json, head_only, extra, scope)
            return
        if place.code == Code.NONE and not snap.settings.closed and room.join_proof_bits:
            metrics.join_counted(room.name, "no_proof")
            await self.arriving(scope, send, room, visitor, as_json, head_only, extra)
            return
        if place.code == Code.ADMITTED:
            metrics.join_counted(room.name, "admitted")
            seconds = snap.settings.first_window
            token = self.tickets.admission.issue(room.name, visitor, seconds)
            extra.append((b"set-cookie", set_cookie(
                ADMISSION_COOKIE, token, max_age=seconds, secure=secure)))
            admission = self.tickets.admission.check(token)
            assert admission is not None
            await self.admitted(scope, receive, send, room, visitor, admission, extra, token)
            return
        if place.code == Code.LIMITED:
            metrics.join_counted(room.name, "limited")
            if as_json:
                body = orjson.dumps(status_mod.too_many_joins(room.name))
                top = [(b"content-type", b"application/json"), *NO_STORE, *guard]
            else:
                lang, refresh = page_choices(scope)
                body = self.pages.limited(room, status_mod.LIMITED_RETRY, _self_url(scope),
                                          lang, refresh)
                top = self.pages.headers(room, lang, secure)
            await respond(send, 429, body, [*top, status_mod.LIMITED_RETRY_HEADER, *extra],
                          head_only)
            return
        metrics.join_counted(room.name, place.code.name.lower())
        lang, refresh = page_choices(scope) if room.inventory or not as_json else ("nl", True)
        st = status_mod.build(room.name, room.tz, snap, place, inventory=room.inventory,
                              lang=lang)
        if as_json:
            await respond_json(send, 200, st.as_json(), [*guard, *extra], head_only)
        else:
            body = self.pages.queue(st, room, _self_url(scope), lang, refresh)
            await respond(send, 200, body, [*self.pages.headers(room, lang, secure), *extra],
                          head_only)

    async def arriving(self, scope: Scope, send: Send, room: RoomConfig, visitor: str,
                       as_json: bool, head_only: bool, extra: Headers) -> None:
        """The answer without a place: the page (or JSON) that sends the cookie back at
        once, with the visitor's proof-of-work challenge in a room that asks for one."""
        secure = scope.get("scheme") == "https"
        now_ms = int(time.time() * 1000)
        bits = room.join_proof_bits
        challenge = proof.challenge(self.tickets.proof_key, room.name, visitor) if bits else ""
        if as_json:
            body = status_mod.without_place(room.name, room.tz, now_ms, ARRIVING_REFRESH)
            if bits:
                body["proof"] = {"challenge": challenge, "bits": bits}
            await respond_json(send, 200, body,
                               [*security_headers(secure, beside_no_store=True), *extra],
                               head_only)
            return
        lang, refresh = page_choices(scope)
        page = self.pages.arriving(room, _self_url(scope), now_ms, lang, refresh,
                                   challenge, bits)
        await respond(send, 200, page, [*self.pages.headers(room, lang, secure), *extra],
                      head_only)

    async def unavailable(self, send: Send, room: RoomConfig, as_json: bool, head_only: bool,
                          extra: Headers, scope: Scope) -> None:
        retry = [(b"retry-after", str(RETRY_AFTER_UNAVAILABLE).encode())]
        secure = scope.get("scheme") == "https"
        if as_json:
            await respond_json(send, 503, {
                "room": room.name, "error": "unavailable", "keep_page_open": True,
                "poll_after_seconds": RETRY_AFTER_UNAVAILABLE},
                [*security_headers(secure, True), *retry, *extra], head_only)
            return
        lang, refresh = page_choices(scope)
        body = self.pages.unavailable(room, RETRY_AFTER_UNAVAILABLE, _self_url(scope), lang,
                                      refresh)
        await respond(send, 503, body, [*self.pages.headers(room, lang, secure), *retry, *extra],
                      head_only)

    # -- admitted -----------------------------------------------------------------

    async def admitted(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                       visitor: str, admission: Admission, extra: Headers,
                       token: str | None = None) -> None:
        """A visitor's admission, from its cookie or just made, held to what one person
        does (gateway/sharing.py) before `forward`; refused there, it is answered there."""
        sharing = self.sharing
        if sharing is None or SHARING_HELD in scope:  # (an ended cookie, admitted anew)
            await self.forward(scope, receive, send, room, visitor, admission, extra, token)
            return
        use = sharing.enter(room.name, visitor, scope) or await sharing.settle(
            scope, send, room.name, visitor)
        if use is None:
            return
        scope[SHARING_HELD] = True
        try:
            await self.forward(scope, receive, send, room, visitor, admission, extra, token)
        finally:
            sharing.leave(use)

    def _due_for_renewal(self, room: str, visitor: str) -> bool:
        """At most one renewal per visitor per `renew_every` in this process, also for a
        client that ignores the renewed cookie and keeps sending the old token."""
        now = time.monotonic()
        key = (room, visitor)
        last = self._renewed.get(key)
        if last is not None and now - last < self.renew_every:
            return False
        if len(self._renewed) >= 100_000:
            self._renewed.clear()
        self._renewed[key] = now
        return True

    async def forward(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                      visitor: str, admission: Admission, extra: Headers,
                      token: str | None = None) -> None:
        secure = scope.get("scheme") == "https"
        if token is None and (self._ended or self._drained):
            gone = max(self._ended.get((room.name, visitor), 0.0),
                       self._drained.get(room.name, 0.0))
            if admission.issued_at <= gone:
                # This session ended: its cookie no longer lets anyone in. Right after the
                # site ended it, its confirmation may still be read (pass_out).
                if self._may_leave(scope, room, visitor):
                    await self.pass_out(scope, receive, send, room, visitor)
                    return
                extra.append((b"set-cookie", clear_cookie(ADMISSION_COOKIE, secure=secure)))
                await self.wait(scope, receive, send, room, visitor, extra)
                return
        if token is None and time.time() - admission.issued_at >= self.renew_every \
                and self._due_for_renewal(room.name, visitor):
            try:
                seconds = await self.store.renew(room.name, visitor)
            except StoreUnavailable:
                metrics.REDIS_ERRORS.inc()
                seconds = -1  # Redis is away: the token alone keeps the visitor in
            if seconds == 0:
                # The session ended (expired, drained, or ended by the backend): its
                # cookie is refused here from now on, not only at the next renewal.
                self._remember_end(room.name, visitor)
                extra.append((b"set-cookie", clear_cookie(ADMISSION_COOKIE, secure=secure)))
                await self.wait(scope, receive, send, room, visitor, extra)
                return
            if seconds > 0:
                token = self.tickets.admission.issue(room.name, visitor, seconds)
                extra.append((b"set-cookie", set_cookie(
                    ADMISSION_COOKIE, token, max_age=seconds, secure=secure)))
        scope = dict(scope, headers=_for_backend(scope["headers"], token))
        # One send layer counts the answer, handles `Sluis-Session: end` and adds `extra`
        # and the request id (gateway/forwarding.py).
        answer = ForwardedAnswer(send, room.name, extra, secure)
        name = room.name
        if room.exit_seconds:
            answer.exit = functools.partial(self._exit_header, room, visitor, secure)
        if room.end_on.ends_at(scope["path"]):
            answer.end()
        watch = self._watch.get(name)
        if watch is not None:
            answer.watch(watch.markers)
        metrics.backend_started(name)
        started = time.perf_counter()
        try:
            await self.backends.get(name, self.backend)(scope, receive, answer)
        finally:
            metrics.backend_finished(name, time.perf_counter() - started)
        ended = answer.ended
        if watch is not None and answer.found:
            found = answer.found
            if watch.sold_out in found:
                await self._sold_out(room)
            ended = True
        if ended:
            self._remember_end(room.name, visitor, scope["path"])
            try:
                await self.store.end_session(room.name, visitor, scope["path"])
            except StoreUnavailable:
                metrics.REDIS_ERRORS.inc()
                self._end_later(room.name, visitor)

    def _remember_end(self, room: str, visitor: str, path: str | None = None) -> None:
        """`path`: the site ended the session (not an expiry or a drain) with its answer
        to this path, which the visitor may still read (pass_out)."""
        if len(self._ended) >= ENDED_MEMORY:
            self._ended.clear()
            self._exits.clear()
        now = time.time()
        self._ended[(room, visitor)] = now
        if path is not None:
            self._exits[(room, visitor)] = (now, path)

    def session_ended(self, room: str, visitor: str, path: str = "") -> None:
        """A session end published by any process (visitor "*": the room was drained;
        one visitor: the site ended it, answering `path`). Admissions issued until now,
        by this clock, no longer let anyone in."""
        if visitor == "*":
            self._drained[room] = time.time()
        else:
            self._remember_end(room, visitor, path)

    # -- leaving ------------------------------------------------------------------

    def _exit_header(self, room: RoomConfig, visitor: str, secure: bool
                     ) -> tuple[bytes, bytes]:
        value = self.tickets.exit_cookie(room.name, visitor)
        return (b"set-cookie", set_cookie(EXIT_COOKIE, value, max_age=room.exit_seconds,
                                          secure=secure))

    def _may_leave(self, scope: Scope, room: RoomConfig, visitor: str,
                   exit_cookie: str | None = None) -> bool:
        """A GET or HEAD of a visitor whose session the site ended less than the room's
        exit_seconds ago: by the exit pass cookie, which only the browser that received
        the ending answer holds; or, for the page that ended it alone, by the memory of
        the end (one found in the answer's body, when no cookie could be set). A copied
        cookie pair gets neither: after an end it reaches nothing new."""
        if not room.exit_seconds or scope["method"] not in ("GET", "HEAD"):
            return False
        ended = self._exits.get((room.name, visitor))
        if (ended is not None and scope["path"] == ended[1]
                and time.time() - ended[0] < room.exit_seconds):
            return True
        if exit_cookie is None:
            exit_cookie = cookies(scope["headers"]).get(EXIT_COOKIE)
        return self.tickets.exit_for(exit_cookie, room.name, visitor, room.exit_seconds)

    async def pass_out(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                       visitor: str) -> None:
        """The way out: the confirmation the site answered when it ended the session, its
        redirect and a reload of it, without a place and outside max_active. Reading
        only (GET and HEAD), and only for the room's exit_seconds; the backend still gets
        a signed Sluis-Admission, as short-lived."""
        token = self.tickets.admission.issue(room.name, visitor, room.exit_seconds)
        scope = dict(scope, headers=_for_backend(scope["headers"], token))
        answer = ForwardedAnswer(send, room.name, [], scope.get("scheme") == "https")
        metrics.backend_started(room.name)
        started = time.perf_counter()
        try:
            await self.backends.get(room.name, self.backend)(scope, receive, answer)
        finally:
            metrics.backend_finished(room.name, time.perf_counter() - started)

    async def _sold_out(self, room: RoomConfig) -> None:
        """The shop's sold-out text was seen: admissions stop, waiting visitors are told."""
        inventory = room.inventory
        assert inventory is not None
        try:
            if await self.store.set_inventory(room.name, 0, "marker",
                                              hold_ms=inventory.marker_hold_seconds * 1000):
                log.warning("sold out: the shop's marker was seen", extra={"room": room.name})
        except StoreUnavailable:
            metrics.REDIS_ERRORS.inc()

    def _end_later(self, room: str, visitor: str) -> None:
        """A session end that found Redis away (a restart, a failover) is tried again
        until Redis is back, so the slot still goes to the next in line."""
        log.warning("session end postponed: redis unavailable", extra={"room": room})
        self._pending_ends.add((room, visitor))
        if self._ending is None or self._ending.done():
            self._ending = asyncio.get_running_loop().create_task(self._retry_ends())

    async def _retry_ends(self) -> None:
        deadline = time.monotonic() + PENDING_END_SECONDS
        while self._pending_ends and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            for room, visitor in list(self._pending_ends):
                try:
                    await self.store.end_session(room, visitor)
                except StoreUnavailable:
                    break  # still away: wait and try them all again
                self._pending_ends.discard((room, visitor))
        if self._pending_ends:
            # Past this the sessions have expired on their own anyway.
            log.warning("session ends dropped", extra={"count": len(self._pending_ends)})
            self._pending_ends.clear()


def page_choices(scope: Scope) -> tuple[str, bool]:
    """The visitor's language and whether the page may refresh itself."""
    jar = cookies(scope["headers"])
    return language_of(scope["headers"], jar), jar.get(REFRESH_COOKIE) != "off"


def with_security_headers(scope: Scope, send: Send) -> Send:
    """Adds the security headers to an answer of Sluis's own that lacks them."""
    guard = security_headers(scope.get("scheme") == "https")

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            missing = [h for h in guard if h[0] not in present]
            if missing:
                message = dict(message, headers=[*message.get("headers", []), *missing])
        await send(message)

    return sending


def _self_url(scope: Scope) -> str:
    query: bytes = scope.get("query_string", b"")
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    # One leading slash only: "//host/x" in a link would leave the site.
    path = "/" + raw.decode("latin-1").lstrip("/")
    return path + ("?" + query.decode("latin-1") if query else "")


def _for_backend(headers: Headers, token: str | None) -> Headers:
    """The request's headers as the backend gets them, in one pass: the gateway's own
    cookies stay with it, and `Sluis-Admission` is the gateway's, never the client's.
    Without `token`, the admission cookie's value (the first one, as `cookies` reads
    it) is sent."""
    out: Headers = []
    found = token.encode() if token is not None else None
    for k, v in headers:
        if k == b"cookie":
            if b"sluis_" in v:
                kept, admission = jar_for_backend(v)
                if kept is not None:
                    out.append((k, kept))
                if found is None:
                    found = admission
            else:
                out.append((k, v))
        elif k != ADMISSION_HEADER:
            out.append((k, v))
    out.append((ADMISSION_HEADER, found or b""))
    return out
