"""The gate: decides every request to the protected site.

A valid admission for this room and this visitor → forwarded to the backend
(join → wait → admitted → forwarded). Anything else → the visit decides where the
visitor stands (gateway/visit.py), answered in place as the queue page or JSON
(gateway/answers.py). Nothing reaches the backend without an admission, whatever the
method or the form of the path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from backends.admission import Admission
from gateway import metrics
from gateway.answers import Answers, admission_cookie
from gateway.common.memo import Memo
from gateway.forwarding import ForwardedAnswer, jar_for_backend
from gateway.http import (
    Headers,
    Network,
    clear_cookie,
    client_address,
    cookies,
    set_cookie,
    wants_json,
)
from gateway.passes import (
    ADMISSION_COOKIE,
    EXIT_COOKIE,
    VISITOR_COOKIE,
    Passes,
)
from gateway.rooms import RoomConfig
from gateway.routing import FreePasses, Refusal, Rooms, free_pass
from gateway.sharing import Sharing
from gateway.store import Store, StoreUnavailable
from gateway.types import ASGIApp, Receive, Scope, Send
from gateway.visit import Admitted, visit

log = logging.getLogger("sluis.gate")

SESSION_END_HEADER = b"sluis-session"
# How long a session end that found Redis away is tried again (a session lasts no longer).
PENDING_END_SECONDS = 3600
ADMISSION_HEADER = b"sluis-admission"
# Sessions that ended (seen here, or published by any process: Store.follow_ends),
# remembered so that their admission cookies are refused at once, not at their renewal.
ENDED_MEMORY = 100_000
# Visitors whose session was slid forward lately (at most once per `renew_every` each).
RENEWED_MEMORY = 100_000
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
    def __init__(self, *, store: Store, passes: Passes, rooms: Rooms, backend: ASGIApp,
                 answers: Answers, trusted_proxies: Sequence[Network],
                 renew_every: int,
                 backends: Mapping[str, ASGIApp] | None = None,
                 sharing: Sharing | None = None) -> None:
        self.store = store
        self.passes = passes
        self.rooms = rooms
        self.backend = backend
        # Each room's own backend (behind its in-flight cap); `backend` for any other.
        self.backends = dict(backends or {})
        self._renewed: Memo[tuple[str, str], float] = Memo(RENEWED_MEMORY)
        self._ended: Memo[tuple[str, str], float] = Memo(ENDED_MEMORY)
        self._drained: dict[str, float] = {}  # room -> when all its sessions were ended
        # Sessions the site ended (here or published by any process), with when and the
        # path whose answer ended them: that page may still be read for the room's
        # exit_seconds without the exit cookie (pass_out), for an end found in the body.
        # Forgotten with the ends they belong to.
        self._exits: Memo[tuple[str, str], tuple[float, str]] = Memo(ENDED_MEMORY)
        self._watch = {room.name: watch for room in rooms.rooms
                       if (watch := Watch.of(room)) is not None}
        self._pending_ends: set[tuple[str, str]] = set()
        self._ending: asyncio.Task[None] | None = None
        self.answers = answers
        self.trusted = trusted_proxies
        self.renew_every = renew_every
        self.free_passes = FreePasses(passes)
        self.sharing = sharing  # an admission is one person's (gateway/sharing.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request for the protected site (http or websocket; never a /_sluis/ path)."""
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
        visitor = self.passes.visitor_from_cookie(jar.get(VISITOR_COOKIE))
        admission = self.passes.admission_for(jar.get(ADMISSION_COOKIE), room.name, visitor)
        if ADMISSION_COOKIE in jar:
            metrics.token_checked("valid" if admission else "invalid")
        if admission is not None and visitor is not None:
            await self.admitted(scope, receive, send, room, visitor, admission, [])
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if visitor is not None and EXIT_COOKIE in jar and self._may_leave(
                scope, room, visitor, jar[EXIT_COOKIE]):
            await self.pass_out(scope, receive, send, room, visitor)
            return
        await self.wait(scope, receive, send, room, visitor)

    async def wait(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                   visitor: str | None, extra: Headers | None = None) -> None:
        """No admission: the visit decides (gateway/visit.py); let in at once, or the
        queue page. `extra`: headers for the answer (an ended admission's cleared cookie)."""
        extra = [] if extra is None else extra
        address = client_address(scope.get("client"), scope["headers"], self.trusted) \
            if visitor is not None else None
        outcome = await visit(self.store, self.passes, room, visitor, address, page=True)
        if isinstance(outcome, Admitted):
            # Let in now; no admission went along to `visit`, so its token is a new one.
            token = outcome.token
            assert token is not None and visitor is not None
            extra.append(admission_cookie(token, outcome.seconds, scope.get("scheme") == "https"))
            admission = self.passes.admission.check(token)
            assert admission is not None
            await self.admitted(scope, receive, send, room, visitor, admission, extra, token)
            return
        await self.answers.send(scope, send, room, outcome, wants_json(scope["headers"]), extra)

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
        self._renewed.put(key, now)
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
                token = self.passes.admission.issue(room.name, visitor, seconds)
                extra.append(admission_cookie(token, seconds, secure))
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
        key = (room, visitor)
        if len(self._ended) >= ENDED_MEMORY and key not in self._ended:
            self._exits.clear()  # the ends are forgotten next (Memo.put), their exits now
        now = time.time()
        self._ended.put(key, now)
        if path is not None:
            self._exits.put(key, (now, path))

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
        value = self.passes.exit_cookie(room.name, visitor)
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
        return self.passes.exit_for(exit_cookie, room.name, visitor, room.exit_seconds)

    async def pass_out(self, scope: Scope, receive: Receive, send: Send, room: RoomConfig,
                       visitor: str) -> None:
        """The way out: the confirmation the site answered when it ended the session, its
        redirect and a reload of it, without a place and outside max_active. Reading
        only (GET and HEAD), and only for the room's exit_seconds; the backend still gets
        a signed Sluis-Admission, as short-lived."""
        token = self.passes.admission.issue(room.name, visitor, room.exit_seconds)
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


def _for_backend(headers: Headers, token: str | None) -> Headers:
    """The request's headers as the backend gets them, in one pass: the gateway's own
    cookies stay with it, and `Sluis-Admission` is the gateway's, never the client's.
    Without `token`, the admission cookie's value (the first one, as `cookies` reads
    it) is sent."""
    out: Headers = []
    found = token.encode() if token is not None else None
    for name, value in headers:
        if name == b"cookie":
            if b"sluis_" in value:
                kept, admission = jar_for_backend(value)
                if kept is not None:
                    out.append((name, kept))
                if found is None:
                    found = admission
            else:
                out.append((name, value))
        elif name != ADMISSION_HEADER:
            out.append((name, value))
    out.append((ADMISSION_HEADER, found or b""))
    return out
