"""The gateway's own answer times: tallied per route class, read from two scrapes of
/_sluis/metrics, and turned into the report's server-side percentiles."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from gateway import metrics
from loadtests import measures, report
from tests.conftest import make_settings
from tests.helpers import gateway_client

SCRAPE = """\
# TYPE sluis_request_seconds histogram
sluis_request_seconds_bucket{le="0.01",route="status"} %d
sluis_request_seconds_bucket{le="0.1",route="status"} %d
sluis_request_seconds_bucket{le="0.25",route="status"} %d
sluis_request_seconds_bucket{le="+Inf",route="status"} %d
sluis_request_seconds_bucket{route="queue_page",le="0.01"} 5.0
sluis_request_seconds_bucket{route="queue_page",le="0.1"} 5.0
sluis_request_seconds_bucket{route="queue_page",le="0.25"} 5.0
sluis_request_seconds_bucket{route="queue_page",le="+Inf"} 5.0
sluis_request_seconds_count{route="status"} 1.0
"""


def test_percentiles_come_from_the_observations_between_two_scrapes() -> None:
    before = SCRAPE % (100, 100, 100, 100)
    # 1,000 status answers since: 900 under 10 ms, 95 more under 100 ms, 5 under 250 ms.
    after = SCRAPE % (1000, 1095, 1100, 1100)
    got = report.server_latency(before, after)
    assert set(got) == {"status"}  # the queue page answered nothing in between
    status = got["status"]
    assert status["requests"] == 1000
    assert status["p50_ms"] == round(10 * 500 / 900, 1)
    assert status["p99_ms"] == round(10 + 90 * (990 - 900) / 95, 1)
    assert status["p99_le_ms"] == 100.0


def test_a_quantile_past_the_last_bound_is_unbounded() -> None:
    buckets = {0.1: 10.0, math.inf: 100.0}
    assert measures.histogram_quantile(buckets, 0.99) == (0.1, math.inf)
    assert measures.histogram_quantile({math.inf: 0.0}, 0.5) is None


def test_the_server_side_guarantee_is_judged_on_the_bucket_bound() -> None:
    base = {"run_status": {"records_complete": True}, "run": {"status_p99_bar_ms": 250.0},
            "backend": {"cap_exceeded": False, "peak_active_sessions": 0, "max_active": 1,
                        "samples_with_live_sessions": 0},
            "fairness": {"after_opening": {"n": 0}, "strict_inversions": 0,
                         "prequeue": {"draw_verified": None}},
            "errors": {"security_breaches": []}, "endpoints": []}
    held = {"requests": 50, "p50_ms": 3.0, "p95_ms": 9.0, "p99_ms": 180.0,
            "p99_le_ms": 200.0}
    over = {**held, "p99_ms": 240.0, "p99_le_ms": 500.0}
    assert report.verdict({**base, "server_latency": {"status": held}})[
        "status_p99_server"] == "yes"
    # 240 ms interpolated, but only "at most 500 ms" is certain: not under the bar.
    assert report.verdict({**base, "server_latency": {"status": over}})[
        "status_p99_server"] == "no"
    assert report.verdict(base)["status_p99_server"] == "not measured"


def test_request_times_are_tallied_per_route_and_reach_the_histogram() -> None:
    def count(route: str, bound: str) -> float:
        text = metrics.exposition().decode()
        found = measures.histogram_buckets(text, "sluis_request_seconds", "route")
        return found.get(route, {}).get(float(bound), 0.0)

    before_fast, before_all = count("status", "0.001"), count("status", "inf")
    metrics.request_answered("status", 0.0004)
    metrics.request_answered("status", 0.3)
    metrics.request_answered("forwarded", 0.02)
    mark = metrics.request_started()  # a request comes in: not forwarded
    assert metrics.gate_route() == "queue_page"
    metrics.backend_started("kamp")
    assert metrics.gate_route() == "forwarded"
    metrics.backend_finished("kamp", 0.01)
    metrics.request_ended(mark)
    assert count("status", "0.001") == before_fast + 1  # the scrape flushes the tallies
    assert count("status", "inf") == before_all + 2
    assert count("forwarded", "0.025") >= 1


async def test_the_gateway_times_each_answer_under_its_route_class(
        redis_url: str, tmp_path: Path) -> None:
    settings = dataclasses.replace(make_settings(redis_url, tmp_path),
                                   metrics_networks=("0.0.0.0/0",))
    async with gateway_client(settings) as (_, client):
        before = measures.histogram_buckets((await client.get("/_sluis/metrics")).text,
                                            "sluis_request_seconds", "route")
        for _ in range(3):
            await client.get("/_sluis/status")
        await client.get("/camps", headers={"accept": "text/html"})
        after = measures.histogram_buckets((await client.get("/_sluis/metrics")).text,
                                           "sluis_request_seconds", "route")
    seen = measures.histogram_between(before, after)
    assert seen["status"][math.inf] == 3
    assert seen["queue_page"][math.inf] == 1
    assert seen["sluis"][math.inf] >= 1  # the first scrape itself
    assert seen.get("forwarded", {}).get(math.inf, 0) == 0
