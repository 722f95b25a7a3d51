"""A real Django shop behind the proxy: every place is sold once, the shop's CSRF check
never refuses a parent, the admission rate (not the session length) sets the pace,
and the parents still in line hear "sold out" within seconds of the last place."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.surge_shop.parents import run_crowd
from tests.surge_shop.report import Report, build
from tests.surge_shop.shop.site import read_requests
from tests.surge_shop.stack import Plan, shop, surge_stack

pytestmark = pytest.mark.slow

PLAN = Plan()  # 300 parents for 40 places, 120 a minute, at most 10 in at once


def surge(redis_url: str, folder: Path, plan: Plan) -> Report:
    with surge_stack(redis_url, folder, plan) as stack:
        result = asyncio.run(run_crowd(stack.gateway_url, plan))
        return build(result, stack.shop_url, stack.shop_dir)


@pytest.mark.timeout(900)  # the run itself ends on its own once nothing moves
def test_a_surge_sells_every_place_once_and_tells_the_rest_it_is_sold_out(
        redis_url: str, tmp_path: Path) -> None:
    r = surge(redis_url, tmp_path, PLAN)
    why = r.text()
    # Evidence first: every parent came and took a place (a run that measured nobody fails).
    assert r.parents == PLAN.parents and r.arrived == PLAN.parents, why
    assert r.placed == PLAN.parents, why
    # Every place sold, once; every parent with an order or told it is sold out.
    assert r.shop_orders == PLAN.places, why
    assert r.ordered == PLAN.places and r.confirmed == PLAN.places, why
    assert r.left_waiting == 0 and r.failed == 0 and r.closed == 0, why
    assert r.ordered + r.sold_out_status + r.sold_out_shop == PLAN.parents, why
    assert not r.stalled, why
    # The shop never refused a parent's form (Origin/Referer of the gateway) nor failed.
    assert r.shop_403 == 0 and r.parents_403 == 0, why
    assert r.shop_5xx == 0 and r.parents_5xx == 0, why
    # The rate sets the pace. Sessions held to their end would give max_active per
    # session: 5 a minute here. At most max_active pass at once into an idle room.
    rate = PLAN.rate_per_minute
    assert r.per_minute_from_line is not None and r.admitting_seconds is not None, why
    assert rate / 2 <= r.per_minute_from_line <= rate * 1.5, why
    assert r.per_minute_admin is not None and r.per_minute_admin >= rate / 2, why
    allowed = PLAN.max_active + rate / 60 * r.admitting_seconds + 4
    assert r.admissions_in_period <= allowed, why
    assert r.peak_active is not None and r.peak_active <= PLAN.max_active, why
    # Most of the line was still waiting when the last place went; each heard it soon.
    assert r.waiting_at_sellout >= PLAN.parents - 2 * PLAN.places, why
    assert r.told_sold_out == r.waiting_at_sellout, why
    assert r.sold_out_delay_p95 is not None and r.sold_out_delay_p95 <= 10.0, why
    assert r.sold_out_status > 0 and r.waiting_list_offered == r.sold_out_status, why


CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


async def _buyers(url: str, count: int) -> list[int]:
    """`count` buyers who each open the form, then all send it at the same moment."""
    clients = [httpx.AsyncClient(base_url=url, timeout=60, trust_env=False)
               for _ in range(count)]
    try:
        forms = await asyncio.gather(*(c.get("/buy") for c in clients))
        tokens = [CSRF_FIELD.search(f.text) for f in forms]
        assert all(tokens), [f.status_code for f in forms]
        answers = await asyncio.gather(*(
            c.post("/buy", headers={"origin": url, "referer": url + "/buy"},
                   data={"csrfmiddlewaretoken": t.group(1), "name": f"Buyer {i}",
                         "email": f"buyer{i}@example.org"})
            for i, (c, t) in enumerate(zip(clients, tokens, strict=True)) if t))
        return [a.status_code for a in answers]
    finally:
        for c in clients:
            await c.aclose()


def test_the_shop_never_sells_more_places_than_it_has(tmp_path: Path) -> None:
    places, buyers = 10, 60
    with shop(tmp_path, places, workers=2) as (url, data):
        codes = asyncio.run(_buyers(url, buyers))
        account = httpx.get(url + "/_shop/report", trust_env=False).json()
    assert len(codes) == buyers
    assert codes.count(302) == places, codes      # redirected to their confirmation
    assert codes.count(200) == buyers - places, codes  # the sold-out page
    assert account["orders"] == account["sold"] == places, account
    assert account["sold_out_at"] is not None, account
    answered = read_requests(data)
    assert sum(r["method"] == "POST" for r in answered) == buyers, len(answered)
    assert not [r for r in answered if r["status"] >= 500], answered
