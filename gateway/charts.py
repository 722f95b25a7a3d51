"""Small line charts as inline SVG, with a time axis and a value scale: the dashboard's
last hour and `sluis rehearse --svg/--html` (pure, no I/O, no script)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

WIDTH, HEIGHT = 320, 120
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 8, 18
HOUR_MS = 3_600_000
# Colours as presentation attributes: the same SVG reads well on the dashboard (whose
# CSP allows no inline style) and saved as a file on its own.
COLOURS = {"l-wait": "#0b5f7a", "l-active": "#6b3fa0", "l-target": "#8795a3",
           "l-actual": "#1d6b36", "l-p95": "#b35c00", "l-limit": "#a4262c",
           "l-p50": "#0b5f7a", "l-p90": "#b35c00", "l-polls": "#6b3fa0"}
DASHED = {"l-target", "l-limit"}

Line = tuple[str, Sequence[float | None]]  # (css class, a value per x, None for a gap)


@dataclass(frozen=True, slots=True)
class Chart:
    svg: Markup
    now: str    # the latest value, shown beside the caption ("—" without one)
    peak: str   # the largest value shown


def nice_top(peak: float) -> float:
    """The scale's top: the smallest 1, 2, 2.5 or 5 × 10^k at or above the peak (≥ 1)."""
    if peak <= 1:
        return 1.0
    base = 10.0 ** math.floor(math.log10(peak))
    for factor in (1, 2, 2.5, 5, 10):
        if peak <= base * factor + 1e-9:
            return base * factor
    return base * 10


def number_text(value: float | None) -> str:
    """A value on an axis or beside a caption: 12,300 → "12.3k"; 0.25 → "0.25"."""
    if value is None:
        return "—"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k" if abs(value) >= 100_000 else f"{value / 1000:.1f}k"
    if abs(value) >= 10 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:.1f}"


def line_chart(label: str, xs: Sequence[float], lines: Sequence[Line], *, x_from: float,
               x_to: float, x_ticks: Sequence[tuple[float, str]], unit: str = "") -> Chart:
    """One chart: each line is (css class, values at the moments `xs`), drawn between
    `x_from` and `x_to`, with `x_ticks` (position, label) below and a scale of 0, half
    and top on the left."""
    values = [v for _, vs in lines for v in vs if v is not None]
    peak = max(values, default=0.0)
    top = nice_top(peak)
    span = (x_to - x_from) or 1.0
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(at: float) -> float:
        return LEFT + pw * (at - x_from) / span

    def y_of(v: float) -> float:
        return TOP + ph - ph * min(v, top) / top

    latest = _latest(lines[-1][1]) if lines else None
    aria = (f"{label}, latest {number_text(latest)}, peak {number_text(peak)}"
            f"{' ' + unit if unit else ''}")
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(aria)}" font-family="system-ui, sans-serif" font-size="9">',
             f'<rect class="chart-bg" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" '
             'fill="#f2f5f7"/>']
    for v in (0.0, top / 2, top):
        y = y_of(v)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#d5dbe1" stroke-width="0.6"/>')
        parts.append(f'<text class="tick" x="{LEFT - 3}" y="{y + 3:.1f}" text-anchor="end" '
                     f'fill="#536170">{escape(number_text(v))}</text>')
    for at, text in x_ticks:
        x = x_of(at)
        if not LEFT - 0.5 <= x <= LEFT + pw + 0.5:
            continue
        anchor = "end" if x > LEFT + pw - 14 else ("start" if x < LEFT + 14 else "middle")
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + ph}" y2="{TOP + ph + 3}" '
                     'stroke="#8795a3" stroke-width="0.8"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 4}" text-anchor="{anchor}" '
                     f'fill="#536170">{escape(text)}</text>')
    for css, vs in lines:
        points = " ".join(f"{x_of(at):.1f},{y_of(v):.1f}"
                          for v, at in zip(vs, xs, strict=True) if v is not None)
        if not points:
            continue
        dash = ' stroke-dasharray="4 3"' if css in DASHED else ""
        parts.append(f'<polyline class="{escape(css)}" points="{points}" fill="none" '
                     f'stroke="{COLOURS.get(css, "#1b2430")}" stroke-width="1.6"{dash}/>')
    parts.append("</svg>")
    svg = Markup("".join(parts))  # noqa: S704 - numbers and escaped labels only
    return Chart(svg=svg, now=number_text(latest), peak=number_text(peak))


def _latest(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


def clock_ticks(now_ms: int, tz: ZoneInfo, span_ms: int = HOUR_MS,
                every_minutes: int = 15) -> list[tuple[float, str]]:
    """Whole quarters of an hour of the last `span_ms`, as HH:MM in the room's zone."""
    step = every_minutes * 60_000
    first = (now_ms - span_ms) // step * step + step
    return [(float(at), datetime.fromtimestamp(at / 1000, tz).strftime("%H:%M"))
            for at in range(first, now_ms + 1, step)]


def minute_ticks(last_minute: float) -> list[tuple[float, str]]:
    """Ticks in minutes from the start, at most seven, at a round step."""
    step = next((s for s in (1, 2, 5, 10, 15, 20, 30, 60, 120, 240) if last_minute / s <= 6),
                480)
    return [(float(m), f"{m} min") for m in range(0, int(last_minute) + 1, step)]


def per_minute(samples: Sequence[dict[str, Any]]) -> list[float | None]:
    """Admissions a minute between consecutive samples, from the admitted counter."""
    out: list[float | None] = [None]
    for prev, cur in itertools.pairwise(samples):
        dt = cur["t"] - prev["t"]
        done = cur.get("admitted_total", 0) - prev.get("admitted_total", 0)
        out.append(done * 60_000 / dt if dt > 0 and done >= 0 else None)
    return out[: len(samples)]


def room_charts(samples: Sequence[dict[str, Any]], now_ms: int, tz: ZoneInfo) -> dict[str, Chart]:
    """The dashboard's four charts of a room's last hour, timed in the room's zone."""
    t = [float(s["t"]) for s in samples]
    axis: dict[str, Any] = {"x_from": float(now_ms - HOUR_MS), "x_to": float(now_ms),
                            "x_ticks": clock_ticks(now_ms, tz)}
    return {
        "waiting": line_chart("Waiting", t, [("l-wait", [s.get("waiting") for s in samples])],
                              unit="people", **axis),
        "active": line_chart("Active sessions", t,
                             [("l-active", [s.get("active") for s in samples])],
                             unit="sessions", **axis),
        "rate": line_chart("Admitted per minute, target and actual", t, [
            ("l-target", [s.get("rate") for s in samples]),
            ("l-actual", per_minute(samples))], unit="a minute", **axis),
        "p95": line_chart("Backend p95 latency", t,
                          [("l-p95", [s.get("p95_ms") for s in samples])], unit="ms", **axis),
    }
