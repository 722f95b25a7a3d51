"""Reads a city's activity export (CSV) into programme specs: all rows or none.

Tolerant of what spreadsheets produce: `;`, `,` or tab separators, UTF-8 with or
without BOM or Windows-1252, Dutch, French or English headers, Belgian dates
(31/07/2027) and prices (€ 85,00). Every problem is reported with its line number.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from backends.internal.programme import (
    ActivitySpec,
    SessionSpec,
    activity_ids_by_name,
    session_starts,
    store,
)

MAX_ROWS = 5000
DEFAULT_START = time(9, 0)
DEFAULT_END = time(16, 0)

# Canonical field → accepted headers (compared lower-case, without accents or punctuation).
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("naam", "activiteit", "activiteitnaam", "titel", "kamp", "name", "activity", "nom"),
    "kind": ("soort", "type", "categorie", "kind"),
    "label": ("week", "sessie", "reeks", "label", "session"),
    "dates": ("periode", "data", "dates", "datums"),
    "start_date": ("startdatum", "begindatum", "datum", "van", "start", "start_date", "date"),
    "end_date": ("einddatum", "tot", "end", "end_date"),
    "start_time": ("beginuur", "startuur", "uur_van", "start_time"),
    "end_time": ("einduur", "uur_tot", "end_time"),
    "birth_years": ("geboortejaren", "geboortejaar", "birth_years"),
    "born_from": ("geboortejaar_van", "born_from"),
    "born_to": ("geboortejaar_tot", "born_to"),
    "ages": ("leeftijd", "leeftijden", "ages", "age"),
    "min_age": ("min_leeftijd", "leeftijd_van", "minimumleeftijd", "min_age"),
    "max_age": ("max_leeftijd", "leeftijd_tot", "maximumleeftijd", "max_age"),
    "capacity": (
        "capaciteit",
        "plaatsen",
        "aantal_plaatsen",
        "max_deelnemers",
        "maximum_deelnemers",
        "capacity",
        "places",
    ),
    "price": ("prijs", "tarief", "price"),
    "price_resident": (
        "prijs_inwoner",
        "prijs_inwoners",
        "tarief_inwoner",
        "tarief_inwoners",
        "price_resident",
    ),
    "price_non_resident": (
        "prijs_niet_inwoner",
        "prijs_niet_inwoners",
        "tarief_niet_inwoner",
        "tarief_niet_inwoners",
        "price_non_resident",
    ),
    "social_discount": (
        "korting_sociaal_tarief",
        "sociaal_tarief",
        "kansentarief",
        "korting_kansentarief",
        "social_discount",
    ),
    "location": ("locatie", "plaats", "adres", "location"),
    "description": ("omschrijving", "beschrijving", "description"),
    "opens_at": ("inschrijving_vanaf", "start_inschrijving", "opens_at"),
    "residents_open_at": ("inwoners_vanaf", "voorrang_inwoners", "residents_open_at"),
    "waitlist": ("wachtlijst", "waitlist"),
}
_KINDS = {
    "camp": "camp",
    "kamp": "camp",
    "sportkamp": "camp",
    "vakantiekamp": "camp",
    "stage": "camp",
    "swim": "swim",
    "zwemmen": "swim",
    "zwembeurt": "swim",
    "zwem": "swim",
    "zwemles": "swim",
    "natation": "swim",
}
_YES = {"ja", "j", "yes", "y", "1", "true", "oui", "x"}
_NO = {"nee", "n", "no", "0", "false", "non", ""}
_DATE_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TIME = re.compile(r"^(\d{1,2})[:.uh](\d{2})?$")
_SPACED_RANGE = re.compile(r"\s+(?:-|–|tot|t/m|tem|to|au)\s+", re.IGNORECASE)
_COMPACT_RANGE = re.compile(r"^(\d+)\s*[-–]\s*(\d+)$")


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportFailed(Exception):
    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ImportResult:
    activities_created: int
    sessions_created: int


def _header_key(raw: str) -> str:
    text = unicodedata.normalize("NFKD", raw.strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ";"


def parse_date(text: str) -> date:
    text = text.strip()
    if m := _DATE_ISO.match(text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := _DATE_DMY.match(text):
        return date(int(m[3]), int(m[2]), int(m[1]))
    raise ValueError(f"not a date: {text!r} (use 31/07/2027 or 2027-07-31)")


def parse_time(text: str) -> time:
    m = _TIME.match(text.strip().lower())
    if m is None:
        raise ValueError(f"not a time: {text!r} (use 09:00)")
    return time(int(m[1]), int(m[2] or 0))


def parse_datetime(text: str) -> tuple[date, time]:
    parts = text.strip().replace("T", " ").split()
    if len(parts) == 1:
        return parse_date(parts[0]), time(0, 0)
    if len(parts) == 2:
        return parse_date(parts[0]), parse_time(parts[1])
    raise ValueError(f"not a date and time: {text!r} (use 06/03/2027 09:00)")


def parse_cents(text: str) -> int:
    raw = text.strip().replace("€", "").replace("EUR", "").replace("\u00a0", "").replace(" ", "")
    if "," in raw and "." in raw:
        decimal_sep = "," if raw.rfind(",") > raw.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        raw = raw.replace(thousands, "").replace(decimal_sep, ".")
    elif "," in raw:
        raw = raw.replace(",", ".")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r} (use 85,00)") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"not an amount in euro and cent: {text!r}")
    return int(amount * 100)


def parse_range(text: str) -> tuple[str, str]:
    """'2016-2019', '6 - 9 jaar', '05/07/2027 tot 09/07/2027' → both ends."""
    cleaned = re.sub(r"\s*(jaar|ans|years|jr)\.?$", "", text.strip(), flags=re.IGNORECASE)
    if _DATE_DMY.match(cleaned) or _DATE_ISO.match(cleaned) or cleaned.isdigit():
        return cleaned, cleaned
    if m := _COMPACT_RANGE.match(cleaned):
        return m[1], m[2]
    parts = _SPACED_RANGE.split(cleaned, maxsplit=1)
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise ValueError(f"not a range: {text!r} (use 2016-2019)")
    return parts[0].strip(), parts[1].strip()


def _int(text: str, what: str) -> int:
    cleaned = text.strip().rstrip("%").strip()
    if not cleaned.isdigit():
        raise ValueError(f"{what} must be a whole number, not {text!r}")
    return int(cleaned)


class _Row:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, field: str) -> str:
        return self.values.get(field, "").strip()

    def need(self, field: str) -> str:
        value = self.get(field)
        if not value:
            raise ValueError(f"{field.replace('_', ' ')} is empty")
        return value


@dataclass(frozen=True, slots=True)
class _ParsedRow:
    line: int
    kind: str
    name: str
    born_from: int
    born_to: int
    session: SessionSpec
    description: str
    location: str
    opens_at: datetime | None
    residents_open_at: datetime | None
    social_discount: int
    waitlist: bool


def _parse_row(row: _Row, line: int, zone: ZoneInfo) -> _ParsedRow:
    def local(d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=zone)

    name = row.need("name")
    if len(name) > 200:
        raise ValueError("name is longer than 200 characters")
    kind_text = _header_key(row.get("kind") or "camp")
    kind = _KINDS.get(kind_text)
    if kind is None:
        raise ValueError(f"kind {row.get('kind')!r} is neither a camp nor swimming")
    if row.get("dates"):
        first, last = parse_range(row.get("dates"))
        start_day, end_day = parse_date(first), parse_date(last)
    else:
        start_day = parse_date(row.need("start_date"))
        end_day = parse_date(row.get("end_date")) if row.get("end_date") else start_day
    start_t = parse_time(row.get("start_time")) if row.get("start_time") else DEFAULT_START
    end_t = parse_time(row.get("end_time")) if row.get("end_time") else DEFAULT_END
    starts, ends = local(start_day, start_t), local(end_day, end_t)
    if ends < starts:
        raise ValueError("the session ends before it starts")

    if row.get("birth_years"):
        low, high = parse_range(row.get("birth_years"))
        born_from, born_to = _int(low, "birth year"), _int(high, "birth year")
    elif row.get("born_from") or row.get("born_to"):
        born_from = _int(row.need("born_from"), "birth year")
        born_to = _int(row.need("born_to"), "birth year")
    elif row.get("ages") or row.get("min_age"):
        if row.get("ages"):
            low, high = parse_range(row.get("ages"))
        else:
            low, high = row.need("min_age"), row.need("max_age")
        # Ages count in the calendar year of the session, as Flemish programmes do.
        born_to = start_day.year - _int(low, "age")
        born_from = start_day.year - _int(high, "age")
    else:
        raise ValueError("no age rule: give birth years (2016-2019) or ages (6-9)")
    if born_from > born_to:
        born_from, born_to = born_to, born_from
    if not 1900 < born_from <= born_to < 2200:
        raise ValueError(f"birth years {born_from}-{born_to} are not plausible")

    capacity = _int(row.need("capacity"), "capacity")
    if not 0 < capacity <= 100_000:
        raise ValueError("capacity must be between 1 and 100000")
    if row.get("price_resident") or row.get("price_non_resident"):
        resident = parse_cents(row.need("price_resident"))
        non_resident = parse_cents(row.get("price_non_resident") or row.need("price_resident"))
    else:
        resident = non_resident = parse_cents(row.need("price"))
    discount = (
        _int(row.get("social_discount"), "social discount") if row.get("social_discount") else 0
    )
    if discount > 100:
        raise ValueError("social discount is a percentage up to 100")
    waitlist_text = row.get("waitlist").lower()
    if waitlist_text not in _YES | _NO:
        raise ValueError(f"waitlist must be ja or nee, not {row.get('waitlist')!r}")

    def moment(field: str) -> datetime | None:
        return local(*parse_datetime(row.get(field))) if row.get(field) else None

    return _ParsedRow(
        line=line,
        kind=kind,
        name=name,
        born_from=born_from,
        born_to=born_to,
        session=SessionSpec(
            starts_at=starts,
            ends_at=ends,
            capacity=capacity,
            price_resident_cents=resident,
            price_non_resident_cents=non_resident,
            label=row.get("label")[:100],
        ),
        description=row.get("description"),
        location=row.get("location")[:200],
        opens_at=moment("opens_at"),
        residents_open_at=moment("residents_open_at"),
        social_discount=discount,
        waitlist=waitlist_text in _YES or waitlist_text == "",
    )


def _columns(header: list[str]) -> tuple[dict[int, str], list[LineError]]:
    lookup = {alias: field for field, aliases in ALIASES.items() for alias in aliases}
    columns: dict[int, str] = {}
    errors: list[LineError] = []
    for index, raw in enumerate(header):
        field = lookup.get(_header_key(raw))
        if field is None:
            continue  # extra columns of the city's export are fine
        if field in columns.values():
            errors.append(LineError(1, f"two columns mean {field}: {raw!r}"))
        columns[index] = field
    present = set(columns.values())
    if "name" not in present:
        errors.append(LineError(1, "missing column: name (naam)"))
    if "capacity" not in present:
        errors.append(LineError(1, "missing column: capacity (capaciteit)"))
    if not present & {"dates", "start_date"}:
        errors.append(LineError(1, "missing column: start date (startdatum) or dates (periode)"))
    if not present & {"price", "price_resident"}:
        errors.append(LineError(1, "missing column: price (prijs_inwoner)"))
    return columns, errors


def parse_csv(data: bytes, timezone: str) -> list[ActivitySpec]:
    """Specs for every row, grouped by activity name; raises ImportFailed listing all errors."""
    return _group(_parse(data, timezone))


def _parse(data: bytes, timezone: str) -> list[_ParsedRow]:
    text = _decode(data)
    if not text.strip():
        raise ImportFailed([LineError(1, "the file is empty")])
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text.splitlines()[0]))
    header = next(reader)
    columns, errors = _columns(header)
    if errors:
        raise ImportFailed(errors)
    zone = ZoneInfo(timezone)
    parsed: list[_ParsedRow] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(parsed) >= MAX_ROWS:
            errors.append(LineError(line, f"more than {MAX_ROWS} rows; split the file"))
            break
        values = {field: cells[i] for i, field in columns.items() if i < len(cells)}
        try:
            parsed.append(_parse_row(_Row(values), line, zone))
        except ValueError as exc:
            errors.append(LineError(line, str(exc)))
    if not parsed and not errors:
        errors.append(LineError(1, "no rows below the header"))
    errors.extend(_conflicts(parsed))
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.line))
    return parsed


def _conflicts(rows: list[_ParsedRow]) -> list[LineError]:
    errors: list[LineError] = []
    first_of: dict[str, _ParsedRow] = {}
    seen: dict[tuple[str, datetime], int] = {}
    for row in rows:
        first = first_of.setdefault(row.name, row)
        if (first.kind, first.born_from, first.born_to) != (row.kind, row.born_from, row.born_to):
            errors.append(LineError(row.line, f"kind or birth years differ from line {first.line}"))
        key = (row.name, row.session.starts_at)
        if key in seen:
            errors.append(LineError(row.line, f"same session as line {seen[key]}"))
        seen.setdefault(key, row.line)
    return errors


def _group(rows: list[_ParsedRow]) -> list[ActivitySpec]:
    by_name: dict[str, list[_ParsedRow]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row)
    specs = []
    for name, group in by_name.items():
        first = group[0]
        specs.append(
            ActivitySpec(
                kind=first.kind,
                name=name,
                born_from_year=first.born_from,
                born_to_year=first.born_to,
                sessions=tuple(r.session for r in group),
                description=first.description,
                location=first.location,
                opens_at=first.opens_at,
                residents_open_at=first.residents_open_at,
                social_discount_percent=first.social_discount,
                waitlist=first.waitlist,
            )
        )
    return specs


async def import_csv(
    conn: AsyncConnection, data: bytes, timezone: str, now: datetime
) -> ImportResult:
    """Parse and store in the caller's transaction; nothing is stored if any line is wrong."""
    rows = _parse(data, timezone)
    known = await activity_ids_by_name(conn)
    taken = await session_starts(conn)
    errors = [
        LineError(row.line, f"this session of {row.name} is already in the programme")
        for row in rows
        if (known.get(row.name), row.session.starts_at) in taken
    ]
    if errors:
        raise ImportFailed(errors)
    created = await store(conn, _group(rows), now)
    return ImportResult(*created)
