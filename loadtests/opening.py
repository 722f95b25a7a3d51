"""The shape of an opening (pure): a quiet pre-queue, a spike at the opening minute,
a long tail, then time for the line to drain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from queue_worker.rehearse import Segment


@dataclass(frozen=True, slots=True)
class Opening:
    visitors: int = 20_000          # everyone who arrives, all behaviours together
    prequeue_seconds: float = 300   # the quiet time before opening
    prequeue_share: float = 0.10    # of the visitors, arriving before opening
    spike_seconds: float = 60       # the opening minute
    spike_share: float = 0.70       # of the visitors, arriving in the spike
    tail_seconds: float = 600       # the rest arrive evenly over this
    drain_seconds: float = 600      # after the last arrival, while the line empties

    def __post_init__(self) -> None:
        if self.visitors < 1:
            raise ValueError("at least one visitor")
        if not 0 <= self.prequeue_share + self.spike_share <= 1:
            raise ValueError("prequeue_share + spike_share must lie between 0 and 1")
        if self.spike_seconds <= 0 or self.tail_seconds <= 0 or self.prequeue_seconds < 0:
            raise ValueError("the spike and the tail need a duration")

    @property
    def counts(self) -> tuple[int, int, int]:
        pre = round(self.visitors * self.prequeue_share) if self.prequeue_seconds else 0
        spike = round(self.visitors * self.spike_share)
        return pre, spike, self.visitors - pre - spike

    @property
    def opens_after(self) -> float:
        """Seconds from the start of the run to the opening."""
        return self.prequeue_seconds

    @property
    def arrivals_end(self) -> float:
        return self.prequeue_seconds + self.spike_seconds + self.tail_seconds

    @property
    def duration(self) -> float:
        return self.arrivals_end + self.drain_seconds

    def segments(self) -> tuple[Segment, ...]:
        """The same curve for the simulator (`queue_worker.rehearse`)."""
        pre, spike, tail = self.counts
        out = []
        if self.prequeue_seconds:
            out.append(Segment(pre, self.prequeue_seconds))
        out += [Segment(spike, self.spike_seconds), Segment(tail, self.tail_seconds)]
        return tuple(out)

    def arrived_by(self, t: float) -> int:
        """How many visitors have arrived `t` seconds into the run."""
        total = 0.0
        start = 0.0
        for seg in self.segments():
            if t >= start + seg.seconds:
                total += seg.count
            elif t > start:
                total += seg.count * (t - start) / seg.seconds
            start += seg.seconds
        return min(self.visitors, int(total))

    def spawn_rate(self, t: float) -> float:
        """Users a second to start now: the arrival rate of the segment, with headroom so
        the runner keeps up with the curve; after the last arrival, the fastest rate, so
        that a runner that fell behind on a busy machine catches up at once."""
        start = 0.0
        segments = self.segments()
        for seg in segments:
            if t < start + seg.seconds:
                return max(1.0, 1.5 * seg.count / seg.seconds)
            start += seg.seconds
        return max(1.0, *(1.5 * seg.count / seg.seconds for seg in segments))


CURVE_FIELDS = ("prequeue_seconds", "prequeue_share", "spike_seconds", "spike_share",
                "tail_seconds", "drain_seconds")


def add_curve_options(group: Any) -> None:
    """The curve's phases as command-line options (`--spike-seconds`, ...), defaulting to
    Opening's; `group` is an argparse parser or argument group."""
    defaults = Opening()
    for name in CURVE_FIELDS:
        group.add_argument("--" + name.replace("_", "-"), type=float,
                           default=getattr(defaults, name))
