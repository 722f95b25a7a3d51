"""One visit of someone without a valid admission, decided once over the store: by the
gate (a request for a page of the site) and by the status poll alike. No ASGI, no HTML:
gateway/answers.py turns the Outcome into the queue page or the status JSON."""

from __future__ import annotations

from dataclasses import dataclass

from gateway import metrics, proof
from gateway.passes import Passes, new_visitor_id
from gateway.rooms import RoomConfig
from gateway.standing import ARRIVING_POLL_SECONDS, NO_PLACE_POLL_SECONDS, State, state_of
from gateway.store import Code, Place, RoomSnapshot, Store, StoreUnavailable


@dataclass(frozen=True, slots=True)
class Arriving:
    """No place yet. `cookie`: a newcomer's signed visitor cookie, handed out now (the
    place comes with the request that brings it back); `challenge`: the proof-of-work
    the page solves first, in a room that asks for one (`bits`)."""

    poll_after: int
    cookie: str | None = None
    challenge: str = ""
    bits: int = 0


@dataclass(frozen=True, slots=True)
class Waiting:
    """A place in the line or the pre-queue, or none: what the standing shows
    (gateway/standing.py builds it from these)."""

    snap: RoomSnapshot
    place: Place


@dataclass(frozen=True, slots=True)
class SoldOut:
    """The inventory source reports no places left: admission stops, the place is kept."""

    snap: RoomSnapshot
    place: Place


@dataclass(frozen=True, slots=True)
class Admitted:
    """Let in. `token`: a fresh admission for `seconds`, when the visitor holds no valid
    one; None when the cookie they sent still holds."""

    snap: RoomSnapshot
    place: Place
    token: str | None
    seconds: int


@dataclass(frozen=True, slots=True)
class Limited:
    """The visitor's address took more places than its limit allows (gateway/addresses.py)."""


@dataclass(frozen=True, slots=True)
class ProofRequired:
    """A join in a room with proof-of-work came without a valid proof."""

    challenge: str
    bits: int


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Redis did not answer: keep the page open and ask again."""


Outcome = Arriving | Waiting | SoldOut | Admitted | Limited | ProofRequired | Unavailable

# The outcomes without a field, and the status poll without a cookie, made once.
LIMITED = Limited()
UNAVAILABLE = Unavailable()
NO_COOKIE = Arriving(NO_PLACE_POLL_SECONDS)

_LABELS = {code: code.name.lower() for code in Code}  # sluis_joins_total{result}


async def visit(store: Store, passes: Passes, room: RoomConfig, visitor: str | None,
                address: str | None = None, *, page: bool = False, join: bool = False,
                nonce: str = "", admission: str | None = None) -> Outcome:
    """Where `visitor` (None: no valid visitor cookie) stands in `room`.

    `page`: a request for a page of the site (the gate). A newcomer gets a cookie and no
    place, without Redis; a visitor with a cookie takes a place or finds theirs in one
    call, except in a room with proof-of-work, where the page only reads the place held
    (its status call brings the proof). Every page request counts as a join result.

    Otherwise the status poll, which only looks, unless `join` (the page's first call):
    then a visitor without a place takes one, with `nonce` solving the room's challenge
    if it has one. Only such joins are counted.

    `admission`: the admission cookie sent; an admitted visitor whose cookie does not hold
    gets a fresh token."""
    name = room.name
    bits = room.join_proof_bits
    if visitor is None:
        if not page:
            return NO_COOKIE
        # A cookie now, a place when the browser brings it back: a client that drops
        # cookies (a bot) gets a page on every request and never a place.
        visitor = new_visitor_id()
        metrics.join_counted(name, "arriving")
        challenge = proof.challenge(passes.proof_key, name, visitor) if bits else ""
        return Arriving(ARRIVING_POLL_SECONDS, passes.visitor_cookie(visitor), challenge, bits)
    counted = page
    try:
        if page and not bits:
            snap, place = await store.join(name, visitor, address,
                                           may_pass=room.route.may_pass_when_idle)
        else:
            snap, place = await store.status(name, visitor)
            if join and not page and place.code is Code.NONE and not snap.settings.closed:
                if bits:
                    challenge = proof.challenge(passes.proof_key, name, visitor)
                    if not proof.solves(challenge, nonce, bits):
                        metrics.join_counted(name, "no_proof")
                        return ProofRequired(challenge, bits)
                snap, place = await store.join(name, visitor, address,
                                               may_pass=room.route.may_pass_when_idle)
                counted = True
    except StoreUnavailable:
        metrics.REDIS_ERRORS.inc()
        if page:
            metrics.join_counted(name, "unavailable")
        return UNAVAILABLE
    code = place.code
    if counted:
        if page and bits and code is Code.NONE and not snap.settings.closed:
            metrics.join_counted(name, "no_proof")
            challenge = proof.challenge(passes.proof_key, name, visitor)
            return Arriving(ARRIVING_POLL_SECONDS, None, challenge, bits)
        metrics.join_counted(name, _LABELS[code])
        if code is Code.LIMITED:
            return LIMITED
    if code is Code.ADMITTED:
        seconds = snap.settings.first_window
        token = None
        if passes.admission_for(admission, name, visitor) is None:
            token = passes.admission.issue(name, visitor, seconds)
        return Admitted(snap, place, token, seconds)
    if snap.places_left is not None and state_of(place, snap) is State.SOLD_OUT:
        return SoldOut(snap, place)
    return Waiting(snap, place)
