"""The passes a visitor carries, signed, in cookies (no I/O): the visitor cookie, the
admission token and the exit pass. (The lottery's "ticket" is another thing: a
visitor's public draw entry, gateway/lottery.py.)

The visitor cookie holds an opaque random id, signed (salt ``sluis.visitor``).
The admission cookie is the `Sluis-Admission` token (backends/admission.py),
bound to the visitor id and the room. Keys rotate: the newest signs, all verify.
A bad cookie is an ordinary "no cookie", never an exception.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from itsdangerous import BadSignature

from backends.admission import (
    Admission,
    AdmissionCodec,
    CachedKeySigner,
    CachedKeyTimestampSigner,
    canonical,
)
from gateway import proof
from gateway.common.memo import Memo
from gateway.common.names import VISITOR_PATTERN

VISITOR_SALT = "sluis.visitor"
VISITOR_COOKIE = "sluis_visitor"
ADMISSION_COOKIE = "sluis_admission"
# The exit pass: after the site ended a session, its confirmation (and a reload of it)
# is still shown for a short while, without a place (Gate.pass_out).
EXIT_SALT = "sluis.exit"
EXIT_COOKIE = "sluis_exit"
# Verified visitor cookies are remembered so that a poll costs no HMAC; the cache
# holds only values whose signature checked out.
_CACHE_LIMIT = 200_000


def new_visitor_id() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 random bits


class Passes:
    def __init__(self, keys: Sequence[str]) -> None:
        raw = [k.encode() for k in keys]
        self._visitor = CachedKeySigner(raw, salt=VISITOR_SALT, digest_method=hashlib.sha256)
        self.admission = AdmissionCodec(keys)
        # Key of the join proof-of-work challenges (gateway/proof.py), from the newest
        # signing key: a rotation changes every challenge, so a proof is asked again once.
        self.proof_key = proof.derive_key(raw[-1])
        self._verified: Memo[str, str] = Memo(_CACHE_LIMIT)
        self._exit = CachedKeyTimestampSigner(raw, salt=EXIT_SALT,
                                              digest_method=hashlib.sha256)

    def exit_cookie(self, room: str, visitor: str) -> str:
        return self._exit.sign(f"{room}:{visitor}").decode("ascii")

    def exit_for(self, value: str | None, room: str, visitor: str, max_age: int) -> bool:
        """Whether `value` is this visitor's exit pass for this room, younger than
        `max_age` seconds."""
        if not value or not canonical(value, 2):
            return False
        try:
            signed = self._exit.unsign(value, max_age=max_age)
        except (BadSignature, UnicodeError, ValueError, TypeError):
            return False
        return bool(signed == f"{room}:{visitor}".encode())

    def visitor_cookie(self, visitor: str) -> str:
        value = self._visitor.sign(visitor).decode("ascii")
        self._verified.put(value, visitor)
        return value

    def visitor_from_cookie(self, value: str | None) -> str | None:
        if not value:
            return None
        hit = self._verified.get(value)
        if hit is not None:
            return hit
        if not canonical(value, 1):
            return None
        try:
            visitor = self._visitor.unsign(value).decode("ascii")
        except (BadSignature, UnicodeError, ValueError, TypeError):
            return None
        if not VISITOR_PATTERN.match(visitor):
            return None
        return self._verified.put(value, visitor)

    def admission_for(self, token: str | None, room: str, visitor: str | None,
                      now: float | None = None) -> Admission | None:
        """The admission a cookie proves for this room and this visitor, else None."""
        if not token or visitor is None:
            return None
        adm = self.admission.check(token, room=room, now=now)
        if adm is None or adm.visitor != visitor:
            return None
        return adm
