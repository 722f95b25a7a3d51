"""Accepting a handoff token once, at the receiving site: `SET NX` on the token's nonce.

A token in a URL can be copied, bookmarked or replayed; the receiving site keeps the
nonces it has seen until the token would have expired anyway, in its own Redis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio import Redis

from backends.admission import MAX_CLOCK_SKEW_SECONDS, Admission, verify

ONCE_PREFIX = "sluis:once:"


def once_key(admission: Admission, now: float | None = None) -> tuple[str, int]:
    """The key that marks this token used, and how long it must live (seconds)."""
    if admission.nonce is None:
        raise ValueError("only tokens with a nonce (handoff tokens) can be used once")
    current = time.time() if now is None else now
    ttl = max(1, int(admission.expires_at - current) + MAX_CLOCK_SKEW_SECONDS)
    return f"{ONCE_PREFIX}{admission.room}:{admission.nonce}", ttl


async def verify_once(token: str | bytes | None, keys: Sequence[str | bytes], room: str,
                      redis: Redis, now: float | None = None) -> Admission | None:
    """`verify` plus "never seen before": the first call with a token returns its
    Admission, every later one None. Tokens without a nonce are refused. `redis` is
    the receiving site's own Redis; one `SET key 1 EX ttl NX` per token."""
    admission = verify(token, keys, room=room, now=now)
    if admission is None or admission.nonce is None:
        return None
    key, ttl = once_key(admission, now)
    if not await redis.set(key, "1", ex=ttl, nx=True):
        return None
    return admission
