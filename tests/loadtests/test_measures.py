"""The report's calculations on small recorded runs with known answers."""

from __future__ import annotations

import math

import pytest

from loadtests import measures, report


def test_kendall_tau_is_one_for_the_same_order_and_minus_one_for_the_reverse() -> None:
    assert measures.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert measures.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0


def test_kendall_tau_counts_discordant_pairs() -> None:
    # One swapped neighbour among 4: 5 concordant, 1 discordant of 6 pairs.
    assert measures.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


def test_kendall_tau_b_with_ties_matches_the_textbook_value() -> None:
    # x ties one pair, y ties one pair: tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)).
    x, y = [1, 1, 2, 3], [1, 2, 2, 3]
    # Pairs: (0,1) x-tie; (0,2) C; (0,3) C; (1,2) y-tie; (1,3) C; (2,3) C.
    assert measures.kendall_tau(x, y) == pytest.approx(4 / math.sqrt(5 * 5))


def test_kendall_tau_agrees_with_scipy_on_a_larger_sample() -> None:
    stats = pytest.importorskip("scipy.stats")
    x = [(i * 7919) % 1009 for i in range(1000)]
    y = [(i * 104729) % 997 // 10 for i in range(1000)]
    assert measures.kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


def test_chi_square_survival_function_has_known_values() -> None:
    assert measures.chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, abs=1e-9)
    assert measures.chi2_sf(2.0, 2) == pytest.approx(math.exp(-1))  # 2 dof: exp(-x/2)
    assert measures.chi2_sf(16.918977604620448, 9) == pytest.approx(0.05, abs=1e-9)
    assert measures.chi2_sf(0.0, 4) == 1.0


def test_chi_square_of_a_table_with_known_statistic() -> None:
    stat, dof = measures.chi_square_table([[10, 20], [20, 10]])
    assert dof == 1
    assert stat == pytest.approx(40 / 6)  # each cell off by 5 from 15: 4 × 25/15


def test_an_unbiased_draw_is_independent_and_a_biased_one_is_not() -> None:
    arrival = list(range(400))
    # Served in an order unrelated to arrival: independence, a large p-value.
    shuffled = [(i * 263) % 400 for i in arrival]
    fair = measures.order_independence(arrival, shuffled)
    assert fair is not None and fair.p_value > 0.05
    # Served in arrival order: the early arrivals bought the best places.
    biased = measures.order_independence(arrival, arrival)
    assert biased is not None and biased.p_value < 1e-6
    assert biased.dof == 9 and biased.bins == 4


def test_eta_accuracy_reports_errors_and_the_share_inside_the_range() -> None:
    rows = [(100.0, 90.0, 80.0, 120.0), (50.0, 60.0, 40.0, 55.0), (10.0, 10.0, 5.0, 15.0)]
    got = measures.eta_accuracy(rows)
    assert got["n"] == 3
    assert got["median_error_seconds"] == 0.0          # errors -10, +10, 0
    assert got["median_abs_error_seconds"] == 10.0
    assert got["median_eta_over_actual"] == pytest.approx(1.0)
    assert got["within_range_share"] == 1.0
    assert measures.eta_accuracy([(100.0, 30.0, 20.0, 40.0)])["within_range_share"] == 0.0


def test_admitted_per_minute_from_counter_samples_against_the_rate_in_force() -> None:
    samples = [{"t": 1000 + s, "admitted_total": 2 * s, "rate_per_minute": 120 if s < 60 else 60}
               for s in range(0, 181)]
    got = measures.admitted_per_minute(samples, start=1000)
    assert [m["admitted"] for m in got] == [120, 120, 120]
    assert [m["target"] for m in got] == [120, 60, 60]


def test_oversold_counts_places_beyond_capacity_and_a_clean_run_counts_none() -> None:
    rows = [{"session_key": "1", "status": s, "registration_id": f"r{i}"}
            for i, s in enumerate(["confirmed", "held", "waitlisted", "cancelled"])]
    assert measures.oversold(rows, {"1": 2}, {"1": 2})["places"] == 0
    rows.append({"session_key": "1", "status": "offered", "registration_id": "r9"})
    over = measures.oversold(rows, {"1": 2}, {"1": 2})
    assert over["places"] == 1 and over["sessions"] == ["1"]
    assert measures.oversold([], {"2": 5}, {"2": 7})["places"] == 2  # booked beyond capacity


def test_lost_finds_registrations_missing_from_the_export_or_no_longer_live() -> None:
    rows = [{"registration_id": "a", "status": "confirmed"},
            {"registration_id": "b", "status": "cancelled"}]
    assert measures.lost(["a"], rows)["places"] == 0
    got = measures.lost(["a", "b", "c"], rows)
    assert got["places"] == 2 and got["missing"] == ["c"] and got["not_occupying"] == ["b"]


def test_strict_inversions_ignore_polling_blur_but_catch_a_real_overtake() -> None:
    # (join sent, join answered, last seen waiting, first seen admitted)
    a = (0.0, 0.1, 10.0, 12.0)
    b_blurred = (1.0, 1.1, 9.0, 11.0)      # b seen admitted at 11 s, a waiting at 10: ok
    assert measures.strict_inversions([a, b_blurred]) == 0
    b_ahead = (1.0, 1.1, 5.0, 8.0)         # b admitted by 8 s, a still waiting at 10 s
    assert measures.strict_inversions([a, b_ahead]) == 1
    concurrent = (0.05, 0.2, 5.0, 8.0)     # joined while a's join was in flight: no order
    assert measures.strict_inversions([a, concurrent]) == 0


def test_fairness_of_a_recorded_run_uses_the_published_draw() -> None:
    from gateway import lottery

    seed, sha = lottery.new_seed()
    visitors = []
    for i in range(40):
        visitor = f"visitor-{i:04d}"
        visitors.append({"kind": "parent", "join_state": "prequeue", "join_sent": float(i),
                         "join_done": i + 0.1, "last_waiting_at": 100.0,
                         "admitted_at": 101.0 + i, "ticket": lottery.ticket(visitor)})
    for i in range(20):
        visitors.append({"kind": "parent", "join_state": "queued", "join_sent": 200.0 + i,
                         "join_done": 200.1 + i, "last_waiting_at": 250.0 + i,
                         "admitted_at": 252.0 + i})
    tickets = lottery.drawn_order(seed, [v["ticket"] for v in visitors if "ticket" in v])
    got = report.fairness(visitors, opens_at=100.0,
                          draw={"seed": seed, "seed_sha256": sha, "tickets": tickets})
    assert got["after_opening"] == {"n": 20, "kendall_tau": 1.0}
    assert got["strict_inversions"] == 0
    assert got["prequeue"]["order_from"] == "published draw"
    assert got["prequeue"]["draw_verified"] is True
    assert got["prequeue"]["n"] == 40


def _run(**over: object) -> dict[str, object]:
    run: dict[str, object] = {"start": 1000.0, "ended_at": 1100.0, "planned_seconds": 100.0,
                              "visitors": 3, "locust_processes": 2, "record_files": 2,
                              "locust_exit": 0}
    return run | over


def test_run_status_names_each_shortfall_of_a_run() -> None:
    users = [{"kind": k} for k in ("parent", "parent", "bot", "operator")]
    history = [{"users": 2}, {"users": 4}, {"users": 0}]
    samples = [{"t": 1050.0}]
    whole = report.run_status(users, history, samples, _run())
    assert whole["complete"] and whole["records_complete"] and whole["problems"] == []
    cut = report.run_status(users[:2], [{"users": 3}], samples,
                            _run(ended_at=1040.0, record_files=1, locust_exits=[-9, 0],
                                 locust_notes=["The last worker went missing"]))
    assert not cut["complete"] and not cut["records_complete"] and cut["ended_early"]
    assert cut["problems"] == [
        "Locust stopped 40 s into a planned 100 s (The last worker went missing)",
        "Locust started 3 of the 4 planned users",
        "visitor records from 1 of 2 Locust processes (exit codes [-9, 0])",
        "2 users recorded of 3 started"]
    assert report.run_status(users, [], [], _run())["problems"] == [
        "Locust wrote no history: how many users it started is unknown",
        "the room was never sampled"]


def test_a_guarantee_is_yes_only_on_evidence_and_no_on_any_breach() -> None:
    def outcome(*, records: bool, inversions: int, after: int, p99: float) -> dict[str, object]:
        return {
            "run_status": {"records_complete": records},
            "run": {"status_p99_bar_ms": 250.0},
            "backend": {"cap_exceeded": False, "peak_active_sessions": 0, "max_active": 10,
                        "samples_with_live_sessions": 0},
            "fairness": {"after_opening": {"n": after}, "strict_inversions": inversions,
                         "prequeue": {"draw_verified": None}},
            "errors": {"security_breaches": []},
            "endpoints": [{"name": "status", "requests": 500, "p99_ms": p99},
                          {"name": "bot forged token", "requests": 7}],
        }

    got = report.verdict(outcome(records=True, inversions=0, after=40, p99=120.0))
    assert got == {"no_oversold": "not measured", "no_lost": "not measured",
                   "cap_respected": "not measured", "fifo_after_opening": "yes",
                   "no_security_breach": "yes", "draw_verified": "not measured",
                   "status_p99": "yes", "status_p99_server": "not measured"}
    missing = report.guarantees(outcome(records=False, inversions=0, after=40, p99=900.0))
    assert missing["fifo_after_opening"]["result"] == "not measured"
    assert missing["no_security_breach"]["result"] == "not measured"
    assert missing["status_p99"] == {
        "result": "no", "n": 500,
        "evidence": "status p99 900 ms over 500 requests; the bar is 250 ms"}
    # An overtake seen among the records there are is a breach, records missing or not.
    assert report.verdict(outcome(records=False, inversions=1, after=40, p99=1.0))[
        "fifo_after_opening"] == "no"
    assert report.verdict(outcome(records=True, inversions=0, after=1, p99=1.0))[
        "fifo_after_opening"] == "not measured"
