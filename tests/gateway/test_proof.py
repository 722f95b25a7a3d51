"""The join proof-of-work's pieces (gateway/proof.py), the key a Passes instance derives
for it, and the room setting `join_proof_bits`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import proof
from gateway.passes import Passes
from gateway.roomfile import load_rooms
from gateway.rooms import RoomConfig, RoomSettingsError

KEY = proof.derive_key(b"proof-test-key-0123456789")
CHALLENGE = proof.challenge(KEY, "zomerkampen", "Xk3a9_Qm2LpR0tZw")


def leading_zero_bits(challenge: str, nonce: str) -> int:
    digest = hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()
    return 256 - int.from_bytes(digest, "big").bit_length()


def test_a_challenge_is_32_hex_characters_and_the_same_every_time() -> None:
    assert len(CHALLENGE) == 32
    assert set(CHALLENGE) <= set("0123456789abcdef")
    assert proof.challenge(KEY, "zomerkampen", "Xk3a9_Qm2LpR0tZw") == CHALLENGE


def test_a_challenge_is_bound_to_the_room_the_visitor_and_the_key() -> None:
    others = {
        proof.challenge(KEY, "zwemmen", "Xk3a9_Qm2LpR0tZw"),
        proof.challenge(KEY, "zomerkampen", "Xk3a9_Qm2LpR0tZx"),
        proof.challenge(proof.derive_key(b"another-key-0123456789"), "zomerkampen",
                        "Xk3a9_Qm2LpR0tZw"),
        # The separator keeps room and visitor apart: "a:b" + "c" is not "a" + "b:c".
        proof.challenge(KEY, "zomerkampen:Xk3a9", "_Qm2LpR0tZw"),
    }
    assert CHALLENGE not in others and len(others) == 4


def test_passes_derive_the_proof_key_from_the_newest_signing_key() -> None:
    passes = Passes(["old-key-0123456789", "new-key-0123456789"])
    assert passes.proof_key == proof.derive_key(b"new-key-0123456789")
    assert passes.proof_key != proof.derive_key(b"old-key-0123456789")
    # Not the signing key itself, nor anything the cookies are signed with.
    assert passes.proof_key not in (b"new-key-0123456789", b"old-key-0123456789")
    assert Passes(["new-key-0123456789"]).proof_key == passes.proof_key


@pytest.mark.parametrize("bits", [1, 4, 8, 12, 16])
def test_verify_accepts_a_solved_nonce(bits: int) -> None:
    nonce = proof.solve(CHALLENGE, bits)
    assert proof.solves(CHALLENGE, nonce, bits)
    assert leading_zero_bits(CHALLENGE, nonce) >= bits


def test_solve_finds_the_first_nonce_in_counting_order() -> None:
    nonce = proof.solve(CHALLENGE, 12)
    n = int(nonce, 36)
    assert proof.base36(n) == nonce
    assert not any(proof.solves(CHALLENGE, proof.base36(i), 12) for i in range(n))


def test_verify_refuses_a_wrong_nonce_and_a_nonce_for_another_challenge() -> None:
    nonce = proof.solve(CHALLENGE, 16)
    n = int(nonce, 36)
    assert not proof.solves(CHALLENGE, proof.base36(n - 1), 16)
    other = proof.challenge(KEY, "zomerkampen", "someone-else-0001")
    assert leading_zero_bits(other, nonce) < 16  # this nonce is no proof for them
    assert not proof.solves(other, nonce, 16)


def test_verify_holds_to_the_bits_asked() -> None:
    nonce = proof.solve(CHALLENGE, 10)
    zeros = leading_zero_bits(CHALLENGE, nonce)
    assert proof.solves(CHALLENGE, nonce, zeros)
    assert not proof.solves(CHALLENGE, nonce, zeros + 1)
    assert all(proof.solves(CHALLENGE, nonce, b) for b in range(zeros + 1))


def test_zero_bits_asks_for_nothing() -> None:
    assert proof.solves(CHALLENGE, "anything", 0)
    assert proof.solves(CHALLENGE, "", 0)
    assert proof.solve(CHALLENGE, 0) == "0"


@pytest.mark.parametrize("nonce", [
    "", "A", "0A", "-1", "1.0", " 1", "1 ", "1\n", "é", "١", "0" * 17, "a:b", "\x00",
    "\ud800",
])
def test_malformed_nonces_are_refused(nonce: str) -> None:
    assert not proof.solves(CHALLENGE, nonce, 1) and not proof.solves(CHALLENGE, nonce, 8)


def test_a_nonce_of_sixteen_characters_is_still_a_nonce() -> None:
    long = "z" * 16
    zeros = leading_zero_bits(CHALLENGE, long)
    assert zeros >= 1 and proof.solves(CHALLENGE, long, zeros)


@pytest.mark.parametrize(("challenge", "nonce", "bits"), [
    (CHALLENGE, "0", -1), (CHALLENGE, "0", 257), (CHALLENGE, "0", True), (CHALLENGE, "0", 1.0),
    (CHALLENGE, "0", "8"), (CHALLENGE, "0", None), (None, "0", 8), (b"abc", "0", 8),
    (CHALLENGE, b"0", 8), (CHALLENGE, 0, 8), ("", "0", 8), ("ABCDEF", "0", 8),
    ("a" * 65, "0", 8), ("\ud800", "0", 8),
])
def test_bad_input_is_false_not_an_error(challenge: object, nonce: object, bits: object) -> None:
    assert proof.solves(challenge, nonce, bits) is False  # type: ignore[arg-type]


@given(challenge=st.one_of(st.text(), st.text("0123456789abcdef", min_size=1, max_size=64),
                           st.binary(), st.none(), st.integers()),
       nonce=st.one_of(st.text(), st.text("0123456789abcdefghijklmnopqrstuvwxyz", max_size=20),
                       st.binary(), st.none(), st.integers(), st.floats()),
       bits=st.one_of(st.integers(), st.integers(0, 24), st.floats(), st.booleans(), st.text()))
def test_verify_never_raises(challenge: object, nonce: object, bits: object) -> None:
    ok = proof.solves(challenge, nonce, bits)  # type: ignore[arg-type]
    assert isinstance(ok, bool)
    if ok and bits != 0:
        assert isinstance(challenge, str) and isinstance(nonce, str) and isinstance(bits, int)
        assert leading_zero_bits(challenge, nonce) >= bits


@given(st.text("0123456789abcdef", min_size=1, max_size=64), st.integers(0, 8))
def test_solve_always_finds_a_nonce_verify_accepts(challenge: str, bits: int) -> None:
    nonce = proof.solve(challenge, bits)
    assert 1 <= len(nonce) <= 16 and proof.solves(challenge, nonce, bits)


@pytest.mark.parametrize(("challenge", "bits"), [
    ("", 8), ("XYZ", 8), (CHALLENGE, -1), (CHALLENGE, 257), (CHALLENGE, True)])
def test_solve_refuses_what_could_never_verify(challenge: str, bits: int) -> None:
    with pytest.raises(ValueError):
        proof.solve(challenge, bits)


def test_base36_writes_numbers_as_javascript_does() -> None:
    assert [proof.base36(n) for n in (0, 9, 10, 35, 36, 1295, 1296, 46655, 46656)] == [
        "0", "9", "a", "z", "10", "zz", "100", "zzz", "1000"]
    assert proof.base36(2**53 - 1) == "2gosa7pa2gv"  # (2**53 - 1).toString(36)


# The room setting.

def rooms_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "rooms.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_join_proof_bits_is_off_unless_a_room_sets_it(tmp_path: Path) -> None:
    assert RoomConfig(name="default").join_proof_bits == 0
    rooms = load_rooms(rooms_file(tmp_path, "[rooms.a]\n\n[rooms.b]\njoin_proof_bits = 16\n"
                                            "\n[rooms.c]\njoin_proof_bits = 24\n"))
    assert [r.join_proof_bits for r in rooms] == [0, 16, 24]


@pytest.mark.parametrize("value", ["-1", "25", "16.0", '"16"', "true", "[16]"])
def test_a_bad_join_proof_bits_is_named(tmp_path: Path, value: str) -> None:
    with pytest.raises(RoomSettingsError) as caught:
        load_rooms(rooms_file(tmp_path, f"[rooms.kampen]\njoin_proof_bits = {value}\n"))
    assert caught.value.reasons == {
        "kampen.join_proof_bits": "must be a whole number between 0 (off) and 24"}
