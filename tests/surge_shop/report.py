"""The figures of a surge: outcomes, the shop's own count, the admission pace and how
long the parents still in line waited to hear "sold out"."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.surge_shop.parents import Surge
from tests.surge_shop.shop.site import read_requests


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Report:
    end_on: bool
    parents: int
    arrived: int
    placed: int               # got a place in line (or straight in)
    admitted: int             # reached the shop
    ordered: int              # parents with an order
    confirmed: int            # ... who read the thank-you page
    sold_out_status: int      # told by the gateway's status
    sold_out_shop: int        # told by the shop's page
    closed: int
    failed: int               # gave up in the shop (403, errors)
    left_waiting: int         # no outcome when the run ended
    shop_places: int
    shop_orders: int
    shop_requests: int
    shop_403: int
    shop_5xx: int
    parents_403: int
    parents_5xx: int
    sent_back: int
    places_lost: int
    admitted_total: int | None        # the admin API's count at the end
    admitting_seconds: float | None   # first admission until the last place went
    admissions_in_period: int         # parents let in within it
    per_minute_parents: float | None
    per_minute_admin: float | None
    passed_straight: int              # let in on arrival (an idle room), not from the line
    per_minute_from_line: float | None  # the pace of those the worker let in from the line
    peak_active: int | None
    admitted_after_sellout: int       # let in after the last place went
    waiting_at_sellout: int           # in line, without an order, when the last place went
    told_sold_out: int                # ... of whom were told
    sold_out_delay_p50: float | None
    sold_out_delay_p95: float | None
    sold_out_delay_max: float | None
    gateway_saw_sellout_after: float | None  # the admin API first showed it, after the sale
    waiting_list_offered: int
    seconds: float
    stalled: bool
    requests: int
    final_states: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        def s(x: float | None, unit: str = " s") -> str:
            return "n/a" if x is None else f"{x:.1f}{unit}"

        mode = ("sessions end at the confirmation (end_on)" if self.end_on
                else "sessions end by idle or session timeout only")
        lines = [
            f"Surge: {self.parents} parents, {self.shop_places} places; {mode}",
            f"  run {self.seconds:.1f} s, {self.requests} requests"
            + (", ENDED BY STALL (no progress)" if self.stalled else ""),
            f"  outcomes: ordered {self.ordered} (confirmation read {self.confirmed}), "
            f"sold out {self.sold_out_status + self.sold_out_shop} (status "
            f"{self.sold_out_status}, shop page {self.sold_out_shop}), closed {self.closed}, "
            f"failed {self.failed}, left waiting {self.left_waiting}",
            f"  shop: {self.shop_orders} orders for {self.shop_places} places; "
            f"{self.shop_requests} requests, 403: {self.shop_403}, 5xx: {self.shop_5xx}",
            f"  parents saw 403: {self.parents_403}, 5xx: {self.parents_5xx}; sent back to "
            f"the line mid-order: {self.sent_back}; places lost: {self.places_lost}",
            f"  admission pace until the last place went ({s(self.admitting_seconds)}, "
            f"{self.admissions_in_period} parents in): "
            f"{s(self.per_minute_parents, '/min')} by the parents' own times, "
            f"{s(self.per_minute_admin, '/min')} by the admin API "
            f"(admitted_total {self.admitted_total}, peak active {self.peak_active}); "
            f"{self.passed_straight} passed straight in on arrival, from the line "
            f"{s(self.per_minute_from_line, '/min')}",
            f"  admitted after the last place went: {self.admitted_after_sellout}",
            f"  in line when the last place went: {self.waiting_at_sellout}; told sold out: "
            f"{self.told_sold_out}; delay p50 {s(self.sold_out_delay_p50)}, "
            f"p95 {s(self.sold_out_delay_p95)}, max {s(self.sold_out_delay_max)}",
            f"  admin API showed the sellout {s(self.gateway_saw_sellout_after)} after it; "
            f"waiting list offered to {self.waiting_list_offered}",
        ]
        if self.final_states:
            lines.append(f"  states of those left waiting: {self.final_states}")
        return "\n".join(lines)


def _pace(times: list[float]) -> float | None:
    """Admissions per minute from their sorted times: the spacing, first to last."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0]) * 60


def build(surge: Surge, shop_url: str, shop_dir: Path) -> Report:
    shop = httpx.get(shop_url + "/_shop/report", timeout=30, trust_env=False).json()
    answered = [r for r in read_requests(shop_dir) if not r["path"].startswith("/_shop/")]
    statuses = Counter(r["status"] for r in answered)
    parents = surge.parents
    sellout = shop["sold_out_at"]

    admitted_times = sorted(p.admitted_at for p in parents if p.admitted_at is not None)
    end = sellout if sellout is not None else (shop["last_order_at"] or surge.ended_at)
    in_period = [t for t in admitted_times if t <= end]
    per_minute_parents = None
    admitting_seconds = None
    if in_period:
        admitting_seconds = end - in_period[0]
    per_minute_parents = _pace(in_period)
    from_line = _pace(sorted(p.admitted_at for p in parents if p.admitted_at is not None
                             and p.queued_at is not None and p.admitted_at <= end))

    samples = [(x.t, x.room) for x in surge.samples]
    per_minute_admin = None
    if samples and in_period:
        before = [x for x in samples if x[0] <= in_period[0]] or samples[:1]
        after = [x for x in samples if x[0] >= end] or samples[-1:]
        (t0, r0), (t1, r1) = before[-1], after[0]
        if t1 > t0:
            per_minute_admin = (r1.get("admitted_total", 0) - r0.get("admitted_total", 0)) / (
                t1 - t0) * 60
    actives = [int(r["active"]) for _, r in samples if isinstance(r.get("active"), int)]
    saw_sellout = None
    if sellout is not None:
        for t, r in samples:
            if t >= sellout and (r.get("places_left") == 0 or r.get("state") == "sold_out"
                                 or r.get("sold_out") is True):
                saw_sellout = t - sellout
                break

    delays: list[float] = []
    waiting = []
    if sellout is not None:
        waiting = [p for p in parents if p.ordered_at is None
                   and (p.admitted_at is None or p.admitted_at > sellout)]
        for p in waiting:
            if p.sold_out_at is not None:
                start = max(sellout, p.arrived_at or sellout)
                delays.append(max(0.0, p.sold_out_at - start))

    def count(outcome: str) -> int:
        return sum(p.outcome == outcome for p in parents)

    return Report(
        end_on=surge.plan.end_on,
        parents=len(parents),
        arrived=sum(p.arrived_at is not None for p in parents),
        placed=sum(p.queued_at is not None or p.admitted_at is not None for p in parents),
        admitted=len(admitted_times),
        ordered=count("ordered"),
        confirmed=sum(p.confirmed for p in parents),
        sold_out_status=sum(p.sold_out_by == "status" for p in parents),
        sold_out_shop=sum(p.sold_out_by == "shop" for p in parents),
        closed=count("closed"),
        failed=count("failed"),
        left_waiting=count("waiting"),
        shop_places=shop["places"],
        shop_orders=shop["orders"],
        shop_requests=len(answered),
        shop_403=statuses[403],
        shop_5xx=sum(n for code, n in statuses.items() if code >= 500),
        parents_403=sum(p.forbidden for p in parents),
        parents_5xx=sum(p.server_errors for p in parents),
        sent_back=sum(p.sent_back for p in parents),
        places_lost=sum(p.places_lost for p in parents),
        admitted_total=samples[-1][1].get("admitted_total") if samples else None,
        admitting_seconds=admitting_seconds,
        admissions_in_period=len(in_period),
        per_minute_parents=per_minute_parents,
        per_minute_admin=per_minute_admin,
        passed_straight=sum(p.admitted_at is not None and p.queued_at is None for p in parents),
        per_minute_from_line=from_line,
        peak_active=max(actives) if actives else None,
        admitted_after_sellout=sum(1 for t in admitted_times if sellout is not None
                                   and t > sellout),
        waiting_at_sellout=len(waiting),
        told_sold_out=len(delays),
        sold_out_delay_p50=percentile(delays, 0.5),
        sold_out_delay_p95=percentile(delays, 0.95),
        sold_out_delay_max=max(delays) if delays else None,
        gateway_saw_sellout_after=saw_sellout,
        waiting_list_offered=sum(bool(p.waiting_list) for p in parents),
        seconds=surge.ended_at - surge.started_at,
        stalled=surge.stalled,
        requests=surge.requests,
        final_states=dict(Counter(str(v.get("state")) for v in surge.final_status.values())),
    )
