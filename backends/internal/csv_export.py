"""Registrations as CSV, in the shape a city's back office (or Excel) reads."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from backends.internal.catalogue import RegistrationView

COLUMNS = (
    "registration_id",
    "status",
    "activity",
    "session",
    "session_start",
    "session_end",
    "first_name",
    "last_name",
    "birth_date",
    "email",
    "postcode",
    "resident",
    "social_tariff",
    "price_eur",
    "paid",
    "waitlist_position",
    "registered_at",
    "confirmed_at",
    "paid_at",
    "cancelled_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in the operator's spreadsheet.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _moment(value: datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _row(r: RegistrationView, zone: ZoneInfo) -> list[str]:
    values: list[object] = [
        r.id,
        r.status.value,
        r.activity_name,
        r.session_label,
        _moment(r.starts_at, zone),
        _moment(r.ends_at, zone),
        r.first_name,
        r.last_name,
        r.birth_date.isoformat(),
        r.email,
        r.postcode,
        "ja" if r.resident else "nee",
        "ja" if r.social_tariff else "nee",
        f"{r.price_cents // 100},{r.price_cents % 100:02d}",
        "ja" if r.paid_at else "nee",
        r.waitlist_position,
        _moment(r.created_at, zone),
        _moment(r.confirmed_at, zone),
        _moment(r.paid_at, zone),
        _moment(r.cancelled_at, zone),
    ]
    return [_cell(v) for v in values]


def export_csv(rows: Iterable[RegistrationView], timezone: str) -> str:
    """`;`-separated with a BOM, as Belgian Excel opens it without an import wizard."""
    zone = ZoneInfo(timezone)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(_row(r, zone))
    return "\ufeff" + out.getvalue()
