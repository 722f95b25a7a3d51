"""GET /_sluis/status: the visitor's state as JSON. The hot path of a waiting room:
pure ASGI, one coalesced store call, no cookie written unless the visitor was admitted.

The queue page's first answer only hands out the visitor cookie; the place is made by
the next request that brings it back: the page's first status call, which asks for it
with `join=1`, or the page's refresh. A client that never keeps the cookie never gets
a place. Without `join=1` the status call only looks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import parse_qs

from gateway import metrics, proof
from gateway import status as status_mod
from gateway.http import Network, client_address, cookies, respond_json, set_cookie
from gateway.i18n import language_of
from gateway.pages import security_headers
from gateway.routing import Rooms
from gateway.store import Code, Store, StoreUnavailable
from gateway.tickets import ADMISSION_COOKIE, VISITOR_COOKIE, Tickets
from gateway.types import Receive, Scope, Send


class StatusRoute:
    def __init__(self, store: Store, tickets: Tickets, rooms: Rooms,
                 trusted_proxies: Sequence[Network] = ()) -> None:
        self.store = store
        self.trusted = trusted_proxies
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
        join = False
        nonce = ""
        if query.startswith(b"room=") and b"&" not in query and b"%" not in query:
            name = query[5:].decode("latin-1")  # the usual form, without parsing
        elif query:
            fields = parse_qs(query.decode("latin-1"))
            values = fields.get("room")
            name = values[0] if values else None
            join = fields.get("join") == ["1"]
            nonce = fields.get("proof", [""])[0]
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
            if join and place.code == Code.NONE and not snap.settings.closed:
                # The queue page's first call, bringing back the cookie the page came
                # with: this is where a new visitor's place is made (idempotent, like
                # every join). Without `join=1` a lost place shows as "none".
                bits = room.join_proof_bits
                if bits:
                    # This room asks for proof-of-work first: the page solves the
                    # challenge it came with and sends the nonce along.
                    challenge = proof.challenge(self.tickets.proof_key, room.name, visitor)
                    if not proof.verify(challenge, nonce, bits):
                        metrics.join_counted(room.name, "no_proof")
                        await respond_json(send, 403, {
                            "room": room.name, "error": "proof_required",
                            "proof": {"challenge": challenge, "bits": bits}},
                            guard, head_only)
                        return
                address = client_address(scope.get("client"), scope["headers"], self.trusted)
                snap, place = await self.store.join(room.name, visitor, address,
                                                    may_pass=room.route.may_pass_when_idle)
                metrics.join_counted(room.name, place.code.name.lower())
                if place.code == Code.LIMITED:
                    await respond_json(send, 429, status_mod.too_many_joins(room.name),
                                       [*guard, status_mod.LIMITED_RETRY_HEADER], head_only)
                    return
        except StoreUnavailable:
            metrics.REDIS_ERRORS.inc()
            await respond_json(send, 503, {
                "room": room.name, "error": "unavailable", "keep_page_open": True,
                "poll_after_seconds": 5}, [*guard, (b"retry-after", b"5")], head_only)
            return
        st = status_mod.build(room.name, room.tz, snap, place, inventory=room.inventory,
                              lang=language_of(scope["headers"], jar) if room.inventory else "nl")
        extra = list(guard)
        if st.state is status_mod.State.ADMITTED and self.tickets.admission_for(
                jar.get(ADMISSION_COOKIE), room.name, visitor) is None:
            seconds = snap.settings.first_window
            token = self.tickets.admission.issue(room.name, visitor, seconds)
            extra.append((b"set-cookie", set_cookie(
                ADMISSION_COOKIE, token, max_age=seconds, secure=scope.get("scheme") == "https")))
        await respond_json(send, 200, st.as_json(), extra, head_only)
