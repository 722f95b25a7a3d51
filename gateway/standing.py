"""Where a visitor stands: the status JSON of the contract, built from one store read
(pure, no I/O). gateway/visit.py decides, gateway/answers.py sends it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from gateway import eta as eta_mod
from gateway.inventory import InventoryConfig
from gateway.rooms import iso_from_ms
from gateway.store import Code, Place, RoomSnapshot


class State(StrEnum):
    NONE = "none"
    PREQUEUE = "prequeue"
    QUEUED = "queued"
    ADMITTED = "admitted"
    PAUSED = "paused"
    CLOSED = "closed"
    SOLD_OUT = "sold_out"


# While places are scarcer than people waiting, the page asks at least this often, so
# that everyone learns within seconds that the last place went (the worker polls the
# inventory source every few seconds too).
SCARCE_POLL_SECONDS = 5
# Sold out: asked now and then, in case places come back.
SOLD_OUT_POLL_SECONDS = 15


def state_of(place: Place, snap: RoomSnapshot) -> State:
    if place.code == Code.ADMITTED:
        return State.ADMITTED
    if snap.sold_out and place.code in (Code.NONE, Code.PREQUEUE, Code.QUEUED) \
            and not snap.settings.closed:
        return State.SOLD_OUT
    if place.code == Code.PREQUEUE:
        return State.PREQUEUE
    if place.code == Code.QUEUED:
        return State.PAUSED if snap.settings.paused else State.QUEUED
    if place.code == Code.CLOSED or snap.settings.closed:
        return State.CLOSED
    return State.NONE


@dataclass(frozen=True, slots=True)
class Standing:
    room: str
    state: State
    position: int | None
    ahead: int | None
    queue_length: int
    eta: eta_mod.Eta
    opens_at: str | None
    poll_after_seconds: int
    seed_sha256: str | None
    seed: str | None
    updated_at: str
    opens_at_ms: int
    now_ms: int
    # How long a waiting visitor may stay away and keep the place (not in the JSON).
    grace_seconds: int = 300
    places_left: int | None = None
    waiting_list: dict[str, str | None] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "state": self.state.value,
            "position": self.position,
            "ahead": self.ahead,
            "queue_length": self.queue_length,
            "eta_seconds": self.eta.seconds,
            "eta_low_seconds": self.eta.low,
            "eta_high_seconds": self.eta.high,
            "opens_at": self.opens_at,
            "poll_after_seconds": self.poll_after_seconds,
            "draw": {"seed_sha256": self.seed_sha256, "seed": self.seed},
            "updated_at": self.updated_at,
            "places_left": self.places_left,
            "waiting_list": self.waiting_list,
        }


def build(room: str, tz: ZoneInfo, snap: RoomSnapshot, place: Place,
          rng: random.Random | None = None, inventory: InventoryConfig | None = None,
          lang: str = "nl") -> Standing:
    live = snap.settings
    state = state_of(place, snap)
    # Sold out keeps the place: when places come back, the line moves on from there.
    waiting = state in (State.QUEUED, State.PAUSED) or (
        state is State.SOLD_OUT and place.code == Code.QUEUED)
    position = place.position if waiting and place.position > 0 else None
    ahead = position - 1 if position is not None else None
    estimate = eta_mod.UNKNOWN
    if state is State.QUEUED and ahead is not None:
        estimate = eta_mod.estimate(ahead, live.rate_per_minute, snap.rate_measured,
                                    snap.rate_low, snap.rate_high, live.max_active,
                                    live.session_seconds, _turnover(snap, ahead + 1))
    if state is State.QUEUED:
        poll = eta_mod.poll_queued(estimate, ahead or 0, live.grace_seconds, rng)
    elif state is State.PREQUEUE:
        poll = eta_mod.poll_prequeue((live.opens_at_ms - snap.now_ms) / 1000, snap.prequeue_len,
                                     rng)
    elif state is State.PAUSED:
        poll = eta_mod.poll_paused(rng)
    elif state is State.SOLD_OUT:
        poll = SOLD_OUT_POLL_SECONDS
    elif state is State.ADMITTED:
        poll = 1
    else:
        poll = 10
    if (snap.places_left is not None and state in (State.QUEUED, State.PAUSED)
            and snap.places_left < snap.waiting):
        poll = min(poll, SCARCE_POLL_SECONDS)
    upcoming = live.opens_at_ms > snap.now_ms
    return Standing(
        room=room, state=state, position=position, ahead=ahead,
        queue_length=snap.waiting, eta=estimate,
        opens_at=iso_from_ms(live.opens_at_ms, tz) if upcoming else None,
        poll_after_seconds=poll,
        seed_sha256=snap.seed_sha256 if live.opens_at_ms else None,
        seed=snap.seed if live.opens_at_ms and not upcoming else None,
        updated_at=iso_from_ms(snap.now_ms, tz) or "",
        opens_at_ms=live.opens_at_ms, now_ms=snap.now_ms, grace_seconds=live.grace_seconds,
        places_left=snap.places_left,
        waiting_list=(inventory.waiting_list(lang) if inventory is not None
                      and state is State.SOLD_OUT else None),
    )


def _turnover(snap: RoomSnapshot, turns: int) -> eta_mod.Turnover | None:
    """The live sessions, read only for a visitor whose turn needs one of them to end
    (most answers need only the count in front of the summary)."""
    summary = snap.turnover
    if not summary:
        return None
    live = snap.settings
    try:
        active = int(summary[:summary.index(";")])
    except ValueError:
        return None
    if turns <= live.max_active - active:
        return None
    return eta_mod.turnover_from(summary, now_ms=snap.now_ms, max_active=live.max_active,
                                 session_seconds=live.session_seconds)


# The poll of an answer without a place: right after the cookie went out, the place comes
# with the next request that brings it back; without a cookie, nothing is coming.
ARRIVING_POLL_SECONDS = 1
NO_PLACE_POLL_SECONDS = 10


def without_place(room: str, tz: ZoneInfo, now_ms: int,
                  poll_after: int = NO_PLACE_POLL_SECONDS) -> dict[str, Any]:
    """The answer for a request without a (valid) visitor cookie: no Redis needed. On the
    first answer of the queue page, which sets the cookie, `poll_after` is short: the
    place comes with the next request that brings the cookie back."""
    return {
        "room": room, "state": State.NONE.value, "position": None, "ahead": None,
        "queue_length": None, "eta_seconds": None, "eta_low_seconds": None,
        "eta_high_seconds": None, "opens_at": None, "poll_after_seconds": poll_after,
        "draw": {"seed_sha256": None, "seed": None},
        "updated_at": iso_from_ms(now_ms, tz),
        "places_left": None, "waiting_list": None,
    }
