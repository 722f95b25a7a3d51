"""The booking rules that need no database: age, registration windows, residence, price."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class Window(StrEnum):
    OPEN = "open"
    NOT_YET = "not_yet"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class WindowRule:
    """When an activity takes registrations; residents may start earlier."""

    opens_at: datetime | None
    residents_open_at: datetime | None
    closes_at: datetime | None

    def opening_for(self, resident: bool) -> datetime | None:
        if resident and self.residents_open_at is not None:
            if self.opens_at is None:
                return self.residents_open_at
            return min(self.residents_open_at, self.opens_at)
        return self.opens_at

    def state(self, resident: bool, now: datetime, session_starts_at: datetime) -> Window:
        opening = self.opening_for(resident)
        if opening is not None and now < opening:
            return Window.NOT_YET
        # Without an explicit closing time, a session takes registrations until it starts.
        closing = self.closes_at or session_starts_at
        if now >= closing:
            return Window.CLOSED
        return Window.OPEN


@dataclass(frozen=True, slots=True)
class AgeRule:
    """Who may take part, by birth year (the way cities publish it: "born 2016-2019")."""

    born_from_year: int
    born_to_year: int

    def allows(self, birth_date: date) -> bool:
        return self.born_from_year <= birth_date.year <= self.born_to_year


def normalise_postcode(postcode: str) -> str:
    return "".join(postcode.split()).upper()


def is_resident(postcode: str, resident_postcodes: frozenset[str]) -> bool:
    return normalise_postcode(postcode) in resident_postcodes


def price_cents(
    resident_cents: int,
    non_resident_cents: int,
    *,
    resident: bool,
    social_tariff: bool,
    social_discount_percent: int,
) -> int:
    """The price one registration pays; the social discount rounds half up to the cent."""
    base = resident_cents if resident else non_resident_cents
    if not social_tariff or social_discount_percent <= 0:
        return base
    kept = Decimal(base) * (100 - social_discount_percent) / 100
    return int(kept.quantize(Decimal(1), rounding=ROUND_HALF_UP))
