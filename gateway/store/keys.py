"""Every Redis key name Sluis uses, built here and nowhere else.

A room's keys share the hash tag ``{room}`` so that each script touches one
slot and runs unchanged on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "sluis"


@dataclass(frozen=True, slots=True)
class RoomKeys:
    room: str
    settings: str   # hash: live settings (rate, max active, session, paused, opens_at, ...)
    state: str      # hash: counters, last sequence number, admission credit, draw seed
    queue: str      # zset: visitor -> sequence number (arrival order after opening)
    prequeue: str   # zset: visitor -> draw number (random order, fixed by the seed)
    seen: str       # hash: visitor -> last time they asked (seconds), for the grace period
    active: str     # zset: visitor -> session expiry (ms)
    leader: str     # string: the worker that leads this room, with a lease TTL
    audit: str      # list: JSON entries, newest first
    draw: str       # list: the drawn pre-queue as public tickets, in order

    def waiting_scripts(self) -> list[str]:
        """KEYS for join and status, in the order the scripts expect."""
        return [self.settings, self.state, self.queue, self.prequeue, self.seen, self.active]

    def admit_scripts(self) -> list[str]:
        return [self.settings, self.state, self.queue, self.prequeue, self.seen, self.active,
                self.leader]

    def joins_by_address(self, address: str, minute: int) -> str:
        """Counter of new places taken from one client address in one minute."""
        return f"{PREFIX}:{{{self.room}}}:ip:{address}:{minute}"


def room_keys(room: str) -> RoomKeys:
    tag = f"{PREFIX}:{{{room}}}"
    return RoomKeys(
        room=room,
        settings=f"{tag}:settings",
        state=f"{tag}:state",
        queue=f"{tag}:queue",
        prequeue=f"{tag}:prequeue",
        seen=f"{tag}:seen",
        active=f"{tag}:active",
        leader=f"{tag}:leader",
        audit=f"{tag}:audit",
        draw=f"{tag}:draw",
    )


ROOMS_INDEX = f"{PREFIX}:rooms"  # set of room names known to this deployment
