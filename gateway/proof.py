"""Proof-of-work for joins: a per-visitor challenge, its check, and a solver (no I/O).

A room with ``join_proof_bits = N`` lets a visitor's first join count only with a nonce
such that ``sha256(f"{challenge}:{nonce}")`` starts with N zero bits. The challenge is
an HMAC of the room and the visitor id, so the page can show it without revealing the
id and the gateway recomputes it from the signed visitor cookie: nothing is stored.
The queue page solves it with static/proof.js, which tries nonces in the same order as
`solve` (0, 1, 2, … in base 36), so both find the same first nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from itertools import count

# Domain separation: this derivation is used for nothing else, so a proof key can never
# stand in for a cookie or token key (itsdangerous derives those with its own salts).
KEY_INFO = b"sluis.proof.v1"
CHALLENGE_CHARS = 32  # hex: 128 bits of the HMAC
NONCE_MAX_CHARS = 16

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_NONCE_CHARS = frozenset(_DIGITS)  # a set test is cheaper than a regular expression here
_CHALLENGE = re.compile(r"[0-9a-f]{1,64}").fullmatch
# A digest has at least `bits` leading zero bits exactly when, read as a 256-bit number,
# it is below 2 ** (256 - bits): one comparison of 32 bytes, no bit counting. (Index 0
# is never used: zero bits is settled before any hashing.)
_BELOW = (b"", *((1 << (256 - bits)).to_bytes(32, "big") for bits in range(1, 257)))
_PAIRS = tuple((a + b).encode() for a in _DIGITS for b in _DIGITS)  # b"00" … b"zz"


def derive_key(secret: bytes) -> bytes:
    """The proof key belonging to one signing key (`Passes.proof_key` holds the newest)."""
    return hmac.new(secret, KEY_INFO, hashlib.sha256).digest()


def challenge(key: bytes, room: str, visitor: str) -> str:
    """The visitor's challenge in this room: 32 hex characters, the same on every call."""
    mac = hmac.digest(key, f"proof:{room}:{visitor}".encode(), "sha256")
    return mac[:CHALLENGE_CHARS // 2].hex()


def solves(challenge: str, nonce: str, bits: int) -> bool:
    """True when sha256(f"{challenge}:{nonce}") starts with at least `bits` zero bits.

    `bits` 0 asks for no work and passes whatever the nonce. Otherwise the nonce must be
    1 to 16 of 0-9 and a-z and the challenge hex; anything else, of any type, is False,
    never an exception. One sha256 and one comparison."""
    if type(bits) is not int or not 0 <= bits <= 256:
        return False
    if bits == 0:
        return True
    if type(nonce) is not str or type(challenge) is not str:
        return False
    if not (0 < len(nonce) <= NONCE_MAX_CHARS and _NONCE_CHARS.issuperset(nonce)
            and _CHALLENGE(challenge)):
        return False
    return hashlib.sha256(f"{challenge}:{nonce}".encode("ascii")).digest() < _BELOW[bits]


def base36(n: int) -> str:
    """`n` in base 36, as JavaScript's ``n.toString(36)`` writes it."""
    if n < 0:
        raise ValueError("a nonce counter is never negative")
    out = ""
    while True:
        n, digit = divmod(n, 36)
        out = _DIGITS[digit] + out
        if not n:
            return out


_SMALL = tuple(base36(n).encode() for n in range(len(_PAIRS)))  # b"0" … b"zz"


def solve(challenge: str, bits: int) -> str:
    """The first nonce (0, 1, 2, … in base 36) that `solves` accepts.

    About 2 ** bits tries on average. Raises ValueError for a challenge that is not hex
    or bits outside 0..256 (nothing would ever solve it)."""
    if type(bits) is not int or not 0 <= bits <= 256:
        raise ValueError("bits must be a whole number from 0 to 256")
    if type(challenge) is not str or _CHALLENGE(challenge) is None:
        raise ValueError("a challenge is 1 to 64 hex characters (0-9, a-f)")
    if bits == 0:
        return "0"
    below = _BELOW[bits]
    base = hashlib.sha256(f"{challenge}:".encode("ascii"))
    # Counter n = high * 1296 + low is base36(high) followed by the two digits of low
    # (for high 0, low alone), so the order is the plain count while the hash state
    # of base36(high) is computed once per 1,296 tries.
    for high in count():
        head = base.copy()
        tails = _SMALL
        if high:
            head.update(base36(high).encode("ascii"))
            tails = _PAIRS
        for tail in tails:
            h = head.copy()
            h.update(tail)
            if h.digest() < below:
                return (base36(high) if high else "") + tail.decode("ascii")
    raise AssertionError("unreachable")  # pragma: no cover
