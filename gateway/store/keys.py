"""Every Redis key name Sluis uses, built here and nowhere else.

A room's keys share the hash tag ``{room}`` so that each script touches one
slot and runs unchanged on Redis Cluster.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

PREFIX = "sluis"
# Last-seen times live in this many small hashes per room, so that each stays in
# Redis's compact (ziplist/listpack) encoding up to ~128 entries: about 25 bytes a
# waiting visitor instead of ~80 in one big hash. 8,192 buckets keep rooms of up to
# about 800,000 waiting visitors compact.
SEEN_BUCKETS = 8192


@dataclass(frozen=True, slots=True)
class RoomKeys:
    room: str
    settings: str   # hash: live settings (rate, max active, session, paused, opens_at, ...)
    state: str      # hash: counters, last sequence number, admission credit, draw seed,
    #                 the breaker (breaker_open, breaker_since, breaker_reason), the
    #                 inventory (inventory, inventory_until, inventory_source, ...)
    queue: str      # zset: visitor -> sequence number (arrival order after opening)
    prequeue: str   # zset: visitor -> draw number (random order, fixed by the seed)
    seen_prefix: str  # hashes seen_prefix + n: visitor -> last time they asked (s)
    active: str     # zset: visitor -> session expiry (ms)
    started: str    # hash: visitor -> admission time (ms) of each live session
    leader: str     # string: the worker that leads this room, with a lease TTL
    audit: str      # list: JSON entries, newest first
    draw: str       # list: the drawn pre-queue as public tickets, in order

    def seen(self, visitor: str) -> str:
        """The hash that holds this visitor's last-seen time."""
        return f"{self.seen_prefix}{zlib.crc32(visitor.encode()) % SEEN_BUCKETS}"

    def line(self) -> list[str]:
        """The first KEYS of every script that reads or changes the line, in order."""
        return [self.settings, self.state, self.queue, self.prequeue, self.active,
                self.started]

    def health(self, second: int) -> str:
        """Hash of the backend's answers in one second (n, err, latency buckets)."""
        return f"{PREFIX}:{{{self.room}}}:health:{second}"

    @property
    def series(self) -> str:
        """zset: the room's figures sampled by the leading worker (JSON), scored by ms."""
        return f"{PREFIX}:{{{self.room}}}:series"

    @property
    def notify_addresses(self) -> str:
        """hash: visitor -> their e-mail sign-up (gateway/notify.py: Signup), kept only
        until the message goes or the place ends."""
        return f"{PREFIX}:{{{self.room}}}:notify:addresses"

    @property
    def notify_watch(self) -> str:
        """zset: visitor -> until when (ms) the leading worker keeps the place of a
        visitor who signed up; 0 once that is over (one message per place)."""
        return f"{PREFIX}:{{{self.room}}}:notify:watch"

    @property
    def notify_by_address(self) -> str:
        """hash: keyed hash of an address -> its recent sign-up times (ms, comma
        separated), for the per-address limit."""
        return f"{PREFIX}:{{{self.room}}}:notify:by_address"

    @property
    def notify_sent(self) -> str:
        """zset: visitor -> time (ms) of each message sent in the last minute, for the
        room's limit."""
        return f"{PREFIX}:{{{self.room}}}:notify:sent"

    def joins_by_address(self, network: str) -> str:
        """zset: visitor -> time (ms) of each place taken from one client network in the
        last minute (gateway/addresses.py), pruned as it slides."""
        return f"{PREFIX}:{{{self.room}}}:joins:{network}"

    @property
    def held(self) -> str:
        """hash: client network -> places held in line from it now. Each such place has
        its network after its last-seen time (lua/_prelude.lua: forget gives it back)."""
        return f"{PREFIX}:{{{self.room}}}:held"

    def networks(self, visitor: str) -> str:
        """zset: client network -> last use (ms) of one visitor's admission, within the
        window of gateway/sharing.py."""
        return f"{PREFIX}:{{{self.room}}}:networks:{visitor}"


def room_keys(room: str) -> RoomKeys:
    tag = f"{PREFIX}:{{{room}}}"
    return RoomKeys(
        room=room,
        settings=f"{tag}:settings",
        state=f"{tag}:state",
        queue=f"{tag}:queue",
        prequeue=f"{tag}:prequeue",
        seen_prefix=f"{tag}:seen:",
        active=f"{tag}:active",
        started=f"{tag}:started",
        leader=f"{tag}:leader",
        audit=f"{tag}:audit",
        draw=f"{tag}:draw",
    )


ROOMS_INDEX = f"{PREFIX}:rooms"  # set of room names known to this deployment
# Pub/sub channel: every session end and drain, "room\nvisitor" ("*" for a whole room),
# so that every gateway process refuses the ended admissions at once.
ENDS_CHANNEL = f"{PREFIX}:ends"
