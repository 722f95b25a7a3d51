"""The only code that changes a session's `booked` count: every change is one atomic statement.

A place is taken by ``UPDATE ... SET booked = booked + 1 WHERE booked < capacity``:
the database decides, under its own row lock, whether the place still exists.
Python never reads the count to decide. Freed places go to the waiting list
first, inside the same transaction that freed them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from backends.internal.states import EXPIRING, Status
from backends.internal.tables import registrations, sessions

# Advisory lock class for "someone is freeing places in session N" (PostgreSQL only:
# SQLite already runs one writer at a time).
_FREEING_LOCK_CLASS = 0x5E55


_TAKE_PLACE = (
    update(sessions)
    .where(sessions.c.id == bindparam("session"), sessions.c.booked < sessions.c.capacity)
    .values(booked=sessions.c.booked + 1)
)


async def take_place(conn: AsyncConnection, session_id: int) -> bool:
    result = await conn.execute(_TAKE_PLACE, {"session": session_id})
    return result.rowcount == 1


async def give_back(conn: AsyncConnection, session_id: int, count: int) -> None:
    if count:
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(booked=sessions.c.booked - count)
        )


async def lock_for_freeing(conn: AsyncConnection, session_id: int) -> None:
    """Serialise the transactions that free places in one session, so they cannot deadlock."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:c, :s)"),
            {"c": _FREEING_LOCK_CLASS, "s": session_id},
        )


async def offer_freed_places(
    conn: AsyncConnection, session_id: int, now: datetime, offer_for: timedelta
) -> list[str]:
    """Give free places to the waiting list, oldest first; returns the registrations offered."""
    offered: list[str] = []
    while True:
        candidate = (
            await conn.execute(
                select(registrations.c.id)
                .where(
                    registrations.c.session_id == session_id,
                    registrations.c.status == Status.WAITLISTED.value,
                )
                .order_by(registrations.c.seq)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).scalar_one_or_none()
        if candidate is None or not await take_place(conn, session_id):
            return offered
        await conn.execute(
            update(registrations)
            .where(registrations.c.id == candidate)
            .values(status=Status.OFFERED.value, expires_at=now + offer_for, updated_at=now)
        )
        offered.append(candidate)


def _overdue(now: datetime) -> list[ColumnElement[bool]]:
    return [
        registrations.c.status.in_([s.value for s in EXPIRING]),
        registrations.c.expires_at <= now,
    ]


async def has_overdue(conn: AsyncConnection, session_id: int, now: datetime) -> bool:
    found = await conn.execute(
        select(registrations.c.id)
        .where(registrations.c.session_id == session_id, *_overdue(now))
        .limit(1)
    )
    return found.first() is not None


async def sessions_with_overdue(conn: AsyncConnection, now: datetime) -> list[int]:
    rows = await conn.execute(
        select(registrations.c.session_id)
        .where(*_overdue(now))
        .group_by(registrations.c.session_id)
        .order_by(func.min(registrations.c.expires_at))
    )
    return [int(r) for r in rows.scalars()]


async def release_overdue(
    conn: AsyncConnection, session_id: int, now: datetime, offer_for: timedelta
) -> tuple[list[str], list[str]]:
    """Expire the holds and offers of one session that ran out, and pass their places on.

    Returns (expired ids, offered ids).
    """
    await lock_for_freeing(conn, session_id)
    expired = [
        str(r)
        for r in (
            await conn.execute(
                update(registrations)
                .where(registrations.c.session_id == session_id, *_overdue(now))
                .values(status=Status.EXPIRED.value, updated_at=now)
                .returning(registrations.c.id)
            )
        ).scalars()
    ]
    await give_back(conn, session_id, len(expired))
    offered = await offer_freed_places(conn, session_id, now, offer_for) if expired else []
    return expired, offered
