"""GET /_sluis/status: the visitor's state as JSON. The hot path of a waiting room:
pure ASGI, one coalesced store call, no cookie written unless the visitor was admitted."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from gateway import metrics
from gateway import status as status_mod
from gateway.http import cookies, respond_json, set_cookie
from gateway.pages import security_headers
from gateway.routing import Rooms
from gateway.store import Store, StoreUnavailable
from gateway.tickets import ADMISSION_COOKIE, VISITOR_COOKIE, Tickets
from gateway.types import Receive, Scope, Send


class StatusRoute:
    def __init__(self, store: Store, tickets: Tickets, rooms: Rooms) -> None:
        self.store = store
        self.tickets = tickets
        self.rooms = rooms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head_only = scope["method"] == "HEAD"
        guard = security_headers(scope.get("scheme") == "https", beside_no_store=True)
        if scope["method"] not in ("GET", "HEAD"):
            await respond_json(send, 405, {"error": "method_not_allowed"},
                               [*guard, (b"allow", b"GET, HEAD")])
            return
        query = scope.get("query_string", b"")
        name = None
        if query.startswith(b"room=") and b"&" not in query and b"%" not in query:
            name = query[5:].decode("latin-1")  # the usual form, without parsing
        elif query:
            values = parse_qs(query.decode("latin-1")).get("room")
            name = values[0] if values else None
        room = self.rooms.by_name(name)
        if room is None:
            await respond_json(send, 404, {"error": "unknown_room"}, guard, head_only)
            return
        jar = cookies(scope["headers"])
        visitor = self.tickets.visitor_from_cookie(jar.get(VISITOR_COOKIE))
        if visitor is None:
            body = status_mod.without_place(room.name, room.tz, int(time.time() * 1000))
            await respond_json(send, 200, body, guard, head_only)
            return
        try:
            snap, place = await self.store.status(room.name, visitor)
        except StoreUnavailable:
            metrics.REDIS_ERRORS.inc()
            await respond_json(send, 503, {
                "room": room.name, "error": "unavailable", "keep_page_open": True,
                "poll_after_seconds": 5}, [*guard, (b"retry-after", b"5")], head_only)
            return
        st = status_mod.build(room.name, room.tz, snap, place)
        extra = list(guard)
        if st.state is status_mod.State.ADMITTED and self.tickets.admission_for(
                jar.get(ADMISSION_COOKIE), room.name, visitor) is None:
            seconds = snap.settings.session_seconds
            token = self.tickets.admission.issue(room.name, visitor, seconds)
            extra.append((b"set-cookie", set_cookie(
                ADMISSION_COOKIE, token, max_age=seconds, secure=scope.get("scheme") == "https")))
        await respond_json(send, 200, st.as_json(), extra, head_only)
