"""The rehearsal's report: one JSON document and one self-contained HTML page, built
from what the run recorded (visitors' JSON lines, room samples, Locust's CSV files and
the booking engine's export).

A guarantee is "yes" only on evidence: one that nothing tested, or that rests on visitor
records some of which are missing, is "not measured". A run that ended early or lost
records says so first."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from gateway import lottery
from loadtests import measures, svg
from queue_worker import rehearse

VISITOR_KINDS = ("parent", "abandoner", "refresher", "tabhoarder")
USER_KINDS = (*VISITOR_KINDS, "bot", "operator")  # one record per user Locust started
YES, NO, NOT_MEASURED = "yes", "no", "not measured"
# Locust checks the shape once a second and then stops its users: a run that ends
# more than this before the planned end was cut short.
EARLY_SLACK_SECONDS = 5.0


def read_records(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path in record_files(folder):
        with path.open(encoding="utf-8") as fh:
            out.extend(json.loads(line) for line in fh if line.strip())
    return out


def record_files(folder: Path) -> list[Path]:
    """One file per Locust process that ran users and wrote them all down."""
    return sorted(folder.glob("visitors-*.jsonl"))


def read_locust_stats(prefix: Path) -> list[dict[str, Any]]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows.append({
                "type": row["Type"], "name": row["Name"],
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 1),
                **{f"p{p}_ms": _num(row.get(f"{p}%")) for p in ("50", "90", "95", "99")},
                "max_ms": _num(row.get("Max Response Time")),
            })
    return rows


def read_locust_history(prefix: Path) -> list[dict[str, Any]]:
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [{"t": float(r["Timestamp"]), "name": r["Name"], "users": int(r["User Count"]),
                 "total": int(r["Total Request Count"]), "rps": float(r["Requests/s"] or 0)}
                for r in csv.DictReader(fh)]


def read_locust_failures(prefix: Path) -> list[dict[str, Any]]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [{"name": r["Name"], "error": r["Error"][:300], "count": int(r["Occurrences"])}
                for r in csv.DictReader(fh)]


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def wait_of(r: Mapping[str, Any], opens_at: float) -> float | None:
    """Join (or opening, for the pre-queue) to the first answer that said admitted."""
    if "admitted_at" not in r or "join_sent" not in r:
        return None
    return max(0.0, r["admitted_at"] - max(r["join_sent"], opens_at))


def fairness(visitors: Sequence[Mapping[str, Any]], opens_at: float,
             draw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    admitted = [r for r in visitors if "admitted_at" in r and "join_sent" in r
                and r.get("join_state") != "admitted"]
    after = [r for r in admitted if r.get("join_state") == "queued"]
    pre = [r for r in admitted if r.get("join_state") == "prequeue"]
    # The admission moment lies between the last "still waiting" and the first "admitted".
    middle = [(r["last_waiting_at"] + r["admitted_at"]) / 2 for r in after]
    tau = measures.kendall_tau([r["join_sent"] for r in after], middle)
    fence = opens_at - 1.0  # the pre-queue as one arrival, ahead of every later one
    rows = [(r["join_sent"], r["join_done"], r["last_waiting_at"], r["admitted_at"])
            for r in after]
    rows += [(fence, fence, r["last_waiting_at"], r["admitted_at"]) for r in pre]
    # The pre-queue's order is the published draw (exact); the polled admission
    # moments only bound it within a poll interval.
    drawn = {t: i for i, t in enumerate((draw or {}).get("tickets") or [])}
    in_draw = [r for r in visitors if r.get("join_state") == "prequeue"
               and r.get("ticket") in drawn]
    verified = None
    if draw and draw.get("seed"):
        verified = lottery.verify(draw["seed"], draw["seed_sha256"], draw["tickets"])
    if in_draw:
        source = "published draw"
        arrival = [r["join_sent"] for r in in_draw]
        served = [float(drawn[r["ticket"]]) for r in in_draw]
    else:
        source = "polled admission moments"
        arrival = [r["join_sent"] for r in pre]
        served = [(r["last_waiting_at"] + r["admitted_at"]) / 2 for r in pre]
    chi = measures.order_independence(arrival, served)
    drawn_tau = measures.kendall_tau(arrival, served)
    return {
        "after_opening": {"n": len(after), "kendall_tau": _round(tau, 4)},
        "strict_inversions": measures.strict_inversions(rows),
        "prequeue": {
            "n": len(arrival), "order_from": source, "draw_verified": verified,
            "kendall_tau_arrival_vs_admission": _round(drawn_tau, 4),
            "chi_square": None if chi is None else {
                "statistic": round(chi.statistic, 2), "dof": chi.dof,
                "p_value": round(chi.p_value, 4), "bins": chi.bins},
        },
    }


def _round(v: float | None, n: int) -> float | None:
    return None if v is None else round(v, n)


def per_minute_real(samples: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]],
                    visitors: Sequence[Mapping[str, Any]], start: float, opens_at: float
                    ) -> list[dict[str, Any]]:
    rows = {m["minute"]: dict(m) for m in measures.admitted_per_minute(samples, start)}
    for s in samples:
        m = int((s["t"] - start) // 60)
        if m in rows:
            row = rows[m]
            row["queue_end"] = s["queued"] + s["prequeued"]
            row["active_max"] = max(row.get("active_max", 0), s["active"])
    polls = [h for h in history if h["name"] == "status"]
    for m, row in rows.items():
        t0, t1 = start + m * 60, start + (m + 1) * 60
        inside = [h["total"] for h in polls if t0 <= h["t"] < t1]
        before = [h["total"] for h in polls if h["t"] < t0]
        if inside:
            row["status_polls_per_second"] = round(
                (max(inside) - (max(before) if before else 0)) / 60, 1)
        waits = [w for r in visitors if t0 <= r.get("admitted_at", -1) < t1
                 if (w := wait_of(r, opens_at)) is not None]
        row["arrived"] = sum(1 for r in visitors if t0 <= r.get("join_sent", -1) < t1)
        row["wait_p50_seconds"] = measures.percentile(waits, 50)
        row["wait_p90_seconds"] = measures.percentile(waits, 90)
    return [rows[k] for k in sorted(rows)]


def simulated(visitors: Sequence[Mapping[str, Any]], start: float, opens_at: float,
              settings: Mapping[str, Any], rate_changes: Sequence[tuple[float, int]],
              visit_seconds: float, horizon: float, silent: Sequence[float] = ()
              ) -> rehearse.Outcome:
    """The simulator on this run's own arrivals and settings, for the comparison."""
    arrivals = tuple(sorted(r["join_sent"] - start for r in visitors if "join_sent" in r))
    scenario = rehearse.Scenario(
        silent=tuple(sorted(t - start for t in silent)),
        arrivals=arrivals, rate_per_minute=int(settings["rate_per_minute"]),
        max_active=int(settings["max_active"]), session_seconds=int(settings["session_seconds"]),
        grace_seconds=int(settings["grace_seconds"]), opens_at=max(0.0, opens_at - start),
        visit_seconds=visit_seconds, ends_early=False, horizon_seconds=horizon,
        rate_changes=tuple(rate_changes))
    return rehearse.simulate(scenario)


def run_status(records: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]],
               samples: Sequence[Mapping[str, Any]], run: Mapping[str, Any]
               ) -> dict[str, Any]:
    """Did the run go as planned, and is every user's record in? Each shortfall is one
    problem, said in words; records are complete only when every Locust process wrote
    its file and they hold at least as many users as Locust reports having started."""
    planned = float(run["planned_seconds"])
    ran = float(run["ended_at"]) - float(run["start"])
    planned_users = int(run["visitors"]) + 1  # the operator beside the visitors
    started = max((int(h["users"]) for h in history), default=0)
    recorded = sum(1 for r in records if r.get("kind") in USER_KINDS)
    processes, files = int(run["locust_processes"]), int(run["record_files"])
    who = "Locust" if run.get("generator", "locust") == "locust" else "The lean generator"
    problems = []
    ended_early = ran < planned - EARLY_SLACK_SECONDS
    if ended_early:
        why = "; ".join(run.get("locust_notes") or ())
        problems.append(f"{who} stopped {ran:,.0f} s into a planned {planned:,.0f} s"
                        + (f" ({why})" if why else ""))
    if not history:
        problems.append(f"{who} wrote no history: how many users it started is unknown")
    elif started < planned_users:
        problems.append(f"{who} started {started:,} of the {planned_users:,} planned users")
    if files < processes:
        exits = run.get("locust_exits") or []
        problems.append(f"visitor records from {files} of {processes} "
                        f"{'Locust' if who == 'Locust' else 'lean generator'} processes"
                        + (f" (exit codes {exits})" if exits else ""))
    if recorded < started:
        problems.append(f"{recorded:,} users recorded of {started:,} started")
    if not samples:
        problems.append("the room was never sampled")
    if run.get("locust_exit"):
        problems.append(f"{who} exited with {run['locust_exit']}")
    return {
        "complete": not problems, "problems": problems,
        "planned_seconds": round(planned, 1), "ran_seconds": round(ran, 1),
        "ended_early": ended_early, "planned_users": planned_users,
        "started_users": started, "recorded_users": recorded,
        "locust_processes": processes, "record_files": files,
        "records_complete": bool(history) and started > 0 and files >= processes
                            and recorded >= started,
    }


def build(*, records: Sequence[dict[str, Any]], samples: Sequence[dict[str, Any]],
          stats: Sequence[dict[str, Any]], history: Sequence[dict[str, Any]],
          failures: Sequence[dict[str, Any]], engine: Mapping[str, Any] | None,
          draw: Mapping[str, Any] | None,
          start: float, opens_at: float, settings: Mapping[str, Any],
          rate_changes: Sequence[tuple[float, int]], run: Mapping[str, Any],
          server: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    visitors = [r for r in records if r.get("kind") in VISITOR_KINDS]
    breaches = [r["what"] for r in records if r.get("kind") == "breach"]
    waits = [w for r in visitors if (w := wait_of(r, opens_at)) is not None]
    eta_rows = [(wait_of(r, opens_at), r["eta"], r.get("eta_low"), r.get("eta_high"))
                for r in visitors if r.get("join_state") == "queued" and r.get("eta") is not None
                and "admitted_at" in r]
    visits = [r["registered_at"] - r["admitted_at"] for r in visitors
              if "registered_at" in r and "admitted_at" in r]
    registered = [r["registration_id"] for r in visitors if r.get("registration_id")]
    peak_active = max((s["active"] for s in samples), default=0)
    max_active = min((s["max_active"] for s in samples), default=settings["max_active"])
    inflight = [s["backend_inflight"] for s in samples if s.get("backend_inflight") is not None]
    # The room as Locust ended (the sampler goes on while its workers finish).
    ordered = sorted((s for s in samples if s["t"] <= run.get("ended_at", float("inf"))),
                     key=lambda s: s["t"])
    outcome: dict[str, Any] = {
        "run_status": run_status(records, history, samples, run),
        "run": dict(run),
        "settings": dict(settings),
        "visitors": {
            "total": len(visitors),
            "by_kind": {k: sum(1 for r in visitors if r["kind"] == k) for k in VISITOR_KINDS},
            "admitted": len(waits),
            "registered": len(registered),
            "sold_out_or_full": sum(1 for r in visitors
                                    if r.get("registration_status") in ("sold_out", "full")),
            "abandoned": sum(1 for r in visitors if "abandoned_at" in r),
            "lost_place": sum(1 for r in visitors if "lost_place_at" in r),
            "silent_places_taken_by_bots": sum(1 for r in records if r.get("kind") == "silent"),
            "still_waiting_at_end": sum(1 for r in visitors if "admitted_at" not in r
                                        and "abandoned_at" not in r and "join_state" in r),
            # The room's own figures beside the records', as a check on them.
            "line_at_end_sampled": (ordered[-1]["queued"] + ordered[-1]["prequeued"]
                                    if ordered else None),
            "admitted_sampled": (ordered[-1]["admitted_total"] - ordered[0]["admitted_total"]
                                 if ordered else None),
        },
        "endpoints": list(stats),
        # The gateway's own answer times (sluis_request_seconds), beside Locust's.
        "server_latency": dict(server or {}),
        "errors": {"failures": list(failures),
                   "total": sum(f["count"] for f in failures),
                   "security_breaches": breaches},
        "admissions_per_minute": measures.admitted_per_minute(samples, opens_at),
        "time_to_admission": {p: measures.percentile(waits, q) for p, q in
                              (("p50_seconds", 50), ("p90_seconds", 90), ("p99_seconds", 99),
                               ("max_seconds", 100))},
        "fairness": fairness(visitors, opens_at, draw),
        "eta_accuracy": measures.eta_accuracy(eta_rows),
        "backend": {
            "peak_active_sessions": peak_active, "max_active": max_active,
            "cap_exceeded": peak_active > max_active,
            "peak_backend_inflight_sampled": max(inflight, default=None),
            "visit_seconds_median": measures.percentile(visits, 50),
            # Evidence from the run itself: the sampler goes on while Locust's workers
            # finish, and the room admits from a line nobody asks about any more.
            "samples_with_live_sessions": sum(1 for s in ordered if s["active"] > 0),
        },
    }
    if engine is not None:
        rows = engine["rows"]
        outcome["places"] = {
            "capacity_total": sum(engine["capacity"].values()),
            "booked_total": sum(engine["booked"].values()),
            "oversold": measures.oversold(rows, engine["capacity"], engine["booked"]),
            "lost": measures.lost(registered, rows),
            "parents_201": len(registered),
        }
    horizon = max((s["t"] for s in samples), default=start) - start
    silent = [r["join_sent"] for r in records if r.get("kind") == "silent"]
    sim = simulated(visitors, start, opens_at, settings, rate_changes,
                    measures.percentile(visits, 50) or 5.0, horizon, silent)
    real = per_minute_real(samples, history, visitors, start, opens_at)
    outcome["simulator_vs_real"] = {
        "simulated": {"summary": sim.summary(), "minutes": [m.as_json() for m in sim.minutes]},
        "real": {"summary": {
            "admitted": len(waits),
            "peak_queue": max((s["queued"] + s["prequeued"] for s in samples), default=0),
            "peak_active": peak_active,
            "peak_status_polls_per_second": max(
                (m.get("status_polls_per_second", 0) for m in real), default=0),
            "wait_p50_seconds": measures.percentile(waits, 50),
            "wait_p90_seconds": measures.percentile(waits, 90),
            "wait_max_seconds": measures.percentile(waits, 100),
        }, "minutes": real},
    }
    outcome["series"] = {
        "samples": [{k: s[k] for k in ("t", "admitted_total", "active", "queued", "prequeued",
                                        "rate_per_minute", "max_active", "backend_inflight")}
                    for s in samples],
        "waits": waits,
    }
    found = guarantees(outcome)
    # The run's state and the guarantees first: they are what the report is read for.
    return {"run_status": outcome.pop("run_status"),
            "verdict": {k: g["result"] for k, g in found.items()},
            "guarantees": found, **outcome}


def server_latency(before: str, after: str) -> dict[str, dict[str, Any]]:
    """Per route class, the gateway's answer times between two scrapes of its metrics:
    requests, and p50/p95/p99 in ms interpolated within the histogram's buckets, with the
    bucket bound the p99 is certainly at or under (`p99_le_ms`)."""
    name = "sluis_request_seconds"
    seen = measures.histogram_between(measures.histogram_buckets(before, name, "route"),
                                      measures.histogram_buckets(after, name, "route"))
    out: dict[str, dict[str, Any]] = {}
    for route, buckets in sorted(seen.items()):
        count = buckets.get(float("inf"), 0.0)
        if count <= 0:
            continue
        row: dict[str, Any] = {"requests": int(count)}
        for label, q in (("p50_ms", .50), ("p95_ms", .95), ("p99_ms", .99)):
            found = measures.histogram_quantile(buckets, q)
            row[label] = None if found is None else _ms(found[0])
            if label == "p99_ms":
                row["p99_le_ms"] = None if found is None else _ms(found[1])
        out[route] = row
    return out


def _ms(seconds: float) -> float | str:
    return "inf" if seconds == float("inf") else round(seconds * 1000, 1)


def verdict(o: Mapping[str, Any]) -> dict[str, str]:
    return {k: g["result"] for k, g in guarantees(o).items()}


def _judge(broken: bool, n: int, evidence: str, *, records: bool = True,
           least: int = 1) -> dict[str, Any]:
    """A breach found is "no" whatever else is missing; no breach is "yes" only with at
    least `least` cases tested and, where the evidence is visitors' records, all of them."""
    if broken:
        result = NO
    elif n < least or not records:
        result = NOT_MEASURED
        if not records:
            evidence += "; visitor records are missing"
    else:
        result = YES
    return {"result": result, "n": n, "evidence": evidence}


def guarantees(o: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    full = o["run_status"]["records_complete"]
    places = o.get("places")
    backend = o["backend"]
    fair = o["fairness"]
    bots = sum(e["requests"] for e in o["endpoints"]
               if e["name"] in ("bot forged token", "bot replayed token"))
    breaches = len(o["errors"]["security_breaches"])
    verified = fair["prequeue"]["draw_verified"]
    status = next((e for e in o["endpoints"] if e["name"] == "status"), None)
    bar = o["run"].get("status_p99_bar_ms")
    out: dict[str, dict[str, Any]] = {}
    if places is None:
        unread = {"result": NOT_MEASURED, "n": 0,
                  "evidence": "the booking engine was not read (no signing keys)"}
        out["no_oversold"] = out["no_lost"] = unread
    else:
        over, held = places["oversold"]["places"], places["oversold"]["occupied_total"]
        out["no_oversold"] = _judge(over > 0, held, f"{over} oversold of {held:,} places "
                                    "held in the engine's export")
        lost, ok = places["lost"]["places"], places["parents_201"]
        out["no_lost"] = _judge(lost > 0, ok, f"{lost} lost of {ok:,} registrations "
                                "answered 201", records=full)
    live = backend["samples_with_live_sessions"]
    out["cap_respected"] = _judge(
        backend["cap_exceeded"], live, f"peak {backend['peak_active_sessions']:,} live "
        f"sessions, max_active {backend['max_active']:,}, over {live:,} samples with live "
        "sessions")
    after = fair["after_opening"]["n"]
    out["fifo_after_opening"] = _judge(
        fair["strict_inversions"] > 0, after, f"{fair['strict_inversions']} pairs out of "
        f"order among {after:,} parents admitted after queueing", records=full, least=2)
    out["no_security_breach"] = _judge(
        breaches > 0, bots, f"{breaches} breaches in {bots:,} requests on forged or "
        "replayed admission tokens", records=full)
    out["draw_verified"] = _judge(
        verified is False, 0 if verified is None else 1,
        "the published draw checked against its seed" if verified is not None else
        "no draw was revealed (no pre-queue, or the run ended before the opening)")
    if status is None or not status["requests"] or status["p99_ms"] is None or bar is None:
        out["status_p99"] = {"result": NOT_MEASURED, "n": 0,
                             "evidence": "no status requests were answered"}
    else:
        p99 = status["p99_ms"]
        out["status_p99"] = _judge(p99 > bar, status["requests"],
                                   f"status p99 {p99:,.0f} ms over {status['requests']:,} "
                                   f"requests; the bar is {bar:,.0f} ms")
    served = o.get("server_latency", {}).get("status")
    if served is None or bar is None or served["p99_le_ms"] is None:
        out["status_p99_server"] = {"result": NOT_MEASURED, "n": 0, "evidence":
                                    "the gateway's sluis_request_seconds was not read"}
    else:
        # Judged on the bucket bound, so that "yes" never rests on interpolation.
        bound = served["p99_le_ms"]
        over = bound == "inf" or bound > bar
        out["status_p99_server"] = _judge(
            over, served["requests"], f"the gateway's status p99 {served['p99_ms']} ms "
            f"(at most {bound} ms) over {served['requests']:,} answers; the bar is "
            f"{bar:,.0f} ms")
    return out


# -- HTML -------------------------------------------------------------------------------


def _table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_cell(r.get(c)))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def generator_line(run: Mapping[str, Any]) -> str:
    """Which generator played the visitors, on which CPUs, and what it played."""
    if run.get("generator", "locust") == "locust":
        what = "Locust (loadtests/locustfile.py), every kind of visitor"
    else:
        mix = (run.get("lean") or {}).get("mix", "all")
        what = ("parents only (lean generator)" if mix == "parents" else
                "the lean generator (loadtests/lean.py), every kind of visitor in the "
                "locustfile's proportions")
    return (f"{what}; {run.get('locust_processes', 1)} process(es) on CPU "
            f"{run.get('generator_cpus', 'any')}, the stack on CPU {run.get('stack_cpus', 'any')}")


def html(o: Mapping[str, Any]) -> str:
    start = o["run"]["start"]
    samples = o["series"]["samples"]

    def since(t: float) -> float:
        return (t - start) / 60

    line = svg.lines("Line and live sessions", {
        "waiting": [(since(s["t"]), s["queued"] + s["prequeued"]) for s in samples],
        "active": [(since(s["t"]), s["active"]) for s in samples],
        "max_active": [(since(s["t"]), s["max_active"]) for s in samples],
    }, "minutes since start", "visitors")
    apm = o["admissions_per_minute"]
    rate = svg.lines("Admitted per minute vs target", {
        "admitted": [(m["minute"] + 1, m["admitted"]) for m in apm],
        "target": [(m["minute"] + 1, m["target"]) for m in apm],
    }, "minute after opening", "admissions", steps=True)
    edges, counts = svg.histogram(o["series"]["waits"])
    hist = svg.bars("Time to admission", edges, counts, "seconds")
    sim = o["simulator_vs_real"]
    compare = svg.lines("Simulator vs real: waiting at the end of each minute", {
        "real": [(m["minute"], m.get("queue_end", 0)) for m in sim["real"]["minutes"]],
        "simulated": [(m["minute"], m["queue_end"]) for m in sim["simulated"]["minutes"]],
    }, "minutes since start", "waiting")
    classes = {YES: "ok", NO: "bad", NOT_MEASURED: "unknown"}
    verdicts = "".join(f"<li class={classes[g['result']]}>{escape(k)}: "
                       f"<b>{escape(g['result'] if g['result'] != NO else 'NO')}</b> — "
                       f"{escape(g['evidence'])}</li>" for k, g in o["guarantees"].items())
    status = o["run_status"]
    if status["complete"]:
        banner = (f"<p class=ok>Run complete: {status['ran_seconds']:,.0f} s of a planned "
                  f"{status['planned_seconds']:,.0f} s; {status['recorded_users']:,} users "
                  f"started, every one recorded.</p>")
    else:
        items = "".join(f"<li>{escape(p)}</li>" for p in status["problems"])
        banner = (f"<div class=alert><b>This run is incomplete.</b><ul>{items}</ul>"
                  "Figures below cover only what ran and what was recorded; guarantees "
                  "that rest on what is missing are \"not measured\".</div>")
    places = o.get("places")
    places_html = "<p>The booking engine was not read (no signing keys given).</p>"
    if places:
        places_html = (f"<p>Capacity {places['capacity_total']:,}, booked "
                       f"{places['booked_total']:,}; parents got {places['parents_201']:,} "
                       f"× 201. Oversold places: <b>{places['oversold']['places']}</b>. "
                       f"Lost places: <b>{places['lost']['places']}</b>.</p>")
    fair = o["fairness"]
    summary_rows = [{"figure": k, "simulated": sim["simulated"]["summary"].get(k),
                     "real": sim["real"]["summary"].get(k)}
                    for k in ("admitted", "peak_queue", "peak_active",
                              "peak_status_polls_per_second", "wait_p50_seconds",
                              "wait_p90_seconds", "wait_max_seconds")]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sluis rehearsal report</title>
<style>
body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}td,th{{border:1px solid #ccc;
padding:.2rem .5rem;text-align:right}}th{{background:#f3f3f3}}td:first-child{{text-align:left}}
.ok::marker{{content:"✔ "}}.ok{{color:#1e7d32}}.bad::marker{{content:"✘ "}}.bad{{color:#b71c1c}}
.unknown::marker{{content:"? "}}.unknown{{color:#8a5a00}}
.alert{{border:2px solid #b71c1c;background:#fdecea;padding:.5rem 1rem;color:#b71c1c}}
svg{{display:block;margin:1rem 0}}
</style></head><body>
<h1>Sluis rehearsal report</h1>
{banner}
<p>Load generator: {escape(generator_line(o["run"]))}</p>
<p>{escape(json.dumps(o["run"]))}</p>
<p>Settings: {escape(json.dumps(o["settings"]))}</p>
<h2>Guarantees</h2><ul>{verdicts}</ul>
{places_html}
<h2>Visitors</h2>{_table([o["visitors"] | {"by_kind": json.dumps(o["visitors"]["by_kind"])}],
                         list(o["visitors"]))}
<h2>Endpoints</h2>{_table(o["endpoints"], ["name", "requests", "failures", "rps", "p50_ms",
                                           "p90_ms", "p95_ms", "p99_ms", "max_ms"])}
<h2>Server-side latency (the gateway's sluis_request_seconds)</h2>
{_table([{"route": k, **v} for k, v in o.get("server_latency", {}).items()],
        ["route", "requests", "p50_ms", "p95_ms", "p99_ms", "p99_le_ms"])}
<h2>Errors</h2>{_table(o["errors"]["failures"], ["name", "error", "count"])}
<h2>Admissions</h2>{rate}{line}
<h2>Time to admission</h2>{hist}
{_table([o["time_to_admission"]], list(o["time_to_admission"]))}
<h2>Fairness</h2>
<p>After opening: Kendall τ between arrival and admission = {fair["after_opening"]["kendall_tau"]}
over {fair["after_opening"]["n"]:,} parents (1 is perfect; polling blurs the admission moment by
a few seconds). Pairs admitted out of order beyond doubt: <b>{fair["strict_inversions"]}</b>.</p>
<p>Pre-queue ({fair["prequeue"]["n"]} parents): arrival vs admission τ =
{fair["prequeue"]["kendall_tau_arrival_vs_admission"]} (near 0 for a fair draw); chi-square:
{escape(json.dumps(fair["prequeue"]["chi_square"]))}.</p>
<h2>ETA accuracy</h2>{_table([o["eta_accuracy"]], list(o["eta_accuracy"]))}
<h2>Backend</h2>{_table([o["backend"]], list(o["backend"]))}
<h2>Simulator vs real</h2>{compare}
{_table(summary_rows, ["figure", "simulated", "real"])}
</body></html>
"""
