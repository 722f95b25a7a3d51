"""A city's summer 2027: a dozen camps over the summer weeks and a pool's swim slots.

`load_demo_data(engine)` is idempotent: activities already present (by name) are left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backends.internal.db import Database
from backends.internal.migrate import upgrade
from backends.internal.programme import ActivitySpec, SessionSpec, activity_ids_by_name, store

log = logging.getLogger("sluis.internal.demo")

ZONE = ZoneInfo("Europe/Brussels")
_DEMO_LOCK = 0x51_5E_00_02
# Monday of each summer week of 2027; 21 July (national holiday) falls in week 3.
WEEKS = [date(2027, 7, 5) + timedelta(weeks=n) for n in range(8)]
HOLIDAY = date(2027, 7, 21)


@dataclass(frozen=True, slots=True)
class _Camp:
    name: str
    born: tuple[int, int]
    capacity: int
    prices: tuple[int, int]  # euro per five-day week: resident, non-resident
    weeks: tuple[int, ...]  # 1-based week numbers
    location: str
    description: str


CAMPS = (
    _Camp(
        "Kleuterkamp Ukkies",
        (2022, 2023),
        16,
        (65, 90),
        (1, 2, 4, 6, 8),
        "Kleuterschool De Regenboog",
        "Spelen, knutselen en bewegen voor de allerkleinsten.",
    ),
    _Camp(
        "Sportkriebels",
        (2021, 2022),
        20,
        (70, 95),
        (1, 3, 5, 7),
        "Sporthal Den Dijk",
        "Multimove: lopen, springen, rollen en klimmen.",
    ),
    _Camp(
        "Omnisportkamp",
        (2017, 2020),
        40,
        (85, 115),
        (1, 2, 3, 4, 5, 6, 7, 8),
        "Sportcentrum De Sluis",
        "Elke dag een andere sport: van badminton tot hockey.",
    ),
    _Camp(
        "Voetbalkamp",
        (2015, 2019),
        32,
        (95, 125),
        (2, 4, 6),
        "Voetbalvelden Meersen",
        "Techniek, spelletjes en een toernooi op vrijdag.",
    ),
    _Camp(
        "Avonturenkamp Bos en Hei",
        (2014, 2018),
        24,
        (110, 145),
        (3, 5, 7),
        "Natuurdomein Heidebloem",
        "Hutten bouwen, kaartlezen en een nachtspel.",
    ),
    _Camp(
        "Danskamp Hiphop",
        (2013, 2018),
        18,
        (80, 105),
        (2, 6),
        "Cultuurcentrum Het Anker",
        "Hiphop en streetdance, met een toonmoment voor de ouders.",
    ),
    _Camp(
        "Kunstkamp Klodder",
        (2018, 2021),
        14,
        (75, 100),
        (1, 4, 7),
        "Academie Beeld",
        "Schilderen, kleien en drukken.",
    ),
    _Camp(
        "Ponykamp De Hoefijzer",
        (2014, 2019),
        12,
        (165, 195),
        (2, 3, 5, 8),
        "Manege De Hoefijzer",
        "Verzorgen en rijden, ook voor beginners.",
    ),
    _Camp(
        "Circuskamp Salto",
        (2016, 2020),
        20,
        (90, 120),
        (4, 8),
        "Circusschool Piste",
        "Jongleren, koorddansen en acrobatie.",
    ),
    _Camp(
        "Techniekkamp Robotica",
        (2012, 2016),
        16,
        (120, 150),
        (3, 6),
        "STEM-lab Campus Noord",
        "Robots bouwen en programmeren.",
    ),
    _Camp(
        "Zwemkamp Waterratten",
        (2019, 2021),
        20,
        (85, 110),
        (1, 5),
        "Zwembad De Sluis",
        "Elke dag zwemles en waterspelletjes.",
    ),
    _Camp(
        "Natuurkamp Kriebelbeestjes",
        (2019, 2022),
        15,
        (70, 95),
        (2, 4, 6, 8),
        "Kinderboerderij Het Hofje",
        "Diertjes zoeken, bij de kippen en in de moestuin.",
    ),
)


def _local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=ZONE)


def _cents(euro_per_week: int, days: int) -> int:
    return euro_per_week * 100 * days // 5


def _camp_spec(camp: _Camp, opens: datetime, residents_open: datetime) -> ActivitySpec:
    sessions = []
    for number in camp.weeks:
        monday = WEEKS[number - 1]
        days = 4 if monday <= HOLIDAY < monday + timedelta(days=5) else 5
        sessions.append(
            SessionSpec(
                starts_at=_local(monday, time(9, 0)),
                ends_at=_local(monday + timedelta(days=4), time(16, 0)),
                capacity=camp.capacity,
                price_resident_cents=_cents(camp.prices[0], days),
                price_non_resident_cents=_cents(camp.prices[1], days),
                label=f"Week {number}" + (" (4 dagen)" if days == 4 else ""),
            )
        )
    return ActivitySpec(
        kind="camp",
        name=camp.name,
        born_from_year=camp.born[0],
        born_to_year=camp.born[1],
        sessions=tuple(sessions),
        description=camp.description,
        location=camp.location,
        opens_at=opens,
        residents_open_at=residents_open,
        social_discount_percent=80,
    )


def _swim_specs(opens: datetime, residents_open: datetime) -> list[ActivitySpec]:
    july = [date(2027, 7, 1) + timedelta(days=n) for n in range(31)]
    free_swim = [
        SessionSpec(
            starts_at=_local(day, time(14, 0)),
            ends_at=_local(day, time(15, 30)),
            capacity=40,
            price_resident_cents=350,
            price_non_resident_cents=500,
            label="Vrij zwemmen",
        )
        for day in july
        if day.weekday() in (2, 5)  # Wednesday and Saturday afternoons
    ]
    toddlers = [
        SessionSpec(
            starts_at=_local(day, time(10, 0)),
            ends_at=_local(day, time(10, 45)),
            capacity=12,
            price_resident_cents=600,
            price_non_resident_cents=800,
            label="Watergewenning",
        )
        for day in july
        if day.weekday() == 5
    ]
    common = {
        "kind": "swim",
        "location": "Zwembad De Sluis",
        "opens_at": opens,
        "residents_open_at": residents_open,
        "social_discount_percent": 50,
    }
    return [
        ActivitySpec(
            name="Vrij zwemmen voor kinderen",
            born_from_year=2011,
            born_to_year=2020,
            sessions=tuple(free_swim),
            description="Anderhalf uur vrij zwemmen met redders aan de kant.",
            **common,  # type: ignore[arg-type]
        ),
        ActivitySpec(
            name="Watergewenning kleuters",
            born_from_year=2021,
            born_to_year=2023,
            sessions=tuple(toddlers),
            description="Spelenderwijs wennen aan het water, met een ouder in het bad.",
            **common,  # type: ignore[arg-type]
        ),
    ]


def demo_programme(now: datetime) -> list[ActivitySpec]:
    """The demo's activities; registration already open, residents two days earlier."""
    today = now.astimezone(ZONE).date()
    residents_open = _local(today - timedelta(days=3), time(9, 0))
    opens = residents_open + timedelta(days=2, hours=8)
    specs = [_camp_spec(c, opens, residents_open) for c in CAMPS]
    return specs + _swim_specs(opens, residents_open)


async def load_demo_data(engine: AsyncEngine, now: datetime | None = None) -> int:
    """Migrate, then add whichever demo activities are missing; returns how many were added."""
    await upgrade(engine)
    moment = now or datetime.now(UTC)

    async def body(conn: AsyncConnection) -> int:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DEMO_LOCK})
        present = await activity_ids_by_name(conn)
        missing = [s for s in demo_programme(moment) if s.name not in present]
        created, _ = await store(conn, missing, moment)
        return created

    created = await Database(engine).write(body)
    log.info("demo data loaded", extra={"activities_added": created})
    return created
