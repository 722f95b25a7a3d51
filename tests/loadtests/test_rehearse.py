"""The simulator on cases whose answer is known, and `sluis rehearse` as a command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from gateway.cli import main
from harness.processes import ROOT
from loadtests.opening import Opening
from queue_worker import rehearse
from tests.browser.test_queue_page import SHOTS, chromium  # noqa: F401 - fixture


def scenario(curve: str, **kw: object) -> rehearse.Scenario:
    base: dict[str, object] = {"rate_per_minute": 60, "max_active": 10_000,
                               "session_seconds": 300, "visit_seconds": 30.0}
    base.update(kw)
    return rehearse.Scenario(arrivals=tuple(rehearse.arrival_times(rehearse.parse_curve(curve))),
                             **base)  # type: ignore[arg-type]


def test_arrivals_below_the_rate_never_form_a_line() -> None:
    out = rehearse.simulate(scenario("100@10m", rate_per_minute=60))  # 10 a minute
    assert out.admitted == 100
    assert max(m.queue_max for m in out.minutes) == 0
    assert max(out.waits) <= 0.5  # admitted at the next tick


def test_a_burst_drains_at_exactly_the_rate() -> None:
    out = rehearse.simulate(scenario("600@1s", rate_per_minute=120))
    per_minute = [m.admitted for m in out.minutes]
    # The first tick only starts the worker's clock: 119 in the first minute, then 120.
    assert per_minute[:5] == [119, 120, 120, 120, 120]
    assert out.admitted == 600
    assert out.drained_at == pytest.approx(300, abs=1)
    assert max(out.waits) == pytest.approx(299.5, abs=1)


def test_max_active_binds_when_sessions_outlast_the_rate() -> None:
    # 20 inside at most, each for 60 s of visit that ends the session: 20 a minute at
    # most, whatever the rate.
    out = rehearse.simulate(scenario("200@1s", rate_per_minute=600, max_active=20,
                                     visit_seconds=60.0))
    assert out.peak_active == 20
    assert max(m.active_max for m in out.minutes) == 20
    steady = [m.admitted for m in out.minutes[1:6]]
    assert all(15 <= n <= 25 for n in steady), steady
    assert out.admitted == 200


def test_without_an_early_end_a_slot_is_held_for_the_session_length() -> None:
    ends = rehearse.simulate(scenario("100@1s", rate_per_minute=600, max_active=10,
                                      visit_seconds=10.0))
    lapses = rehearse.simulate(scenario("100@1s", rate_per_minute=600, max_active=10,
                                        visit_seconds=10.0, ends_early=False,
                                        session_seconds=60))
    assert lapses.drained_at is not None and ends.drained_at is not None
    assert lapses.drained_at > 4 * ends.drained_at


def test_the_prequeue_is_served_at_opening_in_a_draw_ahead_of_later_arrivals() -> None:
    out = rehearse.simulate(scenario("100@5m,50@1m", rate_per_minute=600, opens_at=300.0))
    assert out.admitted == 150
    assert sum(m.admitted for m in out.minutes[:5]) == 0  # nobody before opening
    assert out.minutes[5].admitted == 150


def test_polling_follows_gateway_eta_intervals() -> None:
    # A long line polls far less than once per parent per 2 s: about N/60 plus 35 r.
    out = rehearse.simulate(scenario("3000@10s", rate_per_minute=60))
    busy = out.minutes[5]
    assert busy.queue_end > 2000
    assert busy.status_polls / 60 < 3000 / 8


def test_the_curve_parser_reads_counts_and_durations() -> None:
    assert rehearse.parse_curve("4000@2m, 300@90s,10@1h") == (
        rehearse.Segment(4000, 120.0), rehearse.Segment(300, 90.0), rehearse.Segment(10, 3600.0))
    with pytest.raises(ValueError):
        rehearse.parse_curve("many@soon")


def test_the_opening_shape_and_the_simulator_share_one_curve() -> None:
    o = Opening(visitors=1000, prequeue_seconds=60, spike_seconds=60, tail_seconds=120)
    assert o.counts == (100, 700, 200)
    assert o.arrived_by(60) == 100 and o.arrived_by(120) == 800 and o.arrived_by(240) == 1000
    assert len(rehearse.arrival_times(o.segments())) == 1000


def test_sluis_rehearse_prints_a_minute_table(capsys: pytest.CaptureFixture[str],
                                              tmp_path: object,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUIS_DATA_DIR", str(tmp_path))
    code = main(["rehearse", "--arrivals", "200@1m,400@1m", "--opens-after", "1m",
                 "--rate", "300", "--max-active", "100", "--visit", "30s"])
    out = capsys.readouterr().out
    assert code == 0
    assert "admitted 600" in out and "polls/s" in out


def test_silent_places_are_dropped_after_grace_or_else_hold_a_slot() -> None:
    # Ten bots' places 100 s before opening, grace 60 s: dropped at the draw.
    early = rehearse.simulate(scenario("10@10s", rate_per_minute=600, max_active=10,
                                       opens_at=200.0, grace_seconds=60,
                                       silent=tuple(float(t) for t in range(100, 110))))
    assert early.admitted == 10 and early.peak_active == 10
    assert max(early.waits) < 5  # the parents were not held up by the dropped places
    # The same places 5 s before opening are fresh: admitted, each holds a slot unused.
    fresh = rehearse.simulate(scenario("10@10s", rate_per_minute=600, max_active=10,
                                       opens_at=200.0, grace_seconds=60, session_seconds=120,
                                       silent=tuple(195.0 + t / 10 for t in range(10))))
    assert fresh.admitted == 10
    assert max(fresh.waits) > 60  # some parents waited for an unused session to lapse


def test_the_stated_pace_is_the_pace_the_simulation_keeps() -> None:
    # A shop that never ends sessions: 20 places held 60 s each admit 20 a minute,
    # whatever the rate of 120 says.
    sc = scenario("600@10s", rate_per_minute=120, max_active=20, session_seconds=60,
                  ends_early=False)
    p = rehearse.scenario_pace(sc)
    assert p.set_by == "max_active" and p.per_minute == 20
    out = rehearse.simulate(sc)
    steady = [m.admitted for m in out.minutes[2:20]]
    assert all(19 <= n <= 21 for n in steady), steady
    assert out.summary()["session_mean_seconds"] == 60


def test_an_idle_limit_frees_the_slots_of_parents_who_left() -> None:
    kw: dict[str, object] = {"rate_per_minute": 600, "max_active": 20, "session_seconds": 900,
                             "visit_seconds": 60.0, "ends_early": False}
    held = rehearse.simulate(scenario("200@1s", **kw))
    idle = rehearse.simulate(scenario("200@1s", idle_seconds=60, **kw))
    assert held.drained_at is not None and idle.drained_at is not None
    # Sessions of about 120 s (visit and idle limit) instead of 900 s.
    assert 115 <= idle.summary()["session_mean_seconds"] <= 130
    assert held.drained_at > 5 * idle.drained_at
    assert rehearse.scenario_pace(scenario("1@1s", idle_seconds=60, **kw)).session_seconds == 120


def test_sluis_rehearse_says_when_max_active_not_the_rate_sets_the_pace(
        capsys: pytest.CaptureFixture[str], tmp_path: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUIS_DATA_DIR", str(tmp_path))
    code = main(["rehearse", "--arrivals", "300@1m", "--rate", "120", "--max-active", "20",
                 "--session-seconds", "60", "--no-early-end", "--visit", "30s"])
    out = capsys.readouterr().out
    assert code == 0
    assert ("configured rate 120 a minute, effective pace 20 a minute: max_active sets the "
            "pace, not the rate: 20 × 60 / 60 s sessions (assumed)") in out
    assert "assumed: the site never ends sessions and there is no idle limit" in out
    assert "whatever the visit (30 s)" in out
    code = main(["rehearse", "--arrivals", "300@1m", "--rate", "120", "--max-active", "200",
                 "--visit", "4m", "--no-early-end", "--idle-seconds", "60", "--json"])
    pace = json.loads(capsys.readouterr().out)["pace"]
    assert code == 0
    assert pace == {"rate_per_minute": 120, "effective_rate_per_minute": 40.0,
                    "pace_set_by": "max_active", "typical_session_seconds": 300.0,
                    "visit_seconds": 240.0, "ends_early": False, "idle_seconds": 60,
                    "session_seconds": 900}
    main(["rehearse", "--arrivals", "300@1m", "--rate", "40", "--max-active", "200",
          "--visit", "4m"])
    out = capsys.readouterr().out
    assert "effective pace 40 a minute: the rate sets the pace; max_active would allow 50" in out
    assert "so a session lasts the visit; session_seconds (15 min) is never reached" in out


def rehearse_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUIS_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", "rehearse", *args], cwd=ROOT,
                          env=dict(env, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                          timeout=60)


def test_sluis_rehearse_explains_its_columns_and_gives_waits_in_minutes() -> None:
    # 600 at once, 120 a minute: the last one waits 5 minutes, the middle one 2.5.
    run = rehearse_cli("--arrivals", "600@1s", "--rate", "120", "--max-active", "10000",
                       "--visit", "30s", "--opens-after", "0")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    head, units = out.splitlines()[:2]
    assert head.split() == ["minute", "arrived", "admitted", "queue", "active", "polls/s",
                            "backend", "wait", "p50", "wait", "p90"]
    assert units.split() == ["(end)", "(peak)", "(mean)", "req/min", "(min)", "(min)"]
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["4"])
    assert row[-2:] == ["4.5", "4.9"]  # minutes, not seconds
    assert "  wait p50  minutes from arrival (from the opening, for the pre-queue)" in out
    assert "  active    the most live sessions at once during the minute" in out
    assert "  polls/s   status calls a second from waiting parents" in out
    assert "wait p50 2.5 min, p90 4.5 min, max 5.0 min; line empty at 5.0 min" in out
    assert "assumed: a visit of 30 s" in out


def test_sluis_rehearse_writes_its_charts_as_svg_and_as_a_page(tmp_path: Path) -> None:
    svg, html = tmp_path / "opening.svg", tmp_path / "opening.html"
    run = rehearse_cli("--arrivals", "300@5m,2000@2m,500@10m", "--opens-after", "5m",
                       "--rate", "300", "--max-active", "100", "--visit", "2m",
                       "--svg", str(svg), "--html", str(html))
    assert run.returncode == 0, run.stderr
    assert f"wrote {svg}" in run.stderr and f"wrote {html}" in run.stderr
    root = ElementTree.fromstring(svg.read_text(encoding="utf-8"))  # noqa: S314 - our own file
    ns = "{http://www.w3.org/2000/svg}"
    charts = [e for e in root.iter(f"{ns}svg") if e.get("class") == "chart"]
    assert len(charts) == 5
    texts = [t.text or "" for t in root.iter(f"{ns}text")]
    assert "Waiting at the end of each minute (line and pre-queue)" in texts
    assert {"0 min", "15 min", "30 min", "45 min", "60 min"} <= set(texts)  # the time axis
    assert {"0", "2,500"} <= set(texts)  # the scale of the waiting line (peak about 2,000)
    for chart in charts:
        assert chart.find(f"{ns}polyline") is not None
    page = html.read_text(encoding="utf-8")
    assert page.count('<svg class="chart"') == 5 and "<script" not in page
    assert "max_active sets the pace, not the rate: 100 × 60 / 120 s sessions" in page
    assert "<dt>wait p50 <small>(min)</small></dt>" in page
    assert "<td>5*</td>" in page  # the opening minute, marked


def test_the_rehearsal_page_reads_in_a_browser(tmp_path: Path, chromium: str) -> None:  # noqa: F811
    page = tmp_path / "rehearsal.html"
    run = rehearse_cli("--arrivals", "400@10m,4000@2m,1500@20m", "--opens-after", "10m",
                       "--rate", "600", "--max-active", "400", "--visit", "4m",
                       "--html", str(page))
    assert run.returncode == 0, run.stderr
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "rehearse-report.png"
    shot.unlink(missing_ok=True)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1280,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=60, check=False)
    assert shot.exists() and shot.stat().st_size > 20_000
