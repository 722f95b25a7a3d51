"""The send of a forwarded request (Gate.forward): one layer between backend and server.

Every answer the backend gives is counted, loses the backend's `Sluis-Session` header
(noting `end`), and gets the gate's own headers: a renewed or cleared admission cookie
and the request id. Doing all of it here, and keeping the status for the in-flight
guard's breaker count (it is a backends.base.ForwardingSend), leaves a single send layer
on the forwarded path instead of one per concern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol, TypeGuard

from gateway import metrics
from gateway.common.memo import Memo
from gateway.http import Headers, clear_cookie
from gateway.passes import ADMISSION_COOKIE, EXIT_COOKIE, VISITOR_COOKIE
from gateway.session_end import Scanner, textual
from gateway.types import Message, Send

SESSION_END_HEADER = b"sluis-session"

# What str.strip() strips from a latin-1 decoded cookie header (gateway.http.cookies),
# as bytes: the admission cookie found here is the one the gate read, exactly.
_SPACE = bytes(i for i in range(256) if chr(i).isspace())
_ADMISSION = ADMISSION_COOKIE.encode() + b"="
_OWN = (VISITOR_COOKIE.encode() + b"=", _ADMISSION, EXIT_COOKIE.encode() + b"=")
# A visitor sends the same Cookie header with every request: short ones are split once.
_JAR_LIMIT = 1024
_jars: Memo[bytes, tuple[bytes | None, bytes | None]] = Memo(_JAR_LIMIT)


def jar_for_backend(cookie: bytes) -> tuple[bytes | None, bytes | None]:
    """(the Cookie header without the gateway's own cookies, None if nothing is left;
    the value of the first admission cookie in it, None if there is none)."""
    seen = _jars.get(cookie)
    if seen is not None:
        return seen
    kept = []
    found = None
    for c in cookie.split(b";"):
        name_value = c.strip(_SPACE)
        if not name_value.startswith(_OWN):
            kept.append(c)
        elif found is None and name_value.startswith(_ADMISSION):
            found = (name_value[len(_ADMISSION):].strip(_SPACE).strip(b'"')
                     .decode("latin-1").encode())
    result = (b";".join(kept).strip() if kept else None, found)
    if len(cookie) <= _JAR_LIMIT:
        _jars.put(cookie, result)
    return result


class HeadersLayer(Protocol):
    """A send layer that only adds `tail` to the answer's head and then calls `send`
    (gateway.request_id.WithRequestId is one). It says so with the class attribute
    `adds_headers = True`; the forwarded answer then adds those headers itself and calls
    `send` directly, one layer less."""

    adds_headers: Literal[True]
    send: Send
    tail: Headers


def _adds_headers(send: Send) -> TypeGuard[HeadersLayer]:
    return getattr(send, "adds_headers", False) is True


class ForwardedAnswer:
    """The send Gate.forward gives the backend, a backends.base.ForwardingSend (`status`);
    `ended` after `Sluis-Session: end` (or `end()`); `found` holds the indexes of the
    watched markers seen in the body."""

    __slots__ = ("ended", "exit", "extra", "ids", "room", "scanner", "secure", "send",
                 "status", "tail")
    forwarding: Literal[True] = True

    def __init__(self, send: Send, room: str, extra: Headers, secure: bool) -> None:
        if _adds_headers(send):
            # Its headers are added here, and the send inside it is called directly.
            self.send = send.send
            self.ids = send.tail
            self.tail = [*extra, *send.tail] if extra else send.tail
        else:
            self.send = send
            self.ids = []
            self.tail = extra
        self.status = 0
        self.room = room
        self.extra = extra
        self.secure = secure
        self.ended = False
        self.scanner: Scanner | None = None
        # Makes the exit pass's Set-Cookie header, added when the answer ends the
        # session (made only then: signing costs more than the rest of this layer).
        self.exit: Callable[[], tuple[bytes, bytes]] | None = None

    def end(self) -> None:
        """This answer ends the session (an end_on path): it is sent in full, with the
        admission cookie cleared."""
        self.ended = True
        self._clear_admission()

    def watch(self, markers: tuple[bytes, ...]) -> None:
        """Search the body of a textual answer for these markers (see `found`)."""
        self.scanner = Scanner(markers)

    @property
    def found(self) -> set[int]:
        return self.scanner.found if self.scanner is not None else set()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = status = message["status"]
            metrics.backend_answered(self.room, status)
            headers = message.get("headers", [])
            for k, _ in headers:
                if len(k) == 13 and k.lower() == SESSION_END_HEADER:
                    headers = self._without_session_header(headers)
                    break
            if self.scanner is not None and not self._searchable(headers):
                self.scanner = None
            message = dict(message, headers=[*headers, *self.tail])
        elif self.scanner is not None:
            self.scanner.feed(message.get("body", b""))
        await self.send(message)

    @staticmethod
    def _searchable(headers: Headers) -> bool:
        content_type = encoding = None
        for k, v in headers:
            name = k.lower()
            if name == b"content-type":
                content_type = v
            elif name == b"content-encoding":
                encoding = v
        return textual(content_type, encoding)

    def _clear_admission(self) -> None:
        # After a renewed admission cookie, if any: of two Set-Cookie headers for one
        # name, the last wins.
        self.tail = [*self.extra,
                     (b"set-cookie", clear_cookie(ADMISSION_COOKIE, secure=self.secure)),
                     *((self.exit(),) if self.exit is not None else ()), *self.ids]

    def _without_session_header(self, headers: Headers) -> Headers:
        out = []
        for k, v in headers:
            if k.lower() == SESSION_END_HEADER:
                self.ended = self.ended or v.strip().lower() == b"end"
            else:
                out.append((k, v))
        if self.ended:
            self._clear_admission()
        return out


if TYPE_CHECKING:
    from backends.base import ForwardingSend
    from gateway.request_id import WithRequestId

    def _declared(answer: ForwardedAnswer, ids: WithRequestId
                  ) -> tuple[ForwardingSend, HeadersLayer]:
        return answer, ids  # each has what its marker promises (checked by mypy)
