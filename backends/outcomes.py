"""The backend's answers counted per room and per second, in memory, for the breaker.

The gate records every answer here (a few dict updates); the gateway's lifespan
writes the totals to Redis about once a second, so the admission worker in any
process sees every gateway's answers without a Redis call per request.
"""

from __future__ import annotations

import bisect
import time

# Upper bounds (ms) of the latency buckets kept per second; the last bucket is open.
LATENCY_BOUNDS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
BUCKET_FIELDS = (*(f"le_{b}" for b in LATENCY_BOUNDS_MS), "le_inf")


class Outcomes:
    def __init__(self) -> None:
        # (room, second) -> [answers, errors, one count per latency bucket]
        self._rows: dict[tuple[str, int], list[int]] = {}

    def record(self, room: str, status: int, seconds: float) -> None:
        """One answer: a status >= 500 (or none at all, 0) counts as an error."""
        key = (room, int(time.time()))
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0] * (2 + len(BUCKET_FIELDS))
        row[0] += 1
        if status >= 500 or status == 0:
            row[1] += 1
        row[2 + bisect.bisect_left(LATENCY_BOUNDS_MS, seconds * 1000)] += 1

    def take(self) -> list[tuple[str, int, dict[str, int]]]:
        """Everything counted since the last call, as (room, second, fields): `n`, `err`,
        and the latency buckets that counted any."""
        rows, self._rows = self._rows, {}
        out = []
        for (room, second), row in rows.items():
            fields = {"n": row[0], "err": row[1]}
            for name, count in zip(BUCKET_FIELDS, row[2:], strict=True):
                if count:
                    fields[name] = count
            out.append((room, second, fields))
        return out
