"""Read-only views of the programme and its registrations, for pages, API and exports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from backends.internal.states import Status
from backends.internal.tables import activities, children, households, registrations, sessions


@dataclass(frozen=True, slots=True)
class SessionView:
    id: int
    activity_id: int
    label: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int
    price_resident_cents: int
    price_non_resident_cents: int
    waitlisted: int = 0

    @property
    def available(self) -> int:
        return max(self.capacity - self.booked, 0)


@dataclass(frozen=True, slots=True)
class ActivityView:
    id: int
    kind: str
    name: str
    description: str
    location: str
    born_from_year: int
    born_to_year: int
    opens_at: datetime | None
    residents_open_at: datetime | None
    closes_at: datetime | None
    social_discount_percent: int
    waitlist: bool
    sessions: list[SessionView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RegistrationView:
    id: str
    seq: int
    status: Status
    session_id: int
    activity_id: int
    activity_name: str
    session_label: str
    starts_at: datetime
    ends_at: datetime
    first_name: str
    last_name: str
    birth_date: date
    email: str
    postcode: str
    resident: bool
    social_tariff: bool
    price_cents: int
    basket: str | None
    created_at: datetime
    expires_at: datetime | None
    confirmed_at: datetime | None
    paid_at: datetime | None
    cancelled_at: datetime | None
    waitlist_position: int | None = None


async def _waitlist_counts(conn: AsyncConnection, session_ids: list[int]) -> dict[int, int]:
    if not session_ids:
        return {}
    rows = await conn.execute(
        select(registrations.c.session_id, func.count())
        .where(
            registrations.c.session_id.in_(session_ids),
            registrations.c.status == Status.WAITLISTED.value,
        )
        .group_by(registrations.c.session_id)
    )
    return {int(s): int(n) for s, n in rows}


async def list_activities(
    conn: AsyncConnection,
    born_year: int | None = None,
    kind: str | None = None,
    activity_id: int | None = None,
) -> list[ActivityView]:
    query = select(activities).order_by(activities.c.kind, activities.c.name)
    if born_year is not None:
        query = query.where(
            activities.c.born_from_year <= born_year, activities.c.born_to_year >= born_year
        )
    if kind is not None:
        query = query.where(activities.c.kind == kind)
    if activity_id is not None:
        query = query.where(activities.c.id == activity_id)
    found = {
        row.id: ActivityView(
            id=row.id,
            kind=row.kind,
            name=row.name,
            description=row.description,
            location=row.location,
            born_from_year=row.born_from_year,
            born_to_year=row.born_to_year,
            opens_at=row.opens_at,
            residents_open_at=row.residents_open_at,
            closes_at=row.closes_at,
            social_discount_percent=row.social_discount_percent,
            waitlist=bool(row.waitlist),
        )
        for row in await conn.execute(query)
    }
    if not found:
        return []
    rows = list(
        await conn.execute(
            select(sessions)
            .where(sessions.c.activity_id.in_(list(found)))
            .order_by(sessions.c.starts_at, sessions.c.id)
        )
    )
    waiting = await _waitlist_counts(conn, [r.id for r in rows])
    for r in rows:
        found[r.activity_id].sessions.append(
            SessionView(
                id=r.id,
                activity_id=r.activity_id,
                label=r.label,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                capacity=r.capacity,
                booked=r.booked,
                price_resident_cents=r.price_resident_cents,
                price_non_resident_cents=r.price_non_resident_cents,
                waitlisted=waiting.get(r.id, 0),
            )
        )
    return list(found.values())


async def session_with_activity(
    conn: AsyncConnection, session_id: int
) -> tuple[ActivityView, SessionView] | None:
    activity_id = (
        await conn.execute(select(sessions.c.activity_id).where(sessions.c.id == session_id))
    ).scalar_one_or_none()
    if activity_id is None:
        return None
    (activity,) = await list_activities(conn, activity_id=int(activity_id))
    session = next(s for s in activity.sessions if s.id == session_id)
    return activity, session


def _registration_query() -> Select[tuple[object, ...]]:
    return (
        select(
            registrations,
            sessions.c.activity_id,
            sessions.c.label.label("session_label"),
            sessions.c.starts_at,
            sessions.c.ends_at,
            activities.c.name.label("activity_name"),
            children.c.first_name,
            children.c.last_name,
            children.c.birth_date,
            households.c.email,
            households.c.postcode,
        )
        .join(sessions, sessions.c.id == registrations.c.session_id)
        .join(activities, activities.c.id == sessions.c.activity_id)
        .join(children, children.c.id == registrations.c.child_id)
        .join(households, households.c.id == registrations.c.household_id)
    )


def _view(row: object, position: int | None = None) -> RegistrationView:
    m = row._mapping  # type: ignore[attr-defined]
    return RegistrationView(
        id=m["id"],
        seq=m["seq"],
        status=Status(m["status"]),
        session_id=m["session_id"],
        activity_id=m["activity_id"],
        activity_name=m["activity_name"],
        session_label=m["session_label"],
        starts_at=m["starts_at"],
        ends_at=m["ends_at"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        birth_date=m["birth_date"],
        email=m["email"],
        postcode=m["postcode"],
        resident=bool(m["resident"]),
        social_tariff=bool(m["social_tariff"]),
        price_cents=m["price_cents"],
        basket=m["basket"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        confirmed_at=m["confirmed_at"],
        paid_at=m["paid_at"],
        cancelled_at=m["cancelled_at"],
        waitlist_position=position,
    )


async def waitlist_position(conn: AsyncConnection, session_id: int, seq: int) -> int:
    ahead = (
        await conn.execute(
            select(func.count()).where(
                registrations.c.session_id == session_id,
                registrations.c.status == Status.WAITLISTED.value,
                registrations.c.seq < seq,
            )
        )
    ).scalar_one()
    return int(ahead) + 1


async def registration(conn: AsyncConnection, registration_id: str) -> RegistrationView | None:
    row = (
        await conn.execute(_registration_query().where(registrations.c.id == registration_id))
    ).first()
    if row is None:
        return None
    view = _view(row)
    if view.status is Status.WAITLISTED:
        position = await waitlist_position(conn, view.session_id, view.seq)
        view = _view(row, position)
    return view


def _with_positions(rows: list[object]) -> list[RegistrationView]:
    """Views in created order, each waitlisted one numbered within its own session."""
    counters: dict[int, int] = defaultdict(int)
    out = []
    for row in rows:
        view = _view(row)
        if view.status is Status.WAITLISTED:
            counters[view.session_id] += 1
            view = _view(row, counters[view.session_id])
        out.append(view)
    return out


async def basket_registrations(conn: AsyncConnection, basket: str) -> list[RegistrationView]:
    rows = list(
        await conn.execute(
            _registration_query()
            .where(registrations.c.basket == basket)
            .order_by(registrations.c.seq)
        )
    )
    views = []
    for row in rows:
        view = _view(row)
        if view.status is Status.WAITLISTED:
            position = await waitlist_position(conn, view.session_id, view.seq)
            view = _view(row, position)
        views.append(view)
    return views


async def session_registrations(
    conn: AsyncConnection, session_id: int | None = None
) -> list[RegistrationView]:
    """Every registration (of one session, or all), oldest first: the export's rows."""
    query = _registration_query().order_by(registrations.c.session_id, registrations.c.seq)
    if session_id is not None:
        query = query.where(registrations.c.session_id == session_id)
    return _with_positions(list(await conn.execute(query)))


async def counts_by_status(conn: AsyncConnection) -> dict[int, dict[Status, int]]:
    rows = await conn.execute(
        select(registrations.c.session_id, registrations.c.status, func.count()).group_by(
            registrations.c.session_id, registrations.c.status
        )
    )
    out: dict[int, dict[Status, int]] = defaultdict(dict)
    for session_id, status, count in rows:
        out[int(session_id)][Status(status)] = int(count)
    return out


async def paid_counts(conn: AsyncConnection) -> dict[int, int]:
    rows = await conn.execute(
        select(registrations.c.session_id, func.count())
        .where(registrations.c.paid_at.is_not(None))
        .group_by(registrations.c.session_id)
    )
    return {int(s): int(n) for s, n in rows}
