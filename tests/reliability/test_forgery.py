"""Forged, mutated, replayed and foreign tokens and cookies: none of them lets anyone in."""

from __future__ import annotations

import hashlib
import random
import string
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer, TimestampSigner

from backends.admission import ADMISSION_SALT, AdmissionCodec, verify
from gateway.http import cookies
from gateway.passes import VISITOR_SALT, Passes, new_visitor_id
from tests.conftest import KEYS, make_settings
from tests.helpers import gateway_client
from tests.reliability.conftest import Figure
from tests.reliability.support import CountingUpstream, jar_header

ALPHABET = string.ascii_letters + string.digits + "-_.:=+/ %\"';,\x00\t" + "é€"
MUTATIONS_EACH = 50_000


def mutate(rng: random.Random, value: str) -> str:
    """One of the ways a client can tamper with a token: change, drop, add, cut,
    reorder, re-case, re-spell, encode."""
    kind = rng.randrange(11)
    i = rng.randrange(len(value))
    if kind == 0:
        return value[:i] + rng.choice(ALPHABET) + value[i + 1:]
    if kind == 1:
        return value[:i] + value[i + 1:]
    if kind == 2:
        return value[:i] + rng.choice(ALPHABET) + value[i:]
    if kind == 3:
        return value[:i]
    if kind == 4:
        parts = value.split(".")
        rng.shuffle(parts)
        return ".".join(parts)
    if kind == 5:
        return value[:i] + value[i].swapcase() + value[i + 1:]
    if kind == 6:
        # The spare bits of the last base64 letter: same bytes, a spelling never issued.
        last = value[-1]
        return value[:-1] + rng.choice([c for c in string.ascii_letters + string.digits + "-_"
                                        if c != last])
    if kind == 7:
        return value + rng.choice(["=", "==", ".", "..", ".AAAA", " ", "%00"])
    if kind == 8:
        return value.replace(".", rng.choice(["%2E", ":", "..", ". "]), 1)
    if kind == 9:
        payload, _, rest = value.partition(".")
        fields = payload.split(":")
        j = rng.randrange(len(fields))
        fields[j] = rng.choice(["v2", "other", "x" * 16, "99999999", "", fields[j] + "0"])
        return ":".join(fields) + "." + rest
    j = rng.randrange(len(value))
    return value[:min(i, j)] + value[max(i, j):] + value[min(i, j):max(i, j)]


def forge(rng: random.Random, value: str) -> str:
    """One to three mutations in a row."""
    for _ in range(rng.randint(1, 3)):
        value = mutate(rng, value) or value
    return value


def test_a_hundred_thousand_mutated_tokens_and_cookies_are_all_refused(figure: Figure) -> None:
    passes = Passes(KEYS)
    visitor = new_visitor_id()
    cookie = passes.visitor_cookie(visitor)
    token = passes.admission.issue("default", visitor, 900)
    assert passes.admission_for(token, "default", visitor) is not None
    rng = random.Random(20270301)
    accepted = tried = 0
    seen: set[str] = set()
    while tried < MUTATIONS_EACH:
        forged = forge(rng, token)
        if forged == token:
            continue
        tried += 1
        seen.add(forged)
        if passes.admission_for(forged, "default", visitor) is not None:
            accepted += 1
        if verify(forged, KEYS, room="default") is not None:
            accepted += 1
    while tried < 2 * MUTATIONS_EACH:
        forged = forge(rng, cookie)
        if forged == cookie:
            continue
        tried += 1
        seen.add(forged)
        found = passes.visitor_from_cookie(forged)
        if found is not None:
            accepted += 1
        if passes.admission_for(token, "default", found) is not None:
            accepted += 1
    figure("mutated tokens and cookies tried", tried)
    figure("distinct mutations", len(seen))
    figure("accepted", accepted)
    assert tried == 2 * MUTATIONS_EACH and len(seen) > 50_000
    assert accepted == 0


def test_expired_future_dated_wrong_salt_and_wrong_room_tokens_are_refused(
        figure: Figure) -> None:
    codec = AdmissionCodec(KEYS)
    visitor = new_visitor_id()
    token = codec.issue("default", visitor, 900)
    now = time.time()
    assert codec.check(token, room="default", now=now) is not None
    refused = {
        "expired": codec.check(token, room="default", now=now + 901),
        "future-dated (beyond 30 s skew)": codec.check(token, room="default", now=now - 120),
        "wrong room": codec.check(token, room="zwemmen", now=now),
    }
    raw = [k.encode() for k in KEYS]
    payload = f"v1:default:{visitor}:900"
    # Signed with the right key but for another purpose (another salt).
    visitor_salted = TimestampSigner(raw, salt=VISITOR_SALT,
                                     digest_method=hashlib.sha256).sign(payload).decode()
    default_salted = TimestampSigner(raw, digest_method=hashlib.sha256).sign(payload).decode()
    sha1_signed = TimestampSigner(raw, salt=ADMISSION_SALT).sign(payload).decode()
    refused["visitor salt"] = codec.check(visitor_salted, room="default")
    refused["itsdangerous default salt"] = codec.check(default_salted, room="default")
    refused["sha1 digest"] = codec.check(sha1_signed, room="default")
    # A visitor cookie signed with the admission salt is no visitor cookie.
    adm_salted_cookie = Signer(raw, salt=ADMISSION_SALT,
                               digest_method=hashlib.sha256).sign(visitor).decode()
    passes = Passes(KEYS)
    refused["visitor cookie with admission salt"] = passes.visitor_from_cookie(
        adm_salted_cookie)
    # A replayed token of another visitor, paired with one's own visitor cookie.
    other = new_visitor_id()
    refused["another visitor's admission"] = passes.admission_for(
        codec.issue("default", other, 900), "default", visitor)
    # A token whose ttl field was stretched cannot be re-signed without the key.
    refused["unsigned ttl"] = codec.check(token.replace(":900.", ":90000.", 1), room="default")
    figure("kinds refused", f"{sum(v is None for v in refused.values())}/{len(refused)}")
    assert all(v is None for v in refused.values()), refused
    # Within the allowed clock skew a token is still good (a gateway's clock a bit ahead).
    assert codec.check(token, room="default", now=now - 10) is not None


def test_after_key_rotation_an_old_key_verifies_only_while_listed() -> None:
    old, new = "old-key-0123456789abcdef", "new-key-0123456789abcdef"
    before = Passes([old])
    visitor = new_visitor_id()
    old_cookie, old_token = before.visitor_cookie(visitor), before.admission.issue(
        "default", visitor, 900)
    during = Passes([old, new])  # newest last: the new key signs, both verify
    assert during.visitor_from_cookie(old_cookie) == visitor
    assert during.admission_for(old_token, "default", visitor) is not None
    new_token = during.admission.issue("default", visitor, 900)
    assert verify(new_token, [new], room="default") is not None  # signed with the new key
    assert verify(new_token, [old], room="default") is None
    after = Passes([new])  # the old key is no longer listed
    assert after.visitor_from_cookie(old_cookie) is None
    assert after.admission_for(old_token, "default", visitor) is None
    assert verify(old_token, [new], room="default") is None
    assert after.admission_for(new_token, "default", visitor) is not None


ROOMS = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")
VISITORS = st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z")


@given(room=ROOMS, visitor=VISITORS, ttl=st.integers(1, 86_400))
def test_property_an_issued_token_proves_exactly_what_it_was_issued_for(
        room: str, visitor: str, ttl: int) -> None:
    codec = AdmissionCodec(KEYS)
    token = codec.issue(room, visitor, ttl)
    adm = codec.check(token, room=room)
    assert adm is not None and adm.room == room and adm.visitor == visitor
    assert adm.expires_at - adm.issued_at == ttl
    assert codec.check(token, room=room + "x") is None
    assert verify(token, ["another-key-0123456789"], room=room) is None


@given(junk=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_property_arbitrary_input_never_raises_and_never_passes(junk: str | bytes) -> None:
    codec = AdmissionCodec(KEYS)
    assert codec.check(junk) is None
    assert verify(junk, KEYS, room="default") is None
    if isinstance(junk, str):
        assert Passes(KEYS).visitor_from_cookie(junk) is None


@given(data=st.data())
def test_property_any_single_character_change_is_refused(data: st.DataObject) -> None:
    codec = AdmissionCodec(KEYS)
    token = codec.issue("default", "visitor-0000000001", 900)
    i = data.draw(st.integers(0, len(token) - 1))
    c = data.draw(st.characters(codec="latin-1"))
    forged = token[:i] + c + token[i + 1:]
    if forged != token:
        assert codec.check(forged, room="default") is None


async def test_mutated_cookies_through_the_gate_never_reach_the_upstream(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    upstream = CountingUpstream()
    passes = Passes(KEYS)
    rng = random.Random(7)
    async with gateway_client(settings, upstream.app()) as (_, client):
        first = await client.get("/")
        cookie = first.cookies["sluis_visitor"]
        visitor = passes.visitor_from_cookie(cookie)
        assert visitor is not None
        token = passes.admission.issue("default", visitor, 900)
        statuses: dict[int, int] = {}
        sent = 0
        while sent < 400:
            jar = {"sluis_visitor": cookie, "sluis_admission": forge(rng, token)}
            if sent % 2:
                jar = {"sluis_visitor": forge(rng, cookie), "sluis_admission": token}
            # A trailing blank or quotes are HTTP's own spelling of the same cookie.
            if cookies([(b"cookie", jar_header(jar)["cookie"])]) == {
                    "sluis_visitor": cookie, "sluis_admission": token}:
                continue
            sent += 1
            client.cookies.clear()
            r = await client.get("/inschrijven", headers=jar_header(jar))
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    figure("gate answers to 400 mutated cookie pairs", statuses)
    figure("reached upstream", len(upstream.hits))
    assert set(statuses) == {200} and upstream.hits == []
