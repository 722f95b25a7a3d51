"""The personal link of a notification e-mail (no I/O): it carries one visitor's place
to another browser or device.

A link token is signed with itsdangerous (salt ``sluis.place-link``, its own, so that
it is neither a cookie nor an admission), stamped with its issue time, and holds the
room, the opaque visitor id and the page to lead back to. Opening it sets the visitor
cookie of that place (gateway/routes/notify.py); it is good for a limited time, and
only in its room. Keys rotate like the cookies': the newest signs, all verify.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer

from backends.admission import MAX_CLOCK_SKEW_SECONDS
from gateway.common.names import ROOM_PATTERN, VISITOR_PATTERN
from gateway.notify import safe_path

LINK_SALT = "sluis.place-link"
LINK_PATH = "/_sluis/place"


@dataclass(frozen=True, slots=True)
class PlaceLink:
    room: str
    visitor: str
    path: str
    issued_at: float  # seconds since the epoch

    def fresh(self, max_age: int, now: float | None = None) -> bool:
        age = (time.time() if now is None else now) - self.issued_at
        return -MAX_CLOCK_SKEW_SECONDS <= age <= max_age


class Links:
    def __init__(self, keys: Sequence[str]) -> None:
        self._codec = URLSafeTimedSerializer(
            [k.encode() for k in keys], salt=LINK_SALT,
            signer_kwargs={"digest_method": hashlib.sha256})

    def token(self, room: str, visitor: str, path: str) -> str:
        return str(self._codec.dumps([room, visitor, safe_path(path)]))

    def url(self, base: str, room: str, visitor: str, path: str) -> str:
        return f"{base.rstrip('/')}{LINK_PATH}?t={self.token(room, visitor, path)}"

    def read(self, token: str | None) -> PlaceLink | None:
        """The place a genuine token names, with its issue time (`PlaceLink.fresh` tells
        whether it is still good), else None."""
        if not token or len(token) > 1024:
            return None
        try:
            data, issued = self._codec.loads(token, return_timestamp=True)
        except (BadData, UnicodeError, ValueError, TypeError):
            return None
        if not (isinstance(data, list) and len(data) == 3
                and all(isinstance(x, str) for x in data)):
            return None
        room, visitor, path = data
        if not ROOM_PATTERN.match(room) or not VISITOR_PATTERN.match(visitor):
            return None
        return PlaceLink(room=room, visitor=visitor, path=safe_path(path),
                         issued_at=issued.timestamp())
