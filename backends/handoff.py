"""`handoff`: send admitted visitors on to the upstream's own address, token in the URL.

Weak protection, said plainly: once a visitor knows the upstream's address, nothing
stops them (or whoever they share it with) from going there directly. Only a
receiving site that checks the token, once, turns it into a real gate.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from backends.admission import AdmissionCodec
from backends.base import Receive, Scope, Send
from backends.config import BackendConfig

ADMISSION_HEADER = b"sluis-admission"


class HandoffBackend:
    def __init__(self, room: str, config: BackendConfig, codec: AdmissionCodec) -> None:
        if not config.upstream:
            raise ValueError("a handoff backend needs an upstream address")
        self.room = room
        self.upstream = config.upstream.rstrip("/")
        self.param = config.handoff_param
        self.ttl = config.handoff_ttl_seconds
        self.codec = codec

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def location(self, scope: Scope, visitor: str) -> bytes:
        """The upstream address of this request, with a fresh single-use token."""
        token = self.codec.issue(self.room, visitor, self.ttl, nonce=secrets.token_urlsafe(12))
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        query = (query + "&" if query else "") + f"{quote(self.param)}={quote(token, safe='')}"
        return f"{self.upstream}{path}?{query}".encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        token = next((v for k, v in scope["headers"] if k == ADMISSION_HEADER), None)
        admission = self.codec.check(token, room=self.room)
        if admission is None:  # the gate always adds a valid one; refuse if it did not
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", self.location(scope, admission.visitor)),
            (b"cache-control", b"no-store"),
            # The token must not leak to other sites through the Referer header.
            (b"referrer-policy", b"no-referrer"),
            (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
