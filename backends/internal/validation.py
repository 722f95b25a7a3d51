"""Turns an untrusted registration request into typed values, or into reasons why not."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from backends.internal.rules import normalise_postcode

NAME_MAX = 80
EMAIL_MAX = 254
OLDEST_CHILD_YEARS = 30
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_POSTCODE = re.compile(r"^[0-9A-Z][0-9A-Z-]{2,9}$")
# Every postcode system the city's parents use has digits in it (Belgium: four, 9000;
# the Netherlands 1234AB, France and Germany five, Luxembourg L-1234): "abc" is none.
POSTCODE_DIGITS = 2
# Names: letters of any script, combining marks, and the joiners real names use.
_NAME_PUNCTUATION = set(" '-.’")


@dataclass(frozen=True, slots=True)
class Reason:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class Invalid(Exception):
    def __init__(self, reasons: list[Reason]) -> None:
        super().__init__("; ".join(f"{r.field}: {r.code}" for r in reasons))
        self.reasons = reasons


@dataclass(frozen=True, slots=True)
class ChildInput:
    first_name: str
    last_name: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class HouseholdInput:
    email: str
    postcode: str


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    session_id: int
    child: ChildInput
    household: HouseholdInput
    social_tariff: bool = False
    waitlist: bool = False
    confirm: bool = False


def name_key(first_name: str, last_name: str) -> str:
    """Identity of a name: case, accents and spacing do not make another child."""

    def fold(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text.casefold())
        kept = "".join(c for c in decomposed if not unicodedata.combining(c))
        return " ".join(kept.split())

    return f"{fold(first_name)}|{fold(last_name)}"


class _Collector:
    def __init__(self) -> None:
        self.reasons: list[Reason] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.reasons.append(Reason(field, code, message))

    def text(self, data: Mapping[str, Any], key: str, field: str) -> str | None:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            self.add(field, "required", "this field is required")
            return None
        if not isinstance(value, str):
            self.add(field, "not_text", "must be text")
            return None
        return unicodedata.normalize("NFC", value.strip())

    def name(self, data: Mapping[str, Any], key: str, field: str) -> str | None:
        value = self.text(data, key, field)
        if value is None:
            return None
        value = " ".join(value.split())
        if len(value) > NAME_MAX:
            self.add(field, "too_long", f"at most {NAME_MAX} characters")
            return None
        if not any(c.isalpha() for c in value) or any(
            not (c.isalpha() or unicodedata.category(c).startswith("M") or c in _NAME_PUNCTUATION)
            for c in value
        ):
            self.add(field, "invalid_characters", "letters, spaces, ' - . only")
            return None
        return value

    def birth_date(self, data: Mapping[str, Any], field: str, today: date) -> date | None:
        value = self.text(data, "birth_date", field)
        if value is None:
            return None
        match = _DATE.match(value)
        if match is None:
            self.add(field, "bad_format", "a date as YYYY-MM-DD")
            return None
        try:
            born = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            self.add(field, "impossible_date", "this date does not exist")
            return None
        if born > today:
            self.add(field, "in_future", "a birth date cannot be in the future")
            return None
        if born.year < today.year - OLDEST_CHILD_YEARS:
            self.add(field, "implausible", "this is not a child's birth date")
            return None
        return born


def _section(col: _Collector, data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        col.add(key, "required", "this field is required")
        return None
    if not isinstance(value, Mapping):
        col.add(key, "not_object", "must be an object")
        return None
    return value


def _flag(col: _Collector, data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        col.add(key, "not_boolean", "must be true or false")
        return False
    return value


def valid_postcode(postcode: str) -> bool:
    """A normalised postcode that could exist: letters, digits and a hyphen, with digits."""
    return bool(_POSTCODE.match(postcode)) and sum(c.isdigit() for c in postcode) >= (
        POSTCODE_DIGITS)


def parse_registration(
    data: Any, today: date, born_years: tuple[int, int] | None = None
) -> RegistrationRequest:
    """Validate a registration request; raises `Invalid` listing every problem at once.

    With `born_years` (the activity's first and last birth year), a birth date outside
    them is one of those problems too, so that a form hears of it with the rest."""
    col = _Collector()
    if not isinstance(data, Mapping):
        raise Invalid([Reason("body", "not_object", "the body must be a JSON object")])
    session_id = data.get("session_id")
    if session_id is None:
        col.add("session_id", "required", "this field is required")
    elif isinstance(session_id, bool) or not isinstance(session_id, int) or session_id <= 0:
        col.add("session_id", "invalid", "must be a positive whole number")
        session_id = None
    child = _section(col, data, "child")
    first = col.name(child, "first_name", "child.first_name") if child is not None else None
    last = col.name(child, "last_name", "child.last_name") if child is not None else None
    born = col.birth_date(child, "child.birth_date", today) if child is not None else None
    if born is not None and born_years is not None and not (
        born_years[0] <= born.year <= born_years[1]
    ):
        col.add("child.birth_date", "age", f"for children born {born_years[0]}-{born_years[1]}")
    household = _section(col, data, "household")
    email = col.text(household, "email", "household.email") if household is not None else None
    if email is not None:
        email = email.lower()
        if len(email) > EMAIL_MAX or not _EMAIL.match(email):
            col.add("household.email", "invalid", "not an e-mail address")
            email = None
    postcode = (
        col.text(household, "postcode", "household.postcode") if household is not None else None
    )
    if postcode is not None:
        postcode = normalise_postcode(postcode)
        if not valid_postcode(postcode):
            col.add("household.postcode", "invalid", "not a postcode")
            postcode = None
    social = _flag(col, data, "social_tariff")
    waitlist = _flag(col, data, "waitlist")
    confirm = _flag(col, data, "confirm")
    if col.reasons:
        raise Invalid(col.reasons)
    assert isinstance(session_id, int) and first and last and born and email and postcode
    return RegistrationRequest(
        session_id=session_id,
        child=ChildInput(first, last, born),
        household=HouseholdInput(email, postcode),
        social_tariff=social,
        waitlist=waitlist,
        confirm=confirm,
    )
