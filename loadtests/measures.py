"""The report's calculations (pure): fairness, the draw, ETA accuracy, admissions per
minute, and the two counts that must be zero, oversold and lost places."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queue_worker import rehearse

# -- Kendall's tau -------------------------------------------------------------------


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b in O(n log n) (Knight's algorithm), ties handled as scipy does."""
    n = len(x)
    if n != len(y):
        raise ValueError("x and y differ in length")
    if n < 2:
        return None
    pairs = sorted(zip(x, y, strict=True))
    total = n * (n - 1) // 2

    def tied(values: Iterable[Any]) -> int:
        count = run = 0
        previous = object()
        for v in values:
            if v == previous:
                run += 1
            else:
                count += run * (run + 1) // 2
                run = 0
            previous = v
        return count + run * (run + 1) // 2

    tx = tied(p[0] for p in pairs)
    txy = tied(pairs)
    ys = [p[1] for p in pairs]
    swaps = _merge_count(ys)
    ty = tied(ys)  # ys is sorted now
    denominator = math.sqrt((total - tx) * (total - ty))
    if denominator == 0:
        return None
    return (total - tx - ty + txy - 2 * swaps) / denominator


def _merge_count(values: list[Any]) -> int:
    """Sorts `values` in place and returns the number of inversions (strictly greater
    before smaller), by a bottom-up merge sort."""
    n = len(values)
    swaps = 0
    width = 1
    src = values[:]
    while width < n:
        dst = src[:]
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if src[j] < src[i]:
                    dst[k] = src[j]
                    swaps += mid - i
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            dst[k:hi] = src[i:mid] + src[j:hi]
        src = dst
        width *= 2
    values[:] = src
    return swaps


def strict_inversions(arrivals: Sequence[tuple[float, float, float, float]]) -> int:
    """Pairs admitted out of order beyond doubt, given what clients can observe.

    Each row is (join sent, join answered, last seen waiting, first seen admitted).
    A pair (a, b) counts when a's join was answered before b's was sent, yet b was
    seen admitted before a was last seen waiting. Polling blurs the admission moment
    but cannot create such a pair: with first-come-first-served it must be 0.
    """
    # For each b: count a with join_done[a] < join_sent[b] and last_wait[a] > admitted[b].
    rows = sorted(arrivals, key=lambda r: r[1])
    by_sent = sorted(range(len(arrivals)), key=lambda i: arrivals[i][0])
    waits = sorted({r[2] for r in rows})
    tree = [0] * (len(waits) + 1)

    def add(value: float) -> None:
        i = _bisect_right(waits, value)
        while i <= len(waits):
            tree[i] += 1
            i += i & -i

    def count_le(value: float) -> int:
        i = _bisect_right(waits, value)
        total = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total

    found = 0
    inserted = 0
    k = 0
    for b in by_sent:
        sent_b = arrivals[b][0]
        while k < len(rows) and rows[k][1] < sent_b:
            add(rows[k][2])
            inserted += 1
            k += 1
        found += inserted - count_le(arrivals[b][3])
    return found


def _bisect_right(values: Sequence[float], x: float) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


# -- chi-square ----------------------------------------------------------------------


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X chi-square with `dof` degrees of freedom."""
    if x <= 0:
        return 1.0
    return _gamma_q(dof / 2, x / 2)


def _gamma_q(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x)."""
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(1000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    # Continued fraction (modified Lentz).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


@dataclass(frozen=True, slots=True)
class ChiSquare:
    statistic: float
    dof: int
    p_value: float
    bins: int
    n: int


def order_independence(arrival_rank: Sequence[float], admitted_rank: Sequence[float],
                       bins: int = 4) -> ChiSquare | None:
    """Chi-square test of independence between arrival order and admission order, each
    cut into `bins` equal groups. For the pre-queue a fair draw means independence:
    a small p-value says arriving early (or late) bought a better place."""
    n = len(arrival_rank)
    if n != len(admitted_rank):
        raise ValueError("ranks differ in length")
    bins = min(bins, n // 5) if n >= 10 else 0
    if bins < 2:
        return None
    a = _groups(arrival_rank, bins)
    b = _groups(admitted_rank, bins)
    table = [[0] * bins for _ in range(bins)]
    for i, j in zip(a, b, strict=True):
        table[i][j] += 1
    stat, dof = chi_square_table(table)
    return ChiSquare(stat, dof, chi2_sf(stat, dof), bins, n)


def chi_square_table(table: Sequence[Sequence[int]]) -> tuple[float, int]:
    rows = [sum(r) for r in table]
    cols = [sum(c) for c in zip(*table, strict=True)]
    n = sum(rows)
    stat = 0.0
    for i, r in enumerate(table):
        for j, observed in enumerate(r):
            expected = rows[i] * cols[j] / n
            if expected:
                stat += (observed - expected) ** 2 / expected
    return stat, (len(rows) - 1) * (len(cols) - 1)


def _groups(values: Sequence[float], bins: int) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0] * len(values)
    for rank, i in enumerate(order):
        out[i] = rank * bins // len(values)
    return out


# -- ETA ------------------------------------------------------------------------------


def eta_accuracy(rows: Iterable[tuple[float, float, float | None, float | None]]
                 ) -> dict[str, Any]:
    """Rows of (actual wait, ETA shown, ETA low, ETA high), in seconds."""
    rows = list(rows)
    if not rows:
        return {"n": 0}
    errors = [eta - actual for actual, eta, _, _ in rows]
    absolute = [abs(e) for e in errors]
    ratios = [eta / actual for actual, eta, _, _ in rows if actual >= 1]
    inside = [lo is not None and hi is not None and lo - 2 <= actual <= hi + 2
              for actual, _, lo, hi in rows]
    return {
        "n": len(rows),
        "median_error_seconds": percentile(errors, 50),
        "median_abs_error_seconds": percentile(absolute, 50),
        "p90_abs_error_seconds": percentile(absolute, 90),
        "median_eta_over_actual": percentile(ratios, 50),
        "within_range_share": round(sum(inside) / len(rows), 3),
    }


def percentile(values: Sequence[float], p: float) -> float | None:
    return rehearse.percentile(values, p, digits=3)


# -- admissions per minute -------------------------------------------------------------


def admitted_per_minute(samples: Sequence[Mapping[str, float]], start: float
                        ) -> list[dict[str, float]]:
    """From timed samples of the room ({t, admitted_total, rate_per_minute}), admissions
    in each whole minute since `start` against the target rate in force then."""
    out: list[dict[str, float]] = []
    if not samples:
        return out
    ordered = sorted(samples, key=lambda s: s["t"])

    def total_at(t: float) -> float:
        # The last sample at or before t (admissions only grow).
        value = ordered[0]["admitted_total"]
        for s in ordered:
            if s["t"] > t:
                break
            value = s["admitted_total"]
        return value

    minute = 0
    while start + (minute + 1) * 60 <= ordered[-1]["t"] + 1e-9:
        t0, t1 = start + minute * 60, start + (minute + 1) * 60
        rates = [s["rate_per_minute"] for s in ordered if t0 <= s["t"] < t1]
        out.append({"minute": minute, "admitted": total_at(t1) - total_at(t0),
                    "target": max(rates) if rates else 0.0})
        minute += 1
    return out


# -- oversold and lost places ----------------------------------------------------------

OCCUPYING = ("held", "confirmed", "offered")


def oversold(export_rows: Iterable[Mapping[str, str]], capacity: Mapping[str, int],
             booked: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Sessions whose held + confirmed + offered registrations (from the engine's CSV
    export) exceed their capacity (from its API), and sessions whose `booked` does."""
    occupied: dict[str, int] = {}
    for row in export_rows:
        if row.get("status") in OCCUPYING:
            key = row["session_key"]
            occupied[key] = occupied.get(key, 0) + 1
    over = {k: n - capacity.get(k, 0) for k, n in occupied.items() if n > capacity.get(k, 0)}
    over_booked = {k: b - capacity[k] for k, b in (booked or {}).items()
                   if k in capacity and b > capacity[k]}
    return {"places": sum(over.values()) + sum(over_booked.values()),
            "sessions": sorted(set(over) | set(over_booked)),
            "occupied_total": sum(occupied.values())}


def lost(confirmed_ids: Iterable[str], export_rows: Iterable[Mapping[str, str]]
         ) -> dict[str, Any]:
    """Registrations a parent got a 201 for that the engine's export does not hold as a
    live place."""
    live = {r["registration_id"]: r.get("status", "") for r in export_rows}
    missing = [i for i in confirmed_ids if i not in live]
    dropped = [i for i in confirmed_ids if i in live and live[i] not in OCCUPYING]
    return {"places": len(missing) + len(dropped), "missing": missing[:20],
            "not_occupying": dropped[:20]}


def histogram_buckets(text: str, name: str, label: str) -> dict[str, dict[float, float]]:
    """From a Prometheus text scrape: the cumulative bucket counts of histogram `name`
    by the value of `label` (upper bound → count; +Inf as math.inf)."""
    prefix = name + "_bucket{"
    out: dict[str, dict[float, float]] = {}
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels_part, _, value = line[len(prefix):].rpartition("} ")
        labels = dict(_label(item) for item in labels_part.split(",") if "=" in item)
        if label not in labels or "le" not in labels:
            continue
        bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        series = out.setdefault(labels[label], {})
        series[bound] = series.get(bound, 0.0) + float(value)
    return out


def _label(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    return key.strip(), value.strip().strip('"')


def histogram_between(before: Mapping[str, Mapping[float, float]],
                      after: Mapping[str, Mapping[float, float]]
                      ) -> dict[str, dict[float, float]]:
    """The observations made between two scrapes of the same cumulative histogram."""
    return {key: {b: n - before.get(key, {}).get(b, 0.0) for b, n in series.items()}
            for key, series in after.items()}


def histogram_quantile(buckets: Mapping[float, float], q: float) -> tuple[float, float] | None:
    """The q-quantile (0..1) of cumulative buckets: interpolated within its bucket as
    Prometheus's histogram_quantile does, and the bucket's upper bound (the value it is
    certainly at or under). None without observations; inf when past the last bound."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower, math.inf
            inside = count - below
            share = (rank - below) / inside if inside else 1.0
            return lower + (bound - lower) * share, bound
        lower, below = bound, count
    return None
