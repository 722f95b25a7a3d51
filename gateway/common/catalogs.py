"""Translated messages read from gettext .po files: one reader for the gateway's pages
and the booking engine's, each with its own locales folder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from babel.messages.pofile import read_po


def read_catalogs(directory: Path, languages: Iterable[str],
                  babel_locales: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """msgid → translation per language, from `<directory>/<lang>/LC_MESSAGES/messages.po`;
    untranslated messages are left out, and a language without a file gets none."""
    out: dict[str, dict[str, str]] = {}
    for lang in languages:
        path = directory / lang / "LC_MESSAGES" / "messages.po"
        messages: dict[str, str] = {}
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=babel_locales[lang])
            for message in catalog:
                if message.id and isinstance(message.id, str) and message.string:
                    messages[message.id] = str(message.string)
        out[lang] = messages
    return out
