"""The `Sluis-Admission` token: issued by the gateway, checked by any backend.

A token is an itsdangerous `TimestampSigner` value (HMAC-SHA256, salt
``sluis.admission``) over ``v1:<room>:<visitor>:<ttl>[:<nonce>]``:

    v1:zomerkampen:Xk3a9_Qm2LpR0tZw:900.Z2x1bQ.3q2-7nF...

- ``room``: the waiting room that admitted the visitor;
- ``visitor``: the opaque visitor id (never personal data);
- ``ttl``: seconds the admission lives after the timestamp;
- ``nonce`` (handoff tokens only): a random id, so that the receiving site can accept
  each token once (backends/once.py);
- the timestamp (base64 of the issue time in seconds) and the signature are
  itsdangerous's own. Keys are a list, newest last: the newest signs, all verify.

No I/O: verifying a token needs the keys only, never Redis.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

from gateway.common.memo import Memo
from gateway.common.names import VISITOR_PATTERN

ADMISSION_SALT = "sluis.admission"
FORMAT_VERSION = "v1"
# A token stamped further in the future than this is forged or from a broken clock.
MAX_CLOCK_SKEW_SECONDS = 30
NONCE_PATTERN = VISITOR_PATTERN


@dataclass(frozen=True, slots=True)
class Admission:
    room: str
    visitor: str
    issued_at: int
    expires_at: int
    nonce: str | None = None


def canonical(token: str | bytes, segments: int) -> bool:
    """True when the last `segments` dot-separated parts are base64 in its one canonical
    spelling. Base64 without padding leaves spare bits in the last character, so a
    token whose last letter was changed can decode to the same bytes; such a spelling
    was never issued and is refused, so only the exact tokens Sluis signed pass."""
    raw = token.encode("ascii", "replace") if isinstance(token, str) else token
    parts = raw.rsplit(b".", segments)
    if len(parts) != segments + 1:
        return False
    try:
        return all(base64_encode(base64_decode(p)) == p for p in parts[1:])
    except Exception:  # itsdangerous raises BadData subclasses and binascii errors
        return False


def _as_bytes(keys: Sequence[str | bytes]) -> list[bytes]:
    out = [k.encode() if isinstance(k, str) else bytes(k) for k in keys]
    if not out or any(not k for k in out):
        raise ValueError("at least one non-empty signing key is needed")
    return out


# Tokens already proven genuine, so that a visitor's next request skips the HMAC.
_CACHE_LIMIT = 8192


class CachedKeySigner(Signer):
    """An itsdangerous Signer that derives each key once instead of on every call.

    The derived key depends only on the salt, the digest and the secret key, so it is
    computed once per key and kept; signing and checking stay itsdangerous's own."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        cache: dict[bytes | None, bytes] = self.__dict__.setdefault("_derived", {})
        raw = None if secret_key is None else (
            secret_key.encode() if isinstance(secret_key, str) else secret_key)
        key = cache.get(raw)
        if key is None:
            key = cache[raw] = super().derive_key(secret_key)
        return key


class CachedKeyTimestampSigner(CachedKeySigner, TimestampSigner):
    """The timestamped signer of admission tokens, with keys derived once."""


class AdmissionCodec:
    """Signs and checks admission tokens with one key list (built once, reused)."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        self._signer = CachedKeyTimestampSigner(
            _as_bytes(keys), salt=ADMISSION_SALT, digest_method=hashlib.sha256
        )
        # token -> the admission its signature proves; expiry and room are checked on
        # every use, so the cache only spares the cryptography.
        self._genuine: Memo[str | bytes, Admission] = Memo(_CACHE_LIMIT)

    def issue(self, room: str, visitor: str, ttl_seconds: int, nonce: str | None = None) -> str:
        payload = f"{FORMAT_VERSION}:{room}:{visitor}:{int(ttl_seconds)}"
        if nonce is not None:
            if not NONCE_PATTERN.match(nonce):
                raise ValueError("a nonce is 8 to 64 of A-Z, a-z, 0-9, _ and -")
            payload += f":{nonce}"
        return self._signer.sign(payload).decode("ascii")

    def check(
        self, token: str | bytes | None, room: str | None = None, now: float | None = None
    ) -> Admission | None:
        """The admission the token proves, or None when it proves nothing."""
        if not token:
            return None
        current = time.time() if now is None else now
        known = self._genuine.get(token)
        if known is not None:
            if (known.issued_at > current + MAX_CLOCK_SKEW_SECONDS
                    or current >= known.expires_at or (room is not None and known.room != room)):
                return None
            return known
        if not canonical(token, 2):
            return None
        try:
            raw, ts = self._signer.unsign(token, return_timestamp=True)
        except (BadSignature, ValueError, TypeError, UnicodeError):
            return None
        parts = raw.decode("ascii", "replace").split(":")
        if len(parts) not in (4, 5) or parts[0] != FORMAT_VERSION:
            return None
        tok_room, visitor, ttl_text = parts[1:4]
        nonce = parts[4] if len(parts) == 5 else None
        if nonce is not None and not NONCE_PATTERN.match(nonce):
            return None
        if not ttl_text.isdigit():
            return None
        issued = int(ts.timestamp())
        expires = issued + int(ttl_text)
        admission = Admission(room=tok_room, visitor=visitor, issued_at=issued,
                              expires_at=expires, nonce=nonce)
        self._genuine.put(token, admission)
        if issued > current + MAX_CLOCK_SKEW_SECONDS or current >= expires:
            return None
        if room is not None and tok_room != room:
            return None
        return admission


def verify(
    token: str | bytes | None,
    keys: Sequence[str | bytes],
    room: str | None = None,
    now: float | None = None,
) -> Admission | None:
    """Check a `Sluis-Admission` token: signature, expiry and (if given) room.

    Returns the `Admission` it proves, or None for a missing, tampered, expired,
    future-dated or foreign token. Never raises for bad input.
    """
    return AdmissionCodec(keys).check(token, room=room, now=now)
