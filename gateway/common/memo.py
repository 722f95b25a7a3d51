"""One bounded memo for the hot path's repeated work (a cookie's signature checked, a
Host canonicalised, a content type classified): a plain dict, so a hit is one C-level
`get`, that forgets everything at once when full. Clearing is cheaper than keeping an
order (no LRU bookkeeping per hit) and bounds memory against a flood of distinct keys;
the price is that, once every `limit` new keys, the next few requests redo their work."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """`memo.get(key)` to look; `memo.put(key, value)` to remember (returns value)."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError("a memo holds at least one entry")
        self.limit = limit

    def put(self, key: K, value: V) -> V:
        if len(self) >= self.limit and key not in self:
            self.clear()
        self[key] = value
        return value
