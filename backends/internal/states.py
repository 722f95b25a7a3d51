"""The states of a registration, and which of them occupy a place."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    HELD = "held"  # in a basket, the place kept until the hold expires
    CONFIRMED = "confirmed"  # checked out; paid or not, the place is the child's
    WAITLISTED = "waitlisted"  # no place; in line for the next freed one
    OFFERED = "offered"  # a freed place kept for a waitlisted child until the offer expires
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a hold or an offer that ran out


# These occupy one place each: the session's `booked` counts exactly them.
COUNTED: tuple[Status, ...] = (Status.HELD, Status.CONFIRMED, Status.OFFERED)
# A child may be in at most one of these per session.
ACTIVE: tuple[Status, ...] = (*COUNTED, Status.WAITLISTED)
# States that end by themselves when `expires_at` passes.
EXPIRING: tuple[Status, ...] = (Status.HELD, Status.OFFERED)


def sql_list(states: tuple[Status, ...]) -> str:
    """A literal SQL list for constraints and partial indexes, which cannot take parameters."""
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"
