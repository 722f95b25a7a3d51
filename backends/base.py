"""The adapter interface: a backend is an ASGI app the gate forwards admitted requests to.

The gate has already checked the admission and added `Sluis-Admission` to the
request headers; the adapter only delivers the request and streams the answer back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal, Protocol, TypeGuard

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Backend(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


class ForwardingSend(Protocol):
    """The features a send given to a backend may have beyond passing messages on.

    A send declares them with the class attribute `forwarding = True`; a backend (or a
    layer in front of one, as the in-flight guard) finds them with `is_forwarding(send)`,
    never by the send's class, and wraps a send that lacks them in a `Relay`. An attribute
    is looked up in tens of nanoseconds; an isinstance check against a runtime-checkable
    Protocol takes microseconds on every request.

    `status`: the status of the answer passed on so far, 0 until its head has gone."""

    forwarding: Literal[True]
    status: int

    async def __call__(self, message: Message) -> None: ...


def is_forwarding(send: Send) -> TypeGuard[ForwardingSend]:
    return getattr(send, "forwarding", False) is True


class Relay:
    """The least ForwardingSend: passes every message on and keeps the answer's status."""

    __slots__ = ("send", "status")
    forwarding: Literal[True] = True

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, never forwarded.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"proxy-connection",
})
