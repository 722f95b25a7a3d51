"""Languages of the queue page: which one a visitor gets, its texts, and its dates.

Texts are written in English in the templates and translated from the `.po` files
in `locales/`, read with Babel once at start-up (no compile step). Dates and
times are formatted with Babel in the room's time zone (Europe/Brussels).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from gateway.common.catalogs import read_catalogs
from gateway.http import Headers, cookies, header

LANGUAGES = ("nl", "fr", "en", "de")
DEFAULT_LANGUAGE = "nl"
LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "en": "English", "de": "Deutsch"}
# Belgian variants: the dates and separators parents there expect.
BABEL_LOCALES = {"nl": "nl_BE", "fr": "fr_BE", "en": "en_BE", "de": "de_BE"}
LANG_COOKIE = "sluis_lang"
LOCALES_DIR = Path(__file__).parent / "locales"


@functools.lru_cache(maxsize=512)
def from_accept_language(header: str) -> str:
    """The first supported language the browser asks for ("fr-BE,fr;q=0.9" → fr).

    Cached: a few dozen distinct headers cover nearly every visitor."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.split("-")[0].strip().lower()
        if primary in LANGUAGES and quality > 0:
            weighted.append((-quality, index, primary))
    return min(weighted)[2] if weighted else DEFAULT_LANGUAGE


def choose_language(cookie: str | None, accept_language: bytes | str | None) -> str:
    """The visitor's own choice (the cookie) wins over the browser's preference."""
    if cookie is not None and cookie in LANGUAGES:
        return cookie
    if not accept_language:
        return DEFAULT_LANGUAGE
    if isinstance(accept_language, bytes):
        accept_language = accept_language.decode("latin-1")
    return from_accept_language(accept_language[:512])


class Catalogs:
    """Every language's translations, loaded once; English is the text itself."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self.messages = read_catalogs(directory, LANGUAGES, BABEL_LOCALES)

    def gettext(self, lang: str) -> functools.partial[str]:
        return functools.partial(_lookup, self.messages[lang])

    def ngettext(self, lang: str) -> functools.partial[str]:
        return functools.partial(_lookup_plural, self.messages[lang])


def _lookup(messages: dict[str, str], text: str) -> str:
    return messages.get(text, text)


def _lookup_plural(messages: dict[str, str], singular: str, plural: str, n: int) -> str:
    # Only the skeletons use this, with a fixed count per shape; nl, fr, en and de
    # all tell one from many.
    return messages.get(singular if n == 1 else plural, singular if n == 1 else plural)


@functools.lru_cache(maxsize=4096)
def clock(seconds: int, lang: str, tz: ZoneInfo) -> str:
    """"09:03:12" in the visitor's language; one format per second and language."""
    return format_time(datetime.fromtimestamp(seconds, tz), "medium",
                       locale=BABEL_LOCALES[lang])


@functools.lru_cache(maxsize=1024)
def day_and_time(seconds: int, lang: str, tz: ZoneInfo) -> tuple[str, str]:
    """("maandag 1 maart 2027", "09:00"): an opening time, as the visitor reads it."""
    moment = datetime.fromtimestamp(seconds, tz)
    locale = BABEL_LOCALES[lang]
    return format_date(moment, "full", locale=locale), format_time(moment, "short", locale=locale)


def language_of(headers: Headers, jar: Mapping[str, str] | None = None) -> str:
    """The visitor's language: their choice (the language cookie), else their browser's."""
    jar = cookies(headers) if jar is None else jar
    return choose_language(jar.get(LANG_COOKIE), header(headers, b"accept-language"))
