"""When a session ends without the shop's help (no I/O): `end_on` rules and markers.

A hosted shop never answers `Sluis-Session: end`, so its slots would wait out the idle
limit. A room may say which answers mean "this parent is done": a path pattern (the
order confirmation, the thank-you page) or a text in the answer. The answer is still
shown in full; the session ends when it has been sent. The same scanner looks for the
shop's sold-out text (gateway/inventory.py).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

# Answers whose bodies are searched for markers; others (images, downloads) are not.
_TEXTUAL = (b"text/", b"application/json", b"application/xhtml", b"application/xml")


@dataclass(frozen=True, slots=True)
class EndRules:
    paths: tuple[str, ...] = ()       # fnmatch patterns on the path, e.g. "/orders/*/done"
    markers: tuple[str, ...] = ()     # texts in an answer, e.g. "Thank you for your order"
    path_pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, paths: tuple[str, ...], markers: tuple[str, ...]) -> EndRules:
        pattern = (re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in paths))
                   if paths else None)
        return cls(paths, markers, pattern)

    def ends_at(self, path: str) -> bool:
        return self.path_pattern is not None and self.path_pattern.match(path) is not None


def textual(content_type: bytes | None, encoding: bytes | None) -> bool:
    """Whether an answer's body can be searched as sent: a text type, not compressed."""
    if content_type is None or (encoding and encoding.strip().lower() != b"identity"):
        return False
    return content_type.lstrip().lower().startswith(_TEXTUAL)


class Scanner:
    """Finds any of a few byte strings in a body that arrives in pieces, holding back only
    as many bytes as a marker can span across two pieces."""

    __slots__ = ("_carry", "_keep", "found", "markers")

    def __init__(self, markers: tuple[bytes, ...]) -> None:
        self.markers = markers
        self._keep = max(len(m) for m in markers) - 1
        self._carry = b""
        self.found: set[int] = set()

    def feed(self, piece: bytes) -> None:
        if not piece or len(self.found) == len(self.markers):
            return
        buf = self._carry + piece
        for i, marker in enumerate(self.markers):
            if i not in self.found and marker in buf:
                self.found.add(i)
        self._carry = buf[-self._keep:] if self._keep else b""
