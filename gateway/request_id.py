"""A short id per request: in the `X-Request-Id` answer header and every log line
written while the request is handled (a context variable, so concurrent requests
never mix their ids)."""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import secrets
from typing import Literal

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


def new_request_id(scope_headers: list[tuple[bytes, bytes]]) -> str:
    """The id a trusted balancer gave the request, if short and plain; else one of ours."""
    for k, v in scope_headers:
        if k == HEADER:
            if _GIVEN.fullmatch(v):
                return v.decode()
            break
    return f"{_PREFIX}{next(_SEQUENCE):x}"


class WithRequestId:
    """The send of a request that has an id: `X-Request-Id` goes into the answer's head.

    A headers-only layer (`adds_headers`, gateway.forwarding.HeadersLayer): `send` and
    `tail` (the header in a list) are public so that a layer further in that handles the
    head anyway (the gate's forwarded path) may add the header itself and send straight
    on."""

    __slots__ = ("header", "send", "tail")
    adds_headers: Literal[True] = True

    def __init__(self, send: Send, rid: str) -> None:
        self.send = send
        self.header = (HEADER, rid.encode())
        self.tail = [self.header]  # to add after the answer's headers; never changed

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message, headers=[*message.get("headers", []), self.header])
        await self.send(message)


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id(scope["headers"])
        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, WithRequestId(send, rid))
        finally:
            REQUEST_ID.reset(token)
