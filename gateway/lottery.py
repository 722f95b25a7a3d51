"""The pre-queue draw: committed before opening, verifiable by anyone after (no I/O).

Before opening, the room publishes sha256(seed). Each pre-queue entry has a public
ticket, sha1(visitor id)[:16]; its draw number is int(sha1(seed + ":" + ticket)[:13], 16).
At opening the seed is revealed and the pre-queue is served in ascending draw number,
ahead of everyone who came later. The same computation runs inside Redis (join.lua).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence


def new_seed() -> tuple[str, str]:
    """A fresh seed and its published commitment, sha256(seed) in hex."""
    seed = secrets.token_hex(32)
    return seed, commitment(seed)


def commitment(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def ticket(visitor: str) -> str:
    return hashlib.sha1(visitor.encode(), usedforsecurity=False).hexdigest()[:16]


def draw_number(seed: str, ticket_: str) -> int:
    digest = hashlib.sha1(f"{seed}:{ticket_}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:13], 16)


def drawn_order(seed: str, tickets: Sequence[str]) -> list[str]:
    """The order a set of tickets must have been served in under this seed."""
    return sorted(tickets, key=lambda t: (draw_number(seed, t), t))


def verify(seed: str, seed_sha256: str, published: Sequence[str]) -> bool:
    """True when the seed matches its commitment and the published order follows from it."""
    return commitment(seed) == seed_sha256 and list(published) == drawn_order(seed, published)
