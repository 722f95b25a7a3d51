"""GET /_sluis/status: the queue page's poll, the hot path of a waiting room. Pure ASGI,
one coalesced store call, always JSON, no cookie written unless the visitor was admitted.

The queue page's first answer only hands out the visitor cookie; the place is made by
the next request that brings it back: the page's first poll, which asks for it with
`join=1` (and `proof=` in a room with proof-of-work), or the page's refresh. A client
that never keeps the cookie never gets a place. Without `join=1` the poll only looks."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs

from gateway.answers import Answers
from gateway.http import Network, client_address, cookies, respond, respond_json
from gateway.pages import security_headers
from gateway.passes import ADMISSION_COOKIE, VISITOR_COOKIE, Passes
from gateway.routing import Rooms
from gateway.store import Store
from gateway.types import Receive, Scope, Send
from gateway.visit import visit


class Poll:
    def __init__(self, store: Store, passes: Passes, rooms: Rooms, answers: Answers,
                 trusted_proxies: Sequence[Network] = ()) -> None:
        self.store = store
        self.passes = passes
        self.rooms = rooms
        self.answers = answers
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await respond_json(send, 405, {"error": "method_not_allowed"}, [
                *security_headers(scope.get("scheme") == "https", beside_no_store=True),
                (b"allow", b"GET, HEAD")])
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
            await respond_json(send, 404, {"error": "unknown_room"}, security_headers(
                scope.get("scheme") == "https", beside_no_store=True), method == "HEAD")
            return
        headers = scope["headers"]
        jar = cookies(headers)
        visitor = self.passes.visitor_from_cookie(jar.get(VISITOR_COOKIE))
        address = client_address(scope.get("client"), headers, self.trusted) if join else None
        outcome = await visit(self.store, self.passes, room, visitor, address, join=join,
                              nonce=nonce, admission=jar.get(ADMISSION_COOKIE))
        status, body, answer = self.answers.render(scope, room, outcome, as_json=True)
        await respond(send, status, body, answer, method == "HEAD")
