"""The admission rate actually achieved, for honest ETAs (pure, no I/O).

Only ticks that ended with people still waiting count: they show what the room
can admit, not how many happened to arrive.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

BUCKET_MS = 10_000
HISTORY_MS = 300_000
WINDOW_MS = 60_000


@dataclass
class MeasuredRate:
    # Per 10-second bucket: [bucket start, ms of saturated time, admissions].
    buckets: deque[list[int]] = field(default_factory=deque)

    def record(self, now_ms: int, elapsed_ms: int, admitted: int, saturated: bool) -> None:
        if not saturated or elapsed_ms <= 0:
            return
        start = now_ms - now_ms % BUCKET_MS
        if self.buckets and self.buckets[-1][0] == start:
            self.buckets[-1][1] += elapsed_ms
            self.buckets[-1][2] += admitted
        else:
            self.buckets.append([start, elapsed_ms, admitted])
        while self.buckets and self.buckets[0][0] < now_ms - HISTORY_MS:
            self.buckets.popleft()

    def per_minute(self) -> tuple[float, float, float] | None:
        """(mean over the last minute, slowest minute, fastest minute) in admissions per
        minute, or None before 10 s of saturated time were seen."""
        rows = list(self.buckets)
        if sum(r[1] for r in rows) < 10_000:
            return None
        per = WINDOW_MS // BUCKET_MS
        windows = []
        for end in range(len(rows)):
            chunk = rows[max(0, end - per + 1) : end + 1]
            ms = sum(r[1] for r in chunk)
            if ms >= 10_000:
                windows.append(sum(r[2] for r in chunk) * 60_000 / ms)
        if not windows:
            return None
        return windows[-1], min(windows), max(windows)
