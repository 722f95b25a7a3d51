"""The lean generator (loadtests/lean.py) through real processes: Redis, the worker,
the gateway serving the booking engine, and the generator's own process, all on
127.0.0.1. A small opening must end in a complete report with every guarantee
measured and held, the same as Locust's path gives; and its pieces that need no
server (the kinds in proportion, the arrival times, the Locust-format CSV files the
report reads) are checked on their own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests import lean, report
from loadtests.opening import Opening

ROOT = Path(__file__).resolve().parents[2]


def test_kinds_keep_the_locustfiles_proportions_in_every_prefix() -> None:
    kinds = list(lean.kinds(1000))
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "parent": 800, "abandoner": 50, "refresher": 60, "tabhoarder": 40, "bot": 50}
    first = kinds[:20]
    assert first.count("parent") == 16 and "bot" in first
    assert set(lean.kinds(50, "parents")) == {"parent"}


def test_arrivals_follow_the_opening_curve() -> None:
    opening = Opening(visitors=1000, prequeue_seconds=30, prequeue_share=0.1,
                      spike_seconds=60, spike_share=0.9, tail_seconds=20, drain_seconds=30)
    times = lean.arrivals(opening)
    assert len(times) == 1000 and times == sorted(times)
    for t in (10.0, 30.0, 45.0, 90.0):
        # The locustfile's shape has started arrived_by(t) users by t.
        assert sum(1 for a in times if a <= t) == opening.arrived_by(t)


def test_its_figures_read_as_locusts(tmp_path: Path) -> None:
    stats = lean.Stats()
    stats.users = 3
    for ms in (1.0, 2.0, 3.0, 250.0):
        stats.record("status", "GET", ms, 100)
    stats.record("status", "GET", 5.0, 0, ("HTTP 5xx", "status answered 503"))
    stats.record("join", "GET", 7.0, 0, ("timeout", "no answer within 30 s"))
    stats.tick(1000.0)
    snap = json.loads(json.dumps({"done": True, **stats.as_json()}))
    figures = lean.merged([snap, snap])
    assert figures["errors"] == {"HTTP 5xx": 2, "timeout": 2}
    lean.write_locust_csv(figures, tmp_path / "lean", 10.0)
    rows = {r["name"]: r for r in report.read_locust_stats(tmp_path / "lean")}
    assert rows["status"]["requests"] == 10 and rows["status"]["failures"] == 2
    assert rows["status"]["p50_ms"] == 3.0 and rows["status"]["p99_ms"] == 250.0
    assert rows["Aggregated"]["requests"] == 12
    history = report.read_locust_history(tmp_path / "lean")
    assert max(h["users"] for h in history) == 6
    assert {h["name"] for h in history} == {"status", "Aggregated"}
    failures = report.read_locust_failures(tmp_path / "lean")
    assert {(f["name"], f["error"], f["count"]) for f in failures} == {
        ("status", "status answered 503", 2), ("join", "no answer within 30 s", 2)}


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_a_small_opening_with_the_lean_generator_is_complete_and_holds(
        tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "loadtests.run", "--generator", "lean", "--out", str(tmp_path),
         "--engine", "inprocess", "--processes", "1", "--lead-seconds", "3",
         "--visitors", "150", "--prequeue-seconds", "6", "--prequeue-share", "0.2",
         "--spike-seconds", "6", "--spike-share", "0.6", "--tail-seconds", "6",
         "--drain-seconds", "10", "--rate", "1200", "--max-active", "60",
         "--session-seconds", "30", "--grace-seconds", "60", "--rate-change", "12:1500",
         "--progress-seconds", "2",
         # Latency is the benchmark's question; here any answer will do.
         "--status-p99-ms", "30000"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    console = run.stdout + run.stderr
    report_json = json.loads((tmp_path / "report.json").read_text())
    status = report_json["run_status"]
    assert run.returncode == 0, console[-3000:]
    assert status["complete"], status["problems"]
    assert status["started_users"] == status["recorded_users"] == 151  # and the operator
    assert set(report_json["verdict"].values()) == {"yes"}, report_json["guarantees"]
    assert report_json["places"]["parents_201"] > 20
    assert report_json["visitors"]["by_kind"]["parent"] == 120
    assert report_json["run"]["generator"] == "lean"
    assert report_json["run"]["lean"]["errors_by_kind"] == {}
    assert report_json["run"]["cpu_seconds"]["lean"] > 0
    names = {e["name"] for e in report_json["endpoints"]}
    assert {"arrive", "join", "status", "api/registrations", "bot forged token"} <= names
    # Progress on the console while it ran, as the Locust path shows.
    assert "users " in console and "/28 s" in console
