"""Small line charts as inline SVG for the dashboard (pure, no I/O, no script)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 320, 72, 4


def _points(values: Sequence[float | None], t: Sequence[int], t0: int, span: int,
            top: float) -> str:
    out = []
    for v, at in zip(values, t, strict=True):
        if v is None:
            continue
        x = PAD + (WIDTH - 2 * PAD) * (at - t0) / span
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v / top if top else 0)
        out.append(f"{x:.1f},{y:.1f}")
    return " ".join(out)


def line_chart(label: str, t: Sequence[int], lines: Sequence[tuple[str, Sequence[float | None]]],
               now_ms: int, span_ms: int = 3_600_000) -> Markup:
    """One chart of the last hour: each line is (css class, values at the times `t`)."""
    t0 = now_ms - span_ms
    top = max([v for _, vs in lines for v in vs if v is not None] + [1.0]) * 1.1
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(label)}, last hour, peak {top / 1.1:.0f}">',
             f'<rect class="chart-bg" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"/>']
    for css, values in lines:
        pts = _points(values, t, t0, span_ms, top)
        if pts:
            parts.append(f'<polyline class="{escape(css)}" points="{pts}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped labels only


def per_minute(samples: Sequence[dict[str, Any]]) -> list[float | None]:
    """Admissions a minute between consecutive samples, from the admitted counter."""
    out: list[float | None] = [None]
    for prev, cur in itertools.pairwise(samples):
        dt = cur["t"] - prev["t"]
        done = cur.get("admitted_total", 0) - prev.get("admitted_total", 0)
        out.append(done * 60_000 / dt if dt > 0 and done >= 0 else None)
    return out[: len(samples)]


def room_charts(samples: Sequence[dict[str, Any]], now_ms: int) -> dict[str, Markup]:
    t = [int(s["t"]) for s in samples]
    return {
        "waiting": line_chart("Waiting", t, [("l-wait", [s.get("waiting") for s in samples])],
                              now_ms),
        "active": line_chart("Active sessions", t,
                             [("l-active", [s.get("active") for s in samples])], now_ms),
        "rate": line_chart("Admitted per minute, actual and target", t, [
            ("l-target", [s.get("rate") for s in samples]),
            ("l-actual", per_minute(samples))], now_ms),
        "p95": line_chart("Backend p95 latency (ms)", t,
                          [("l-p95", [s.get("p95_ms") for s in samples])], now_ms),
    }
