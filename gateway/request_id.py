"""A short id per request: in the `X-Request-Id` answer header and every log line
written while the request is handled (a context variable, so concurrent requests
never mix their ids)."""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import secrets

from gateway.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)
HEADER = b"x-request-id"
# An id from a trusted load balancer is kept when it is short and plain.
_GIVEN = re.compile(rb"[A-Za-z0-9._-]{6,64}")
# Ids of our own: a random prefix per process and a counter, unique without a
# random draw on every request (the hot path answers thousands a second).
_PREFIX = secrets.token_hex(3)
_SEQUENCE = itertools.count(1)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record logged inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = REQUEST_ID.get()
        if rid is not None and not hasattr(record, "request_id"):
            record.request_id = rid
        return True


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        rid = given.decode() if given is not None and _GIVEN.fullmatch(given) \
            else f"{_PREFIX}{next(_SEQUENCE):x}"
        token = REQUEST_ID.set(rid)
        raw = rid.encode()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), (HEADER, raw)])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            REQUEST_ID.reset(token)
