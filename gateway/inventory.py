"""A room's inventory source: where the number of places left comes from (no I/O).

A room may name one in its `[rooms.<name>.inventory]` table: a JSON availability URL
of the shop (polled by the leading worker), the internal booking engine's database, or
a sold-out text seen in the shop's own answers. At 0 places left nobody more is let
in and the people waiting are told so (state `sold_out`) instead of waiting for
places that are gone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SOURCES = ("url", "internal", "marker")
LANGS = ("nl", "fr", "en", "de")
Texts = tuple[tuple[str, str], ...]  # (language or "", text)

# A figure holds this many polling intervals (and at least STALE_MIN_SECONDS): a shop
# whose availability URL stops answering does not keep the room sold out, or open,
# on an old figure.
STALE_INTERVALS = 3
STALE_MIN_SECONDS = 30


@dataclass(frozen=True, slots=True)
class InventoryConfig:
    source: str
    url: str | None = None
    # The Authorization header the availability URL needs (from authorization_env).
    authorization: str | None = field(default=None, repr=False)
    path: tuple[str, ...] = ()
    interval_seconds: float = 5.0
    timeout_seconds: float = 3.0
    # The internal engine: these booking sessions only (every session when empty).
    sessions: tuple[int, ...] = ()
    # A text in the shop's answers that means "no places left" (any source may add it).
    marker: str | None = None
    # How long one sighting of the marker keeps the room sold out; then one more visitor
    # is let in, and sees the marker again if it is still true.
    marker_hold_seconds: int = 60
    waiting_list_url: str | None = None
    waiting_list_text: Texts = ()

    @property
    def polled(self) -> bool:
        return self.source in ("url", "internal")

    @property
    def hold_ms(self) -> int:
        """How long a polled figure holds before it counts as unknown."""
        return int(max(STALE_MIN_SECONDS, STALE_INTERVALS * self.interval_seconds) * 1000)

    def waiting_list(self, lang: str) -> dict[str, str | None] | None:
        text = ""
        for wanted in (lang, "", "nl"):
            text = next((t for k, t in self.waiting_list_text if k == wanted), "")
            if text:
                break
        if not text and self.waiting_list_text:
            text = self.waiting_list_text[0][1]
        if not text and not self.waiting_list_url:
            return None
        return {"url": self.waiting_list_url, "text": text or None}


def places_in(document: Any, path: tuple[str, ...]) -> int:
    """The number at `path` in a JSON document: names of object members and list
    indexes; `*` takes every item of a list (or value of an object) and the numbers
    found under them are added up. ValueError when the document has no such number."""
    found = list(_walk(document, path))
    if not found:
        raise ValueError(f"no number at {'.'.join(path) or 'the top'}")
    total = 0.0
    for value in found:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{'.'.join(path)} holds {type(value).__name__}, not a number")
        total += value
    return max(0, int(total))


def _walk(node: Any, path: tuple[str, ...]) -> Any:
    if not path:
        yield node
        return
    step, rest = path[0], path[1:]
    if step == "*":
        items = node.values() if isinstance(node, dict) else node if isinstance(
            node, list) else ()
        for item in items:
            yield from _walk(item, rest)
    elif isinstance(node, dict) and step in node:
        yield from _walk(node[step], rest)
    elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
        yield from _walk(node[int(step)], rest)


def parse_inventory(room: str, table: Any, env: Mapping[str, str] | None = None
                    ) -> tuple[InventoryConfig | None, dict[str, str]]:
    """(the config or None when the room names no source, every reason a value is bad).
    `env` (default: the process's) holds the secret that `authorization_env` names."""
    if table is None:
        return None, {}
    where = f"{room}.inventory"
    if not isinstance(table, Mapping):
        return None, {where: "must be a table: [rooms.<name>.inventory]"}
    reasons: dict[str, str] = {}
    known = {"source", "url", "path", "interval_seconds", "timeout_seconds", "sessions",
             "marker", "marker_hold_seconds", "waiting_list_url", "waiting_list_text",
             "authorization_env"}
    for key in table:
        if key not in known:
            reasons[f"{where}.{key}"] = f"unknown setting (use {', '.join(sorted(known))})"
    source = table.get("source", "url" if "url" in table else None)
    if source not in SOURCES:
        reasons[f"{where}.source"] = f"must be one of {', '.join(SOURCES)}"
    values: dict[str, Any] = {"source": source}
    url = table.get("url")
    if url is not None or source == "url":
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            reasons[f"{where}.url"] = "must be an http:// or https:// address"
        else:
            values["url"] = url
    if "authorization_env" in table:
        name = table["authorization_env"]
        secret = (os.environ if env is None else env).get(name, "") if isinstance(
            name, str) else ""
        if not secret or any(c in secret for c in "\r\n"):
            reasons[f"{where}.authorization_env"] = (
                "names an unset environment variable (it holds the whole Authorization "
                "header, e.g. \"Token abc123\")")
        else:
            values["authorization"] = secret
    path = table.get("path", "")
    if not isinstance(path, str) or (source == "url" and not path):
        reasons[f"{where}.path"] = ("the member that holds the number of places left, "
                                    "e.g. \"available\" or \"events.*.remaining\"")
    else:
        values["path"] = tuple(p for p in path.split(".") if p)
    for key, low, high in (("interval_seconds", 0.5, 3600.0), ("timeout_seconds", 0.1, 60.0)):
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
                reasons[f"{where}.{key}"] = f"must be a number between {low:g} and {high:g}"
            else:
                values[key] = float(v)
    hold = table.get("marker_hold_seconds", 60)
    if isinstance(hold, bool) or not isinstance(hold, int) or not 1 <= hold <= 86_400:
        reasons[f"{where}.marker_hold_seconds"] = "must be a whole number between 1 and 86400"
    else:
        values["marker_hold_seconds"] = hold
    sessions = table.get("sessions", [])
    if not isinstance(sessions, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in sessions):
        reasons[f"{where}.sessions"] = "must be a list of booking session ids"
    else:
        values["sessions"] = tuple(sessions)
    marker = table.get("marker")
    if marker is not None:
        if not isinstance(marker, str) or not marker.strip() or len(marker) > 200:
            reasons[f"{where}.marker"] = "must be a text of 1 to 200 characters"
        else:
            values["marker"] = marker
    if source == "marker" and "marker" not in values:
        reasons.setdefault(f"{where}.marker", "a marker source needs the marker text")
    link = table.get("waiting_list_url")
    if link is not None:
        parts = urlsplit(link) if isinstance(link, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(
                c in link for c in "\"'<> \\`"):
            reasons[f"{where}.waiting_list_url"] = "must be an http:// or https:// address"
        else:
            values["waiting_list_url"] = link
    text = table.get("waiting_list_text")
    if isinstance(text, str):
        values["waiting_list_text"] = (("", text),)
    elif isinstance(text, Mapping) and all(
            k in LANGS and isinstance(v, str) for k, v in text.items()):
        values["waiting_list_text"] = tuple(text.items())
    elif text is not None:
        reasons[f"{where}.waiting_list_text"] = (
            "must be a text or a table of texts by language (nl, fr, en, de)")
    if reasons:
        return None, reasons
    return InventoryConfig(**values), {}
