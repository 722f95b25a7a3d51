"""Rehearse an opening without a server: from an arrival curve and the room's settings,
predict waits, queue length, backend load and polling traffic minute by minute.

The rules are the worker's and the gateway's own pure functions, called as they are:
`queue_worker.policy.plan` decides each tick's admissions (credit spread over ticks,
max_active), `queue_worker.rates.MeasuredRate` the measured rate behind the ETA,
`gateway.eta.estimate` the ETA a parent is shown, and `gateway.eta.poll_queued` /
`poll_prequeue` when each waiting parent asks again. Before opening, arrivals wait in
a pre-queue that is drawn in a uniformly random order at opening; after it, first come
first served. A session ends when the parent finishes (if the site says
`Sluis-Session: end`), `idle_seconds` after the parent's last request (when set), and
at the latest `session_seconds` after admission. `gateway.pace` states the pace that
max_active and that session length allow beside the configured rate.
"""

from __future__ import annotations

import heapq
import math
import random
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import escape

from gateway import charts
from gateway import eta as eta_mod
from gateway import pace as pace_mod
from queue_worker.policy import plan
from queue_worker.rates import MeasuredRate

_SEGMENT = re.compile(r"^\s*(\d+)\s*(?:@|/|in)\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$")
_UNIT = {None: 60.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class Segment:
    """`count` parents arriving evenly over `seconds`."""

    count: int
    seconds: float


def parse_curve(text: str) -> tuple[Segment, ...]:
    """"300@10m,4000@2m,2000@20m": 300 parents over 10 minutes, then 4,000 in 2 minutes...

    A bare number of minutes is allowed ("4000@2"); units are s, m (min) and h.
    """
    segments = []
    for part in text.split(","):
        if not part.strip():
            continue
        m = _SEGMENT.match(part)
        if not m:
            raise ValueError(f"not an arrival segment: {part.strip()!r} (use COUNT@DURATION, "
                             "e.g. 4000@2m)")
        seconds = float(m.group(2)) * _UNIT[m.group(3)]
        if seconds <= 0:
            raise ValueError(f"a segment needs a duration: {part.strip()!r}")
        segments.append(Segment(int(m.group(1)), seconds))
    if not segments:
        raise ValueError("the arrival curve is empty")
    return tuple(segments)


def arrival_times(segments: tuple[Segment, ...], start: float = 0.0) -> list[float]:
    """Evenly spaced arrival moments (seconds), segment after segment from `start`."""
    out: list[float] = []
    t0 = start
    for seg in segments:
        step = seg.seconds / seg.count if seg.count else 0.0
        out.extend(t0 + (i + 0.5) * step for i in range(seg.count))
        t0 += seg.seconds
    return out


@dataclass(frozen=True, slots=True)
class Scenario:
    arrivals: tuple[float, ...]       # seconds from the start of the rehearsal, sorted
    rate_per_minute: int
    max_active: int
    session_seconds: int              # the longest a session lasts from admission
    opens_at: float = 0.0             # seconds from the start; arrivals before it pre-queue
    grace_seconds: int = 300
    visit_seconds: float = 60.0       # how long a parent takes inside, once they know
    ends_early: bool = True           # the site answers `Sluis-Session: end` when done
    idle_seconds: int = 0             # a session unused this long ends (0: no idle limit)
    requests_per_visit: int = 3       # backend requests a parent makes inside
    tick_seconds: float = 0.5
    horizon_seconds: float | None = None  # stop here; default: until everyone is through
    rate_changes: tuple[tuple[float, int], ...] = ()  # (at second, new rate_per_minute)
    # Places taken by visitors who never ask again (bots, closed tabs): dropped when they
    # reach the head after grace_seconds, else admitted into a session nobody uses.
    silent: tuple[float, ...] = ()
    seed: int = 1


@dataclass
class Minute:
    minute: int
    arrived: int = 0
    admitted: int = 0
    queue_end: int = 0          # waiting (queue + pre-queue) at the end of the minute
    queue_max: int = 0
    active_max: int = 0         # live sessions (the backend's concurrent parents)
    backend_requests: int = 0
    status_polls: int = 0
    waits: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "minute": self.minute, "arrived": self.arrived, "admitted": self.admitted,
            "queue_end": self.queue_end, "queue_max": self.queue_max,
            "active_max": self.active_max, "backend_requests": self.backend_requests,
            "status_polls": self.status_polls,
            "status_polls_per_second": round(self.status_polls / 60, 1),
            "wait_p50_seconds": percentile(self.waits, 50),
            "wait_p90_seconds": percentile(self.waits, 90),
        }


@dataclass
class Outcome:
    minutes: list[Minute]
    waits: list[float]            # per parent admitted, seconds (from opening for the pre-queue)
    eta_at_join: list[tuple[float, int]]  # (actual wait, ETA shown at join) for queued joins
    admitted: int
    left_waiting: int
    peak_active: int
    drained_at: float | None      # the moment the line was empty after the last arrival
    sessions: list[float] = field(default_factory=list)  # each session's length, seconds

    def summary(self) -> dict[str, Any]:
        polls = max((m.status_polls for m in self.minutes), default=0)
        return {
            "admitted": self.admitted,
            "left_waiting": self.left_waiting,
            "peak_queue": max((m.queue_max for m in self.minutes), default=0),
            "peak_active": self.peak_active,
            "peak_status_polls_per_second": round(polls / 60, 1),
            "wait_p50_seconds": percentile(self.waits, 50),
            "wait_p90_seconds": percentile(self.waits, 90),
            "wait_max_seconds": round(max(self.waits), 1) if self.waits else None,
            "drained_at_seconds": None if self.drained_at is None else round(self.drained_at),
            "session_mean_seconds": (round(sum(self.sessions) / len(self.sessions), 1)
                                     if self.sessions else None),
        }


def percentile(values: Sequence[float], p: float, digits: int = 1) -> float | None:
    """The p-th percentile, interpolated between the two nearest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), digits)


# Event kinds, ordered so that at one moment arrivals come before polls.
_ARRIVE, _POLL = 0, 1


def simulate(sc: Scenario) -> Outcome:
    rng = random.Random(sc.seed)
    tick = sc.tick_seconds
    arrivals = sorted(sc.arrivals)
    last_arrival = max([*arrivals, *sc.silent], default=0.0)
    horizon = sc.horizon_seconds
    minutes: dict[int, Minute] = {}

    def minute(t: float) -> Minute:
        m = int(t // 60)
        row = minutes.get(m)
        if row is None:
            row = minutes[m] = Minute(m)
        return row

    joined_at: dict[int, float] = {}
    eta_shown: dict[int, int] = {}
    queue: deque[int] = deque()          # after opening (or the drawn pre-queue), in order
    prequeue: list[int] = []
    admitted_at: dict[int, float] = {}
    gone: set[int] = set()               # admitted: their polls stop
    sessions: list[tuple[float, int]] = []  # heap of (end moment, parent)
    events: list[tuple[float, int, int]] = [(t, _ARRIVE, i) for i, t in enumerate(arrivals)]
    quiet = set(range(len(arrivals), len(arrivals) + len(sc.silent)))
    events += [(t, _ARRIVE, len(arrivals) + i) for i, t in enumerate(sorted(sc.silent))]
    heapq.heapify(events)
    waits: list[float] = []
    eta_pairs: list[tuple[float, int]] = []
    measured = MeasuredRate()
    credit = 0.0
    credit_at: int | None = None
    rate = sc.rate_per_minute
    changes = sorted(sc.rate_changes)
    drawn = sc.opens_at <= 0
    peak_active = 0
    drained_at: float | None = None
    lengths: list[float] = []

    def hold(admitted: float, end: float, parent: int) -> None:
        heapq.heappush(sessions, (end, parent))
        lengths.append(end - admitted)

    # An unused session ends at its idle limit, a used one that long after its last
    # request; none outlives session_seconds from admission.
    first_window = (min(sc.idle_seconds, sc.session_seconds) if sc.idle_seconds
                    else sc.session_seconds)

    measured_now: list[tuple[float, float, float] | None] = [None]

    def visible_eta(ahead: int) -> eta_mod.Eta:
        per = measured_now[0]
        if per is None:
            return eta_mod.estimate(ahead, rate, None, None, None, sc.max_active,
                                    sc.session_seconds)
        return eta_mod.estimate(ahead, rate, per[0], per[1], per[2], sc.max_active,
                                sc.session_seconds)

    # The line is the drawn pre-queue followed by later arrivals in arrival order, and it
    # only moves at its head: a parent's place follows from two counters.
    drawn_rank: dict[int, int] = {}
    tail_rank: dict[int, int] = {}
    gone_from = {"pre": 0, "tail": 0}

    def ahead_of(parent: int) -> int:
        if parent in drawn_rank:
            return drawn_rank[parent] - gone_from["pre"]
        return (len(drawn_rank) - gone_from["pre"]) + tail_rank[parent] - gone_from["tail"]

    def poll_delay(parent: int, t: float) -> float:
        if not drawn:
            return eta_mod.poll_prequeue(sc.opens_at - t, len(prequeue), rng)
        ahead = ahead_of(parent)
        return eta_mod.poll_queued(visible_eta(ahead), ahead, sc.grace_seconds, rng)

    def draw() -> None:
        order = prequeue[:]
        rng.shuffle(order)
        for rank, parent in enumerate(order):
            drawn_rank[parent] = rank
        queue.extendleft(reversed(order))
        prequeue.clear()

    def admit_one(t: float) -> bool:
        """The head of the line goes in; False when it was a silent place dropped instead."""
        parent = queue.popleft()
        gone_from["pre" if parent in drawn_rank else "tail"] += 1
        if parent in quiet:
            if t - joined_at[parent] > sc.grace_seconds:
                return False
            admitted_at[parent] = t
            gone.add(parent)
            hold(t, t + first_window, parent)
            minute(t).admitted += 1
            return True
        admitted_at[parent] = t
        wait = t - max(joined_at[parent], sc.opens_at)
        waits.append(wait)
        row = minute(t)
        row.waits.append(wait)
        row.admitted += 1
        if parent in eta_shown:
            eta_pairs.append((wait, eta_shown[parent]))
        return True

    end_time = horizon if horizon is not None else math.inf
    next_tick = 0.0
    while True:
        # Process every arrival and poll up to the next tick.
        while events and events[0][0] <= next_tick:
            t, kind, parent = heapq.heappop(events)
            if not drawn and t >= sc.opens_at:
                drawn = True
                draw()
            if kind == _ARRIVE:
                joined_at[parent] = t
                minute(t).arrived += 1
                if parent in quiet:
                    (prequeue if t < sc.opens_at else queue).append(parent)
                    if t >= sc.opens_at:
                        tail_rank[parent] = len(tail_rank)
                    continue
                if t < sc.opens_at:
                    prequeue.append(parent)
                else:
                    tail_rank[parent] = len(tail_rank)
                    queue.append(parent)
                    shown = visible_eta(ahead_of(parent)).seconds
                    if shown is not None:
                        eta_shown[parent] = shown
                heapq.heappush(events, (t + poll_delay(parent, t), _POLL, parent))
            else:
                if parent in gone:
                    continue
                minute(t).status_polls += 1
                if parent in admitted_at:
                    # Now they know: they go in, use the site, then the session ends.
                    gone.add(parent)
                    minute(t).backend_requests += sc.requests_per_visit
                    last_use = t + sc.visit_seconds
                    cap = admitted_at[parent] + sc.session_seconds
                    if sc.ends_early:
                        end = last_use
                    elif sc.idle_seconds:
                        end = last_use + sc.idle_seconds
                    else:
                        end = cap
                    hold(admitted_at[parent], min(end, cap), parent)
                    continue
                heapq.heappush(events, (t + poll_delay(parent, t), _POLL, parent))
        now = next_tick
        if now >= end_time:
            break
        while changes and changes[0][0] <= now:
            rate = changes.pop(0)[1]
        if not drawn and now >= sc.opens_at:
            drawn = True
            draw()
        # Sessions that ended (finished, idle, or at session_seconds) free their slot.
        while sessions and sessions[0][0] <= now:
            heapq.heappop(sessions)
        # Admitted parents who have not polled yet hold a slot from admission on.
        unseen = len(admitted_at) - len(gone)
        active = len(sessions) + unseen
        waiting = len(queue) + len(prequeue)
        p = plan(now_ms=int(now * 1000), credit=credit, credit_at_ms=credit_at,
                 rate_per_minute=rate, max_active=sc.max_active, active=active,
                 waiting=waiting, paused=False, open_=now >= sc.opens_at)
        done = 0
        while done < p.want and queue:
            done += admit_one(now)
        credit = min(p.credit - done, p.cap)
        if credit_at is not None:
            measured.record(int(now * 1000), int(tick * 1000), done,
                            saturated=waiting > done and now >= sc.opens_at)
            measured_now[0] = measured.per_minute()
        credit_at = int(now * 1000)
        active += done
        row = minute(now)
        waiting -= done
        row.queue_end = waiting
        row.queue_max = max(row.queue_max, waiting)
        row.active_max = max(row.active_max, active)
        peak_active = max(peak_active, active)
        if drained_at is None and now >= last_arrival and now >= sc.opens_at and waiting == 0:
            drained_at = now
        if horizon is None and drained_at is not None and not sessions and \
                len(gone) == len(admitted_at):
            break
        next_tick = round(now + tick, 6)
    ordered = [minutes[k] for k in sorted(minutes)]
    return Outcome(minutes=ordered, waits=waits, eta_at_join=eta_pairs,
                   admitted=len(admitted_at) - len(quiet & admitted_at.keys()),
                   left_waiting=len(queue) + len(prequeue),
                   peak_active=peak_active, drained_at=drained_at, sessions=lengths)


def scenario_pace(sc: Scenario, rate_per_minute: int | None = None) -> pace_mod.Pace:
    """The pace the scenario's settings allow, with sessions as long as its visits make them."""
    return pace_mod.pace(
        rate_per_minute=sc.rate_per_minute if rate_per_minute is None else rate_per_minute,
        max_active=sc.max_active, session_seconds=sc.session_seconds,
        idle_seconds=sc.idle_seconds, visit_seconds=sc.visit_seconds, ends_early=sc.ends_early)


def assumptions(sc: Scenario) -> str:
    """How long a session is taken to last, and why, in one sentence."""
    visit = pace_mod.seconds_text(sc.visit_seconds)
    longest = pace_mod.seconds_text(sc.session_seconds)
    if sc.ends_early:
        why = (f"a visit of {visit}; the site ends each session when the parent is done "
               "(Sluis-Session: end), so a session lasts the visit")
    elif sc.idle_seconds:
        why = (f"a visit of {visit}; the site never ends sessions, so a session lasts the "
               f"visit plus idle_seconds ({pace_mod.seconds_text(sc.idle_seconds)})")
    else:
        return (f"the site never ends sessions and there is no idle limit, so every session "
                f"lasts session_seconds ({longest}), whatever the visit ({visit})")
    typical = pace_mod.assumed_session(session_seconds=sc.session_seconds,
                                       idle_seconds=sc.idle_seconds,
                                       visit_seconds=sc.visit_seconds, ends_early=sc.ends_early)
    cut = typical < (sc.visit_seconds if sc.ends_early else sc.visit_seconds + sc.idle_seconds)
    return why + (f", cut at session_seconds ({longest})" if cut else
                  f"; session_seconds ({longest}) is never reached")


def pace_lines(sc: Scenario, outcome: Outcome) -> list[str]:
    """The effective pace beside the configured rate, what sets it, and what it assumes."""
    lines = []
    rates = [sc.rate_per_minute, *(rate for _, rate in sorted(sc.rate_changes))]
    for i, rate in enumerate(dict.fromkeys(rates)):
        p = scenario_pace(sc, rate)
        when = "" if i == 0 else " after the rate change"
        lines.append(f"configured rate {rate:,} a minute{when}, effective pace "
                     f"{pace_mod.per_minute_text(p.per_minute)} a minute: "
                     f"{pace_mod.describe(p, sc.max_active)}")
    lines.append(f"assumed: {assumptions(sc)}")
    mean = outcome.summary()["session_mean_seconds"]
    if mean is not None:
        lines.append(f"simulated sessions lasted {pace_mod.seconds_text(mean)} on average "
                     "(from admission, the moments before a parent notices included)")
    return lines


def pace_json(sc: Scenario) -> dict[str, Any]:
    p = scenario_pace(sc)
    return {"rate_per_minute": sc.rate_per_minute,
            "effective_rate_per_minute": round(p.per_minute, 1), "pace_set_by": str(p.set_by),
            "typical_session_seconds": round(p.session_seconds, 1),
            "visit_seconds": sc.visit_seconds, "ends_early": sc.ends_early,
            "idle_seconds": sc.idle_seconds, "session_seconds": sc.session_seconds}


# The minute table's columns: (heading, unit line, width, what it means).
COLUMNS = (
    ("minute", "", 6, "minutes since the start of the arrival curve"),
    ("arrived", "", 8, "parents who arrived during the minute"),
    ("admitted", "", 8, "parents let in during the minute"),
    ("queue", "(end)", 7, "parents still waiting at the end of the minute (line and pre-queue)"),
    ("active", "(peak)", 7, "the most live sessions at once during the minute: parents on the "
                            "site together, never above max_active"),
    ("polls/s", "(mean)", 8, "status calls a second from waiting parents, the minute's mean"),
    ("backend", "req/min", 8, "requests admitted parents sent the site during the minute"),
    ("wait p50", "(min)", 9, "minutes from arrival (from the opening, for the pre-queue) to "
                             "admission: half of those let in that minute waited less"),
    ("wait p90", "(min)", 9, "the same, for nine in ten of them"),
)


def minutes_text(seconds: float | None) -> str:
    """A wait in minutes, one decimal: 84 s → "1.4"; "" without one."""
    return "" if seconds is None else f"{seconds / 60:.1f}"


def table(outcome: Outcome, opens_at: float = 0.0) -> str:
    """The minute-by-minute prediction as a plain-text table, waits in minutes."""
    head = " ".join(f"{name:>{w}}" for name, _, w, _ in COLUMNS)
    units = " ".join(f"{unit:>{w}}" for _, unit, w, _ in COLUMNS)
    lines = [head, units, "-" * len(head)]
    opening = int(opens_at // 60) if opens_at > 0 else None
    for m in outcome.minutes:
        j = m.as_json()
        mark = f"{m.minute}*" if m.minute == opening else f"{m.minute} "
        cells = (mark, m.arrived, m.admitted, m.queue_end, m.active_max,
                 j["status_polls_per_second"], m.backend_requests,
                 minutes_text(j["wait_p50_seconds"]), minutes_text(j["wait_p90_seconds"]))
        lines.append(" ".join(f"{c:>{w}}" for c, (_, _, w, _) in zip(cells, COLUMNS,
                                                                      strict=True)))
    return "\n".join(lines)


def legend(opens_at: float = 0.0) -> str:
    """What each column of the table means, and in which unit."""
    lines = [f"  {name:<9} {text}" for name, _, _, text in COLUMNS]
    if opens_at > 0:
        lines.append(f"  {'*':<9} the minute the room opens and the pre-queue is drawn")
    return "\n".join(["columns:", *lines])


def summary_text(s: dict[str, Any], max_active: int) -> str:
    drained = s["drained_at_seconds"]
    return (f"admitted {s['admitted']:,}; peak line {s['peak_queue']:,}; peak live sessions "
            f"{s['peak_active']:,} (max_active {max_active:,}); peak polling "
            f"{s['peak_status_polls_per_second']} status calls/s\n"
            f"wait p50 {minutes_text(s['wait_p50_seconds']) or '-'} min, p90 "
            f"{minutes_text(s['wait_p90_seconds']) or '-'} min, max "
            f"{minutes_text(s['wait_max_seconds']) or '-'} min; line empty at "
            f"{'-' if drained is None else minutes_text(drained)} min\n")


# -- charts: `--svg` and `--html` ------------------------------------------------------


def rate_at(sc: Scenario, second: float) -> int:
    """The configured rate at a moment, after the operator's changes so far."""
    rate = sc.rate_per_minute
    for at, new in sorted(sc.rate_changes):
        if at <= second:
            rate = new
    return rate


def rehearsal_charts(sc: Scenario, outcome: Outcome) -> list[tuple[str, charts.Chart]]:
    """(title, chart) of the prediction, minute by minute."""
    rows = outcome.minutes
    mid = [m.minute + 0.5 for m in rows]
    end = [m.minute + 1.0 for m in rows]
    last = max([m.minute + 1 for m in rows] + [1])
    axis: dict[str, Any] = {"x_from": 0.0, "x_to": float(last),
                            "x_ticks": charts.minute_ticks(last)}

    def waits(p: int) -> list[float | None]:
        return [None if (w := percentile(m.waits, p)) is None else round(w / 60, 2)
                for m in rows]

    return [
        ("Waiting at the end of each minute (line and pre-queue)", charts.line_chart(
            "Waiting", end, [("l-wait", [float(m.queue_end) for m in rows])],
            unit="parents", **axis)),
        ("Admitted a minute (green), the configured rate (grey dashes) and the pace that "
         "max_active allows with it (red dashes)", charts.line_chart(
            "Admitted a minute", mid, [
                ("l-target", [float(rate_at(sc, m.minute * 60)) for m in rows]),
                ("l-limit", [scenario_pace(sc, rate_at(sc, m.minute * 60)).per_minute
                             for m in rows]),
                ("l-actual", [float(m.admitted) for m in rows])], unit="a minute", **axis)),
        ("Live sessions at the peak of each minute, and max_active (red dashes)",
         charts.line_chart(
            "Live sessions", mid, [("l-limit", [float(sc.max_active)] * len(rows)),
                                   ("l-active", [float(m.active_max) for m in rows])],
            unit="sessions", **axis)),
        ("Wait of those let in, in minutes: p50 (blue) and p90 (orange)", charts.line_chart(
            "Wait", mid, [("l-p50", waits(50)), ("l-p90", waits(90))], unit="minutes",
            **axis)),
        ("Status calls a second from waiting parents", charts.line_chart(
            "Status calls a second", mid,
            [("l-polls", [m.status_polls / 60 for m in rows])], unit="a second", **axis)),
    ]


def chart_svg(sc: Scenario, outcome: Outcome, title: str) -> str:
    """The charts as one standalone SVG file, two to a row."""
    cw, ch, head, gap = charts.WIDTH, charts.HEIGHT, 16, 14
    found = rehearsal_charts(sc, outcome)
    rows = (len(found) + 1) // 2
    width, height = 2 * cw + gap, 28 + rows * (head + ch + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width * 2}" height="{height * 2}" font-family="system-ui, sans-serif">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="0" y="14" font-size="12" font-weight="bold" fill="#1b2430">'
             f'{escape(title)}</text>']
    for i, (caption, chart) in enumerate(found):
        x, y = (i % 2) * (cw + gap), 28 + (i // 2) * (head + ch + gap)
        parts.append(f'<text x="{x}" y="{y + 11}" font-size="9" fill="#536170">'
                     f'{escape(caption)}</text>')
        parts.append(f'<svg x="{x}" y="{y + head}" width="{cw}" height="{ch}"'
                     + str(chart.svg)[len("<svg"):])
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def report_html(sc: Scenario, outcome: Outcome, title: str) -> str:
    """A self-contained page: the assumptions, the pace, the charts and the table."""
    s = outcome.summary()
    head = "".join(f"<th scope=\"col\">{escape(n)}<br><small>{escape(u)}</small></th>"
                   for n, u, _, _ in COLUMNS)
    body = []
    opening = int(sc.opens_at // 60) if sc.opens_at > 0 else None
    for m in outcome.minutes:
        j = m.as_json()
        cells = (f"{m.minute}*" if m.minute == opening else m.minute, f"{m.arrived:,}",
                 f"{m.admitted:,}", f"{m.queue_end:,}", f"{m.active_max:,}",
                 j["status_polls_per_second"], f"{m.backend_requests:,}",
                 minutes_text(j["wait_p50_seconds"]), minutes_text(j["wait_p90_seconds"]))
        body.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    figures = "".join(f"<figure><figcaption>{escape(c)}</figcaption>{chart.svg}</figure>"
                      for c, chart in rehearsal_charts(sc, outcome))
    terms = "".join(f"<dt>{escape(n)} <small>{escape(u)}</small></dt><dd>{escape(t)}</dd>"
                    for n, u, _, t in COLUMNS)
    if opening is not None:
        terms += "<dt>*</dt><dd>the minute the room opens and the pre-queue is drawn</dd>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; color: #1b2430; margin: 0 auto; max-width: 72rem;
  padding: 1rem 1.2rem 3rem; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr));
  gap: 1rem; }}
figure {{ margin: 0; display: flex; flex-direction: column; justify-content: space-between; }}
figcaption {{ font-size: .85rem; color: #536170; }}
.chart {{ width: 100%; height: auto; display: block; }}
table {{ border-collapse: collapse; font-size: .85rem; }}
th, td {{ padding: .2rem .6rem; border-bottom: 1px solid #d5dbe1; text-align: right; }}
th small, dt small {{ color: #536170; font-weight: normal; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
  font-size: .88rem; }}
dd {{ margin: 0; }} dt {{ font-weight: 600; }}
.pace li {{ margin: .2rem 0; }}
</style></head>
<body>
<h1>{escape(title)}</h1>
<ul class="pace">{"".join(f"<li>{escape(line)}</li>" for line in pace_lines(sc, outcome))}</ul>
<p class="summary">{str(escape(summary_text(s, sc.max_active))).replace(chr(10), "<br>")}</p>
<div class="charts">{figures}</div>
<h2>Minute by minute</h2>
<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<h2>The columns</h2>
<dl>{terms}</dl>
</body></html>
"""


# -- the command line: `sluis rehearse` ------------------------------------------------


def add_arguments(p: Any) -> None:
    p.add_argument("--arrivals", required=True,
                   help='the arrival curve, COUNT@DURATION segments one after another, e.g. '
                        '"500@10m,4000@2m,1500@20m"')
    p.add_argument("--opens-after", default="0",
                   help="when the room opens, from the start of the curve (e.g. 10m); "
                        "arrivals before it wait in the pre-queue for the draw")
    p.add_argument("--rate", type=int, required=True, help="rate_per_minute")
    p.add_argument("--max-active", type=int, required=True)
    p.add_argument("--session-seconds", type=int, default=900,
                   help="the longest a session lasts from admission")
    p.add_argument("--idle-seconds", type=int, default=0,
                   help="a session with no request for this long ends (0: no idle limit)")
    p.add_argument("--grace-seconds", type=int, default=300)
    p.add_argument("--visit", default="5m", help="how long a parent takes inside (e.g. 4m)")
    p.add_argument("--no-early-end", action="store_true",
                   help="the site never answers `Sluis-Session: end`: a session lasts "
                        "idle_seconds past the parent's last request, or session_seconds "
                        "without an idle limit")
    p.add_argument("--requests-per-visit", type=int, default=8)
    p.add_argument("--tick-ms", type=int, default=500, help="the worker's tick")
    p.add_argument("--rate-change", action="append", default=[],
                   help="AT:RATE, e.g. 15m:900 (repeatable)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="the prediction as JSON")
    p.add_argument("--svg", metavar="FILE", help="also write the charts as an SVG file")
    p.add_argument("--html", metavar="FILE",
                   help="also write a page with the charts, the pace and the table")


def duration(text: str) -> float:
    """"90", "90s", "4m", "1.5h" → seconds (a bare number is seconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*", text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 4m, 1h)")
    return float(m.group(1)) * (_UNIT[m.group(2)] if m.group(2) else 1.0)


def scenario_from(args: Any) -> Scenario:
    changes = []
    for item in args.rate_change:
        at, _, rate = item.partition(":")
        changes.append((duration(at), int(rate)))
    return Scenario(
        arrivals=tuple(arrival_times(parse_curve(args.arrivals))),
        rate_per_minute=args.rate, max_active=args.max_active,
        session_seconds=args.session_seconds, opens_at=duration(args.opens_after),
        grace_seconds=args.grace_seconds, visit_seconds=duration(args.visit),
        ends_early=not args.no_early_end, idle_seconds=args.idle_seconds,
        requests_per_visit=args.requests_per_visit,
        tick_seconds=args.tick_ms / 1000, rate_changes=tuple(changes), seed=args.seed)


def run(args: Any) -> int:
    import json
    import sys

    try:
        sc = scenario_from(args)
        outcome = simulate(sc)
    except ValueError as exc:
        sys.stderr.write(f"sluis rehearse: {exc}\n")
        return 2
    title = (f"sluis rehearse: {args.arrivals}, rate {sc.rate_per_minute:,} a minute, "
             f"max_active {sc.max_active:,}")
    files = [(args.svg, chart_svg), (args.html, report_html)]
    for path, render in files:
        if not path:
            continue
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(render(sc, outcome, title))
        except OSError as exc:
            sys.stderr.write(f"sluis rehearse: cannot write {path}: {exc.strerror}\n")
            return 2
        sys.stderr.write(f"sluis rehearse: wrote {path}\n")
    if args.json:
        sys.stdout.write(json.dumps({"summary": outcome.summary(), "pace": pace_json(sc),
                                     "minutes": [m.as_json() for m in outcome.minutes]},
                                    indent=1) + "\n")
        return 0
    sys.stdout.write(table(outcome, sc.opens_at) + "\n" + legend(sc.opens_at) + "\n\n")
    sys.stdout.write("\n".join(pace_lines(sc, outcome)) + "\n")
    sys.stdout.write(summary_text(outcome.summary(), sc.max_active))
    return 0
