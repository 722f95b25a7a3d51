"""Helpers the booking engine's tests share: a hand-moved clock, the app, sample data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette

from backends.admission import AdmissionCodec
from backends.internal.app import create_app
from backends.internal.context import Context
from backends.internal.programme import ActivitySpec, SessionSpec, store
from backends.internal.settings import InternalSettings

KEYS = ("test-key-old", "test-key-new")
ADMIN_TOKEN = "operator-token-for-tests"
RESIDENT_POSTCODES = frozenset({"9990", "9991"})


class Clock:
    """Time that tests move by hand; the app reads it wherever it asks what time it is."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


START = datetime(2027, 3, 10, 10, 0, tzinfo=UTC)


def admission_token() -> str:
    return AdmissionCodec(KEYS).issue("zomerkampen", "visitor-0001", 900)


@dataclass
class Running:
    app: Starlette
    client: httpx.AsyncClient
    clock: Clock

    @property
    def ctx(self) -> Context:
        ctx = self.app.state.booking_context
        assert isinstance(ctx, Context)
        return ctx

    async def add(self, spec: ActivitySpec) -> list[int]:
        """Store an activity; returns its session ids in order."""
        await self.ctx.db.write(lambda conn: store(conn, [spec], self.clock()))
        rows = (await self.client.get("/api/activities")).json()["activities"]
        (found,) = [a for a in rows if a["name"] == spec.name]
        return [s["id"] for s in found["sessions"]]


@asynccontextmanager
async def running(
    settings: InternalSettings, clock: Clock, **changes: object
) -> AsyncIterator[Running]:
    app = create_app(replace(settings, **changes), clock=clock)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://booking.test",
            headers={"Sluis-Admission": admission_token()},
            timeout=120,
        ) as client:
            yield Running(app, client, clock)


def camp(
    name: str = "Omnisportkamp",
    *,
    capacity: int = 10,
    sessions: int = 1,
    born: tuple[int, int] = (2016, 2020),
    opens_at: datetime | None = None,
    residents_open_at: datetime | None = None,
    waitlist: bool = True,
    prices: tuple[int, int] = (8500, 11000),
    social_discount_percent: int = 80,
) -> ActivitySpec:
    first = datetime(2027, 7, 5, 7, 0, tzinfo=UTC)
    return ActivitySpec(
        kind="camp",
        name=name,
        born_from_year=born[0],
        born_to_year=born[1],
        sessions=tuple(
            SessionSpec(
                starts_at=first + timedelta(weeks=n),
                ends_at=first + timedelta(weeks=n, days=4, hours=7),
                capacity=capacity,
                price_resident_cents=prices[0],
                price_non_resident_cents=prices[1],
                label=f"Week {n + 1}",
            )
            for n in range(sessions)
        ),
        opens_at=opens_at,
        residents_open_at=residents_open_at,
        waitlist=waitlist,
        social_discount_percent=social_discount_percent,
    )


def letters_name(n: int) -> str:
    """A distinct name made of letters only (names with digits are refused)."""
    text = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text = chr(97 + rest) + text
    return "Kind" + text


def registration(
    session_id: int,
    n: int = 0,
    *,
    first_name: str | None = None,
    last_name: str = "Peeters",
    birth_date: str = "2018-05-14",
    email: str | None = None,
    postcode: str = "9990",
    **extra: object,
) -> dict[str, object]:
    return {
        "session_id": session_id,
        "child": {
            "first_name": first_name or letters_name(n),
            "last_name": last_name,
            "birth_date": birth_date,
        },
        "household": {"email": email or f"ouder{n}@example.be", "postcode": postcode},
        **extra,
    }


async def invariant_holds(r: Running) -> None:
    """Every session's `booked` equals its held, confirmed and offered registrations."""
    from sqlalchemy import func, select

    from backends.internal.states import COUNTED
    from backends.internal.tables import registrations, sessions

    async def check(conn):  # type: ignore[no-untyped-def]
        counted = dict(
            (
                await conn.execute(
                    select(registrations.c.session_id, func.count())
                    .where(registrations.c.status.in_([s.value for s in COUNTED]))
                    .group_by(registrations.c.session_id)
                )
            ).all()
        )
        for session_id, booked, capacity in await conn.execute(
            select(sessions.c.id, sessions.c.booked, sessions.c.capacity)
        ):
            assert booked == counted.get(session_id, 0), (session_id, booked, counted)
            assert booked <= capacity

    await r.ctx.db.read(check)


async def register(r: Running, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    response = await r.client.post("/api/registrations", json=body)
    return response.status_code, response.json()
