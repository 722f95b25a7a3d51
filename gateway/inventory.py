"""A room's inventory source: where the number of places left comes from (no I/O).

A room may name one in its `[rooms.<name>.inventory]` table (read in gateway/roomfile.py):
a JSON availability URL of the shop (polled by the leading worker), the internal booking
engine's database, or a sold-out text seen in the shop's own answers. At 0 places left
nobody more is let in and the people waiting are told so (state `sold_out`) instead of
waiting for places that are gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCES = ("url", "internal", "marker")
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
