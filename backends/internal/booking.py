"""What parents and operators do with registrations: place, confirm, cancel, pay, expire."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Executable, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from backends.internal import places
from backends.internal.db import Database
from backends.internal.rules import AgeRule, Window, WindowRule, is_resident, price_cents
from backends.internal.states import ACTIVE, COUNTED, Status
from backends.internal.tables import activities, children, households, registrations, sessions
from backends.internal.validation import Invalid, Reason, RegistrationRequest, name_key

log = logging.getLogger("sluis.internal.booking")


@dataclass(frozen=True, slots=True)
class Policy:
    hold_for: timedelta
    offer_for: timedelta
    resident_postcodes: frozenset[str]


class Full(Exception):
    """No place left, and no waiting list wanted (or none kept for this activity)."""

    def __init__(self, waitlist_available: bool) -> None:
        super().__init__("full")
        self.waitlist_available = waitlist_available


class NotFound(Exception):
    pass


class WrongState(Exception):
    """The registration is not in a state that allows this step."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.value)
        self.status = status


@dataclass(frozen=True, slots=True)
class Placed:
    id: str
    status: Status
    expires_at: datetime | None
    price_cents: int
    resident: bool


_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_registration_id() -> str:
    """16 unambiguous letters and digits (~92 bits): unguessable, and safe to read aloud."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def _is_child_once_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    return "uq_registrations_child_once" in text or (
        "registrations.session_id, registrations.child_id" in text
    )


def _upserts(
    insert: Callable[[Table], postgresql.Insert | sqlite.Insert],
) -> tuple[Executable, Executable]:
    household = insert(households)
    household = household.on_conflict_do_update(
        index_elements=[households.c.email], set_={"postcode": household.excluded.postcode}
    )
    child = insert(children)
    child = child.on_conflict_do_update(
        index_elements=[children.c.household_id, children.c.name_key, children.c.birth_date],
        set_={"first_name": child.excluded.first_name, "last_name": child.excluded.last_name},
    )
    return household.returning(households.c.id), child.returning(children.c.id)


# Built once: constructing statements per request costs more CPU than running them.
_UPSERTS = {"postgresql": _upserts(postgresql.insert), "sqlite": _upserts(sqlite.insert)}
_INSERT_REGISTRATION = registrations.insert()
TERMS_TTL_SECONDS = 30.0


async def _household_id(conn: AsyncConnection, email: str, postcode: str, now: datetime) -> int:
    statement = _UPSERTS[conn.dialect.name][0]
    params = {"email": email, "postcode": postcode, "created_at": now}
    return int((await conn.execute(statement, params)).scalar_one())


async def _child_id(conn: AsyncConnection, household_id: int, req: RegistrationRequest) -> int:
    child = req.child
    params = {
        "household_id": household_id,
        "first_name": child.first_name,
        "last_name": child.last_name,
        "birth_date": child.birth_date,
        "name_key": name_key(child.first_name, child.last_name),
    }
    return int((await conn.execute(_UPSERTS[conn.dialect.name][1], params)).scalar_one())


@dataclass(frozen=True, slots=True)
class Terms:
    """What a registration for one session is checked and priced against."""

    starts_at: datetime
    price_resident_cents: int
    price_non_resident_cents: int
    age: AgeRule
    window: WindowRule
    social_discount_percent: int
    waitlist: bool


async def _load_terms(conn: AsyncConnection, session_id: int) -> Terms | None:
    row = (
        await conn.execute(
            select(
                sessions.c.starts_at,
                sessions.c.price_resident_cents,
                sessions.c.price_non_resident_cents,
                activities.c.born_from_year,
                activities.c.born_to_year,
                activities.c.opens_at,
                activities.c.residents_open_at,
                activities.c.closes_at,
                activities.c.social_discount_percent,
                activities.c.waitlist,
            )
            .join(activities, activities.c.id == sessions.c.activity_id)
            .where(sessions.c.id == session_id)
        )
    ).first()
    if row is None:
        return None
    return Terms(
        starts_at=row.starts_at,
        price_resident_cents=row.price_resident_cents,
        price_non_resident_cents=row.price_non_resident_cents,
        age=AgeRule(row.born_from_year, row.born_to_year),
        window=WindowRule(row.opens_at, row.residents_open_at, row.closes_at),
        social_discount_percent=row.social_discount_percent,
        waitlist=bool(row.waitlist),
    )


def _rule_reasons(
    terms: Terms, req: RegistrationRequest, resident: bool, now: datetime
) -> list[Reason]:
    reasons: list[Reason] = []
    if not terms.age.allows(req.child.birth_date):
        reasons.append(
            Reason(
                "child.birth_date",
                "age",
                f"for children born {terms.age.born_from_year}-{terms.age.born_to_year}",
            )
        )
    state = terms.window.state(resident, now, terms.starts_at)
    if state is Window.NOT_YET:
        opening = terms.window.opening_for(resident)
        assert opening is not None
        reasons.append(
            Reason("session_id", "not_open", f"registrations open {opening.isoformat()}")
        )
    elif state is Window.CLOSED:
        reasons.append(Reason("session_id", "closed", "registrations are closed"))
    return reasons


class Booking:
    """The registration lifecycle. Every method is one database transaction."""

    def __init__(self, db: Database, policy: Policy) -> None:
        self.db = db
        self.policy = policy
        self._terms: dict[int, tuple[float, Terms]] = {}

    async def terms(self, session_id: int) -> Terms | None:
        """A session's terms, cached briefly: they are read on every registration and
        change only when an operator edits the programme."""
        cached = self._terms.get(session_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = await self.db.read(lambda conn: _load_terms(conn, session_id))
        if found is not None:
            self._terms[session_id] = (time.monotonic() + TERMS_TTL_SECONDS, found)
        return found

    async def register(
        self, req: RegistrationRequest, now: datetime, basket: str | None = None
    ) -> Placed:
        """Hold (or confirm) a place, or join the waiting list; raises Full or Invalid."""
        terms = await self.terms(req.session_id)
        if terms is None:
            raise Invalid([Reason("session_id", "unknown_session", "no such session")])
        resident = is_resident(req.household.postcode, self.policy.resident_postcodes)
        reasons = _rule_reasons(terms, req, resident, now)
        if reasons:
            raise Invalid(reasons)
        price = price_cents(
            terms.price_resident_cents,
            terms.price_non_resident_cents,
            resident=resident,
            social_tariff=req.social_tariff,
            social_discount_percent=terms.social_discount_percent,
        )

        async def body(conn: AsyncConnection) -> Placed:
            household_id = await _household_id(
                conn, req.household.email, req.household.postcode, now
            )
            child_id = await _child_id(conn, household_id, req)
            placed = await places.take_place(conn, req.session_id)
            if not placed:
                # The unique index catches a second registration of the child on insert;
                # without a place there may be no insert, so ask first.
                if await _already_in(conn, req.session_id, child_id):
                    raise Invalid([_already_registered()])
                if await places.has_overdue(conn, req.session_id, now):
                    # Lapsed holds still count until released; release them (their
                    # places go to the waiting list first) and ask once more.
                    await places.release_overdue(conn, req.session_id, now, self.policy.offer_for)
                    placed = await places.take_place(conn, req.session_id)
            if placed:
                status = Status.CONFIRMED if req.confirm else Status.HELD
                expires = None if req.confirm else now + self.policy.hold_for
            elif req.waitlist and terms.waitlist:
                status, expires = Status.WAITLISTED, None
            else:
                raise Full(waitlist_available=terms.waitlist)

            reg_id = new_registration_id()
            await conn.execute(
                _INSERT_REGISTRATION,
                {
                    "id": reg_id,
                    "session_id": req.session_id,
                    "child_id": child_id,
                    "household_id": household_id,
                    "basket": basket,
                    "status": status.value,
                    "resident": resident,
                    "social_tariff": req.social_tariff,
                    "price_cents": price,
                    "created_at": now,
                    "updated_at": now,
                    "expires_at": expires,
                    "confirmed_at": now if status is Status.CONFIRMED else None,
                    "paid_at": None,
                    "cancelled_at": None,
                },
            )
            return Placed(reg_id, status, expires, price, resident)

        try:
            placed = await self.db.write(body)
        except IntegrityError as exc:
            # Two requests for the same child at the same moment: the unique index decides.
            if _is_child_once_violation(exc):
                raise Invalid([_already_registered()]) from exc
            raise
        log.info(
            "registration placed",
            extra={"registration": placed.id, "session": req.session_id, "status": placed.status},
        )
        return placed

    async def confirm(
        self, registration_id: str, now: datetime, basket: str | None = None
    ) -> Status:
        """Check out a held place, or accept an offered one."""

        async def body(conn: AsyncConnection) -> Status:
            current = await _status_for_update(conn, registration_id, basket)
            lapsed = current.expires_at is not None and current.expires_at <= now
            if current.status not in (Status.HELD, Status.OFFERED) or lapsed:
                raise WrongState(Status.EXPIRED if lapsed else current.status)
            await conn.execute(
                update(registrations)
                .where(registrations.c.id == registration_id)
                .values(
                    status=Status.CONFIRMED.value,
                    expires_at=None,
                    confirmed_at=now,
                    updated_at=now,
                )
            )
            return Status.CONFIRMED

        return await self.db.write(body)

    async def checkout(self, basket: str, now: datetime) -> list[str]:
        """Confirm every live hold in a basket at once; returns the confirmed ids."""

        async def body(conn: AsyncConnection) -> list[str]:
            rows = await conn.execute(
                update(registrations)
                .where(
                    registrations.c.basket == basket,
                    registrations.c.status == Status.HELD.value,
                    registrations.c.expires_at > now,
                )
                .values(
                    status=Status.CONFIRMED.value,
                    expires_at=None,
                    confirmed_at=now,
                    updated_at=now,
                )
                .returning(registrations.c.id)
            )
            return [str(r) for r in rows.scalars()]

        confirmed = await self.db.write(body)
        log.info("basket checked out", extra={"confirmed": len(confirmed)})
        return confirmed

    async def cancel(
        self, registration_id: str, now: datetime, basket: str | None = None
    ) -> Status:
        """Cancel; a place it occupied goes to the waiting list first. Returns the old state."""

        async def body(conn: AsyncConnection) -> Status:
            session_id = (
                await conn.execute(
                    select(registrations.c.session_id).where(registrations.c.id == registration_id)
                )
            ).scalar_one_or_none()
            if session_id is None:
                raise NotFound(registration_id)
            await places.lock_for_freeing(conn, int(session_id))
            current = await _status_for_update(conn, registration_id, basket)
            if current.status not in ACTIVE:
                raise WrongState(current.status)
            await conn.execute(
                update(registrations)
                .where(registrations.c.id == registration_id)
                .values(
                    status=Status.CANCELLED.value,
                    expires_at=None,
                    cancelled_at=now,
                    updated_at=now,
                )
            )
            if current.status in COUNTED:
                await places.give_back(conn, int(session_id), 1)
                await places.offer_freed_places(conn, int(session_id), now, self.policy.offer_for)
            return current.status

        old = await self.db.write(body)
        log.info("registration cancelled", extra={"registration": registration_id, "was": old})
        return old

    async def mark_paid(self, registration_id: str, now: datetime) -> None:
        async def body(conn: AsyncConnection) -> None:
            current = await _status_for_update(conn, registration_id, None)
            if current.status is not Status.CONFIRMED:
                raise WrongState(current.status)
            await conn.execute(
                update(registrations)
                .where(registrations.c.id == registration_id, registrations.c.paid_at.is_(None))
                .values(paid_at=now, updated_at=now)
            )

        await self.db.write(body)
        log.info("registration paid", extra={"registration": registration_id})

    async def release_expired(self, now: datetime) -> int:
        """Expire every lapsed hold and offer; one short transaction per session."""

        async def overdue(conn: AsyncConnection) -> list[int]:
            return await places.sessions_with_overdue(conn, now)

        released = 0
        for session_id in await self.db.read(overdue):

            async def body(conn: AsyncConnection, session_id: int = session_id) -> int:
                expired, offered = await places.release_overdue(
                    conn, session_id, now, self.policy.offer_for
                )
                if expired:
                    log.info(
                        "places released",
                        extra={"session": session_id, "expired": expired, "offered": offered},
                    )
                return len(expired)

            released += await self.db.write(body)
        return released


@dataclass(frozen=True, slots=True)
class _Current:
    status: Status
    expires_at: datetime | None


async def _status_for_update(
    conn: AsyncConnection, registration_id: str, basket: str | None
) -> _Current:
    query = (
        select(registrations.c.status, registrations.c.expires_at)
        .where(registrations.c.id == registration_id)
        .with_for_update()
    )
    if basket is not None:
        query = query.where(registrations.c.basket == basket)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(registration_id)
    return _Current(Status(row.status), row.expires_at)


async def _already_in(conn: AsyncConnection, session_id: int, child_id: int) -> bool:
    found = await conn.execute(
        select(registrations.c.id).where(
            registrations.c.session_id == session_id,
            registrations.c.child_id == child_id,
            registrations.c.status.in_([s.value for s in ACTIVE]),
        )
    )
    return found.first() is not None


def _already_registered() -> Reason:
    return Reason("child", "already_registered", "this child is already registered here")
