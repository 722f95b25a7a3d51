"""Visitor cookies and admission tokens: only what was signed, unaltered, in time, passes."""

from __future__ import annotations

import random
import time

from itsdangerous import Signer

from backends import verify
from backends.admission import AdmissionCodec
from gateway.passes import Passes, new_visitor_id

KEY = "first-key-0123456789abcdef"
NEWER = "second-key-0123456789abcdef"


def mutations(token: str, rng: random.Random, n: int) -> set[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:"
    out: set[str] = set()
    while len(out) < n:
        chars = list(token)
        for _ in range(rng.randint(1, 3)):  # one to three edits: substitute, drop, add, swap
            kind = rng.randrange(4)
            i = rng.randrange(len(chars))
            if kind == 0:
                chars[i] = rng.choice(alphabet)
            elif kind == 1:
                del chars[i]
            elif kind == 2:
                chars.insert(i, rng.choice(alphabet))
            else:
                j = rng.randrange(len(chars))
                chars[i], chars[j] = chars[j], chars[i]
        candidate = "".join(chars)
        if candidate != token:
            out.add(candidate)
    return out


def test_ten_thousand_mutated_visitor_cookies_are_all_refused() -> None:
    passes = Passes([KEY])
    cookie = passes.visitor_cookie(new_visitor_id())
    rng = random.Random(7)
    accepted = [m for m in mutations(cookie, rng, 10_000)
                if Passes([KEY]).visitor_from_cookie(m) is not None]
    assert accepted == []


def test_ten_thousand_mutated_admission_tokens_are_all_refused() -> None:
    codec = AdmissionCodec([KEY])
    token = codec.issue("zomerkampen", "Xk3a9_Qm2LpR0tZw", 900)
    assert codec.check(token, room="zomerkampen") is not None
    rng = random.Random(11)
    accepted = [m for m in mutations(token, rng, 10_000) if codec.check(m) is not None]
    assert accepted == []


def test_expired_and_future_dated_tokens_are_refused() -> None:
    codec = AdmissionCodec([KEY])
    token = codec.issue("default", "visitor-aaaaaaaa", 60)
    now = time.time()
    assert codec.check(token, now=now + 30) is not None
    assert codec.check(token, now=now + 61) is None
    assert codec.check(token, now=now - 3600) is None  # stamped an hour "in the future"


def test_a_token_signed_with_another_salt_is_refused() -> None:
    visitor_signed = Signer(KEY.encode(), salt="sluis.visitor").sign("v1:default:abcdefgh:900")
    assert AdmissionCodec([KEY]).check(visitor_signed) is None
    admission = AdmissionCodec([KEY]).issue("default", "abcdefghijkl", 900)
    assert Passes([KEY]).visitor_from_cookie(admission) is None


def test_admission_is_bound_to_room_and_visitor() -> None:
    passes = Passes([KEY])
    token = passes.admission.issue("zwemmen", "visitor-aaaaaaaa", 900)
    assert passes.admission_for(token, "zwemmen", "visitor-aaaaaaaa") is not None
    assert passes.admission_for(token, "zomerkampen", "visitor-aaaaaaaa") is None
    assert passes.admission_for(token, "zwemmen", "visitor-bbbbbbbb") is None
    assert passes.admission_for(token, "zwemmen", None) is None


def test_key_rotation_newest_signs_and_listed_keys_verify() -> None:
    old = Passes([KEY])
    old_cookie = old.visitor_cookie("visitor-aaaaaaaa")
    old_token = old.admission.issue("default", "visitor-aaaaaaaa", 900)
    rotated = Passes([KEY, NEWER])
    assert rotated.visitor_from_cookie(old_cookie) == "visitor-aaaaaaaa"
    assert rotated.admission.check(old_token) is not None
    new_token = rotated.admission.issue("default", "visitor-aaaaaaaa", 900)
    assert AdmissionCodec([NEWER]).check(new_token) is not None  # signed with the newest
    retired = Passes([NEWER])
    assert retired.visitor_from_cookie(old_cookie) is None
    assert retired.admission.check(old_token) is None


def test_verify_for_backends_checks_signature_expiry_and_room() -> None:
    token = AdmissionCodec([KEY]).issue("zomerkampen", "visitor-aaaaaaaa", 900)
    adm = verify(token, [KEY], room="zomerkampen")
    assert adm is not None and adm.visitor == "visitor-aaaaaaaa"
    assert adm.expires_at - adm.issued_at == 900
    assert verify(token, [KEY], room="zwemmen") is None
    assert verify(token, [NEWER]) is None
    for junk in (None, "", "..", "a" * 5000, "v1:x:y:z", b"\xff\xfe"):
        assert verify(junk, [KEY]) is None
