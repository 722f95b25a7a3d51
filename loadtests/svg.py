"""Small inline SVG charts for the report: no plotting library, no external assets."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

W, H = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 28, 40
COLOURS = ("#0b5f7a", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#566573")


def _nice(high: float) -> float:
    if high <= 0:
        return 1.0
    step = 10 ** len(str(int(high))) / 10
    for factor in (1, 2, 2.5, 5, 10):
        if high <= step * factor:
            return step * factor
    return high


def _frame(title: str, xlabel: str, ylabel: str, x_max: float, y_max: float) -> list[str]:
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
           f'height="{H}" role="img" aria-label="{escape(title)}" font-family="sans-serif" '
           'font-size="11">',
           f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for i in range(5):
        y = TOP + ph - ph * i / 4
        out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{_fmt(y_max * i / 4)}</text>')
        x = LEFT + pw * i / 4
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 14}" text-anchor="middle">'
                   f'{_fmt(x_max * i / 4)}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 6}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
    out.append(f'<text x="12" y="{TOP + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 12 {TOP + ph / 2})">{escape(ylabel)}</text>')
    return out


def _fmt(v: float) -> str:
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.1f}"


def lines(title: str, series: dict[str, Sequence[tuple[float, float]]], xlabel: str,
          ylabel: str, steps: bool = False) -> str:
    points = [p for s in series.values() for p in s]
    if not points:
        return f"<p>{escape(title)}: no data.</p>"
    x_max = _nice(max(p[0] for p in points))
    y_max = _nice(max(p[1] for p in points))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = _frame(title, xlabel, ylabel, x_max, y_max)
    for n, (name, pts) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        coords = []
        for i, (x, y) in enumerate(sorted(pts)):
            px = LEFT + pw * x / x_max
            py = TOP + ph - ph * y / y_max
            if steps and i:
                coords.append(f"{px:.1f},{coords[-1].split(',')[1]}")
            coords.append(f"{px:.1f},{py:.1f}")
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" '
                   f'points="{" ".join(coords)}"/>')
        ly = TOP + 12 + 16 * n
        out.append(f'<line x1="{W - RIGHT + 10}" x2="{W - RIGHT + 28}" y1="{ly - 4}" '
                   f'y2="{ly - 4}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{W - RIGHT + 32}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bars(title: str, edges: Sequence[float], counts: Sequence[int], xlabel: str,
         ylabel: str = "parents") -> str:
    if not counts or not any(counts):
        return f"<p>{escape(title)}: no data.</p>"
    x_max = _nice(edges[-1])
    y_max = _nice(max(counts))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    out = _frame(title, xlabel, ylabel, x_max, y_max)
    for i, c in enumerate(counts):
        x0 = LEFT + pw * edges[i] / x_max
        x1 = LEFT + pw * edges[i + 1] / x_max
        h = ph * c / y_max
        out.append(f'<rect x="{x0:.1f}" y="{TOP + ph - h:.1f}" width="{max(0.5, x1 - x0 - 1):.1f}"'
                   f' height="{h:.1f}" fill="{COLOURS[0]}"><title>{_fmt(edges[i])}–'
                   f'{_fmt(edges[i + 1])}: {c}</title></rect>')
    out.append("</svg>")
    return "\n".join(out)


def histogram(values: Sequence[float], bins: int = 30) -> tuple[list[float], list[int]]:
    if not values:
        return [0.0, 1.0], [0]
    high = max(values) or 1.0
    edges = [high * i / bins for i in range(bins + 1)]
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v / high * bins))] += 1
    return edges, counts
