"""The city's programme (activities and their sessions) as plain specs, and how it is stored.

CSV imports and the demo data both arrive here as specs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from backends.internal.tables import activities, sessions


@dataclass(frozen=True, slots=True)
class SessionSpec:
    starts_at: datetime
    ends_at: datetime
    capacity: int
    price_resident_cents: int
    price_non_resident_cents: int
    label: str = ""


@dataclass(frozen=True, slots=True)
class ActivitySpec:
    kind: str
    name: str
    born_from_year: int
    born_to_year: int
    sessions: tuple[SessionSpec, ...]
    description: str = ""
    location: str = ""
    opens_at: datetime | None = None
    residents_open_at: datetime | None = None
    closes_at: datetime | None = None
    social_discount_percent: int = 0
    waitlist: bool = True


async def activity_ids_by_name(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(activities.c.name, activities.c.id))
    return {str(name): int(id_) for name, id_ in rows}


async def session_starts(conn: AsyncConnection) -> set[tuple[int, datetime]]:
    rows = await conn.execute(select(sessions.c.activity_id, sessions.c.starts_at))
    return {(int(a), s) for a, s in rows}


async def store(conn: AsyncConnection, specs: list[ActivitySpec], now: datetime) -> tuple[int, int]:
    """Insert the specs; sessions of an activity that exists by name are added to it.

    Returns (activities created, sessions created).
    """
    known = await activity_ids_by_name(conn)
    created_activities = created_sessions = 0
    for spec in specs:
        activity_id = known.get(spec.name)
        if activity_id is None:
            result = await conn.execute(
                activities.insert()
                .values(
                    kind=spec.kind,
                    name=spec.name,
                    description=spec.description,
                    location=spec.location,
                    born_from_year=spec.born_from_year,
                    born_to_year=spec.born_to_year,
                    opens_at=spec.opens_at,
                    residents_open_at=spec.residents_open_at,
                    closes_at=spec.closes_at,
                    social_discount_percent=spec.social_discount_percent,
                    waitlist=spec.waitlist,
                    created_at=now,
                )
                .returning(activities.c.id)
            )
            activity_id = int(result.scalar_one())
            known[spec.name] = activity_id
            created_activities += 1
        if spec.sessions:
            await conn.execute(
                sessions.insert(),
                [
                    {
                        "activity_id": activity_id,
                        "label": s.label,
                        "starts_at": s.starts_at,
                        "ends_at": s.ends_at,
                        "capacity": s.capacity,
                        "booked": 0,
                        "price_resident_cents": s.price_resident_cents,
                        "price_non_resident_cents": s.price_non_resident_cents,
                    }
                    for s in spec.sessions
                ],
            )
            created_sessions += len(spec.sessions)
    return created_activities, created_sessions
