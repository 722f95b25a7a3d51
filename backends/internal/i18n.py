"""Languages: which one a visitor gets, the translated texts, and Babel's dates and prices.

Texts are written in English in the templates and translated from the `.po`
files in `locales/`, read with Babel at start-up (no compile step).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_interval, format_time
from babel.numbers import format_currency

from gateway.common.catalogs import read_catalogs

log = logging.getLogger("sluis.internal.i18n")

LANGUAGES = ("nl", "fr", "en", "de")
DEFAULT_LANGUAGE = "nl"
LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "en": "English", "de": "Deutsch"}
# Belgian variants: the dates, prices and separators parents there expect.
BABEL_LOCALES = {"nl": "nl_BE", "fr": "fr_BE", "en": "en_BE", "de": "de_BE"}
LANG_COOKIE = "sluis_lang"
LOCALES_DIR = Path(__file__).parent / "locales"

Translate = Callable[..., str]


def parse_accept_language(header: str) -> list[str]:
    """Primary language tags, most preferred first ("fr-BE,fr;q=0.9,nl;q=0.8" → fr, fr, nl)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag.split("-")[0].lower()))
    return [tag for _, _, tag in sorted(weighted)]


def choose_language(param: str | None, cookie: str | None, accept_language: str | None) -> str:
    """An explicit choice (query, then cookie) wins over the browser's preference."""
    for explicit in (param, cookie):
        if explicit and explicit.lower() in LANGUAGES:
            return explicit.lower()
    for tag in parse_accept_language(accept_language or ""):
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


class Catalogs:
    """Every language's translations, loaded once."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self._messages = read_catalogs(directory, LANGUAGES, BABEL_LOCALES)

    def missing(self, lang: str, msgids: list[str]) -> list[str]:
        return [m for m in msgids if m not in self._messages[lang]]

    def translator(self, lang: str) -> Translate:
        messages = self._messages.get(lang, {})

        def translate(msgid: str, **values: object) -> str:
            text = messages.get(msgid, msgid)
            return text.format(**values) if values else text

        return translate


class Formatter:
    """Dates, times and money for one language, in the city's time zone."""

    def __init__(self, lang: str, timezone: str) -> None:
        self.locale = BABEL_LOCALES.get(lang, BABEL_LOCALES[DEFAULT_LANGUAGE])
        self.zone = ZoneInfo(timezone)

    def money(self, cents: int) -> str:
        return format_currency(Decimal(cents) / 100, "EUR", locale=self.locale)

    def day(self, value: date) -> str:
        return format_date(value, "EEE d MMM y", locale=self.locale)

    def long_day(self, value: date) -> str:
        return format_date(value, "EEEE d MMMM y", locale=self.locale)

    def time(self, value: datetime) -> str:
        return format_time(value, "HH:mm", tzinfo=self.zone, locale=self.locale)

    def moment(self, value: datetime) -> str:
        return format_datetime(value, "EEEE d MMMM y, HH:mm", tzinfo=self.zone, locale=self.locale)

    def period(self, starts: datetime, ends: datetime) -> str:
        """A camp week ("ma 5 – vr 9 jul 2027") or a swim slot ("za 10 jul 2027, 14:00–15:00")."""
        start, end = starts.astimezone(self.zone), ends.astimezone(self.zone)
        if start.date() == end.date():
            hours = format_interval(start.time(), end.time(), "Hm", locale=self.locale)
            return f"{self.day(start.date())}, {hours}"
        return format_interval(start.date(), end.date(), "yMMMEd", locale=self.locale)
