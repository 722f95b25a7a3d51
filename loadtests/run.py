"""`python -m loadtests.run`: rehearse an opening and write the report.

Without --url it starts a local stack (Redis, booking engine, worker, gateway) on
127.0.0.1 with the room set for the rehearsal; with --url it runs against that Sluis
(SLUIS_ADMIN_TOKEN for the admin API; SLUIS_SECRET_KEYS to read the booking engine's
places for the oversold and lost checks). Locust runs headless on every core, or on the
CPUs --generator-cpus names while the local stack keeps to --stack-cpus; the gateway's
own answer times (sluis_request_seconds) are read from its metrics before and after.
`--generator lean` plays the same visitors with `loadtests.lean` instead (asyncio, one
process a generator CPU, kept-alive connections), writing the same records.

Without --visitors the opening is sized for this machine: 1,500 visitors a core (the
most a 2-core machine held with a status p99 under 250 ms, docs/loadtest.md). The
exit code is 0 only when the run went as planned, every user's record is in, and
every guarantee holds on evidence.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from loadtests import lean, report, swarm
from loadtests.opening import Opening, add_curve_options
from loadtests.stack import (
    ROOT,
    RoomPlan,
    Sampler,
    cpu_by_role,
    engine_places,
    local_stack,
    metrics_text,
    parse_cpus,
    pin,
)

log = logging.getLogger("sluis.loadtest")

VISITORS_PER_CORE = 1_500
MOST_VISITORS = 20_000


def default_visitors(cores: int) -> int:
    """The opening this machine can play without starving Locust or the gateway."""
    return min(MOST_VISITORS, VISITORS_PER_CORE * max(1, cores))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__)
    p.add_argument("--url", default=os.environ.get("SLUIS_LOADTEST_URL", ""),
                   help="a running Sluis; default: start one on 127.0.0.1")
    p.add_argument("--room", default="zomerkampen")
    p.add_argument("--out", default="artifacts/loadtest", help="report folder")
    o = p.add_argument_group("the opening")
    o.add_argument("--visitors", type=int, default=0,
                   help=f"everyone who arrives (default: {VISITORS_PER_CORE:,} a core, "
                        f"{MOST_VISITORS:,} at most)")
    add_curve_options(o)
    r = p.add_argument_group("the room (local stack only)")
    plan = RoomPlan()
    r.add_argument("--rate", type=int, default=1800, help="rate_per_minute")
    r.add_argument("--max-active", type=int, default=plan.max_active)
    r.add_argument("--session-seconds", type=int, default=plan.session_seconds)
    r.add_argument("--grace-seconds", type=int, default=plan.grace_seconds)
    r.add_argument("--gateway-workers", type=int, default=2)
    r.add_argument("--engine", choices=("separate", "inprocess"), default="separate",
                   help="the booking engine as its own process behind the proxy, or inside "
                        "one gateway process as in `sluis demo`")
    r.add_argument("--rate-change", default="",
                   help="AT_SECONDS:RATE, the operator's mid-run change (e.g. 420:2400)")
    g = p.add_argument_group("the load generator")
    g.add_argument("--generator", choices=("locust", "lean"), default="locust",
                   help="Locust (the locustfile), or the lean asyncio generator "
                        "(loadtests/lean.py) playing the same visitors")
    g.add_argument("--processes", type=int, default=-1,
                   help="generator processes (-1: a core each; lean: a --generator-cpus "
                        "CPU each)")
    g.add_argument("--lean-connections", type=int, default=256,
                   help="lean: kept-alive connections per process (0: a new one a request)")
    g.add_argument("--mix", choices=("all", "parents"), default="all",
                   help="lean: every kind in the locustfile's proportions, or parents only")
    g.add_argument("--generator-cpus", default="",
                   help="CPUs for Locust and this process (e.g. 0); with --stack-cpus, the "
                        "load generator and Sluis do not share a core")
    g.add_argument("--stack-cpus", default="",
                   help="CPUs for the local stack: Redis, engine, worker, gateway (e.g. 1)")
    g.add_argument("--no-register", action="store_true", help="admitted parents do not register")
    g.add_argument("--scarce", action="store_true",
                   help="parents race for the sessions with the fewest places left")
    g.add_argument("--lead-seconds", type=float, default=10.0,
                   help="time for Locust to start before the curve begins")
    g.add_argument("--run-time", type=float, default=0.0,
                   help="stop this many seconds after the curve begins, even before its "
                        "end (the report then says the run was cut short)")
    g.add_argument("--records-wait-seconds", type=float, default=300.0,
                   help="how long Locust's workers may take to write their records down "
                        "after the run")
    g.add_argument("--progress-seconds", type=float, default=10.0,
                   help="a progress line on the console this often")
    j = p.add_argument_group("the bar")
    j.add_argument("--status-p99-ms", type=float, default=250.0,
                   help="status answers' p99 must stay under this for the latency guarantee")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    cores = os.cpu_count() or 1
    if not args.visitors:
        args.visitors = default_visitors(cores)
        size = f"{args.visitors:,} visitors, sized for {cores} cores (--visitors N to choose)"
    else:
        size = f"{args.visitors:,} visitors (--visitors)"
    processes = cores if args.processes == -1 else max(1, args.processes)
    if args.generator == "lean" and args.processes == -1 and args.generator_cpus:
        processes = len(parse_cpus(args.generator_cpus))
    name = "Locust" if args.generator == "locust" else "the lean generator"
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    records_dir = out / "records"
    for old in [*records_dir.glob("visitors-*.jsonl"), *records_dir.glob("visitors-*.partial")]:
        old.unlink()
    opening = Opening(visitors=args.visitors, prequeue_seconds=args.prequeue_seconds,
                      prequeue_share=args.prequeue_share, spike_seconds=args.spike_seconds,
                      spike_share=args.spike_share, tail_seconds=args.tail_seconds,
                      drain_seconds=args.drain_seconds)
    log.info("opening: %s over %s s; %s on %d process%s", size,
             f"{opening.duration:,.0f}", name, processes, "" if processes == 1 else "es")
    roles: dict[int, str] = {}  # the local stack's processes, for their CPU time
    with ExitStack() as stack:
        if args.url:
            url = args.url.rstrip("/")
            token = os.environ.get("SLUIS_ADMIN_TOKEN", "")
            keys = tuple(k for k in os.environ.get("SLUIS_SECRET_KEYS", "").split(",") if k)
        else:
            plan = RoomPlan(room=args.room, rate_per_minute=args.rate,
                            max_active=args.max_active, session_seconds=args.session_seconds,
                            grace_seconds=args.grace_seconds)
            local = stack.enter_context(local_stack(out / "stack", plan, args.gateway_workers,
                                                    engine=args.engine))
            url, token, keys = local.url, local.admin_token, local.secret_keys
            roles = local.roles
            if args.stack_cpus:
                pin(list(roles), parse_cpus(args.stack_cpus))
        # The curve runs on the wall clock from `start`, whenever Locust's processes are
        # up, so that the opening the room announces and the spike coincide.
        start = float(round(time.time() + args.lead_seconds))
        opens_at = start + opening.opens_after
        if opening.prequeue_seconds:
            _set(url, token, args.room, {"opens_at": _iso(opens_at)})
        settings = _get(url, token, args.room)
        if args.generator_cpus:
            pin([os.getpid()], parse_cpus(args.generator_cpus), children=False)
        sampler = Sampler(url, token, args.room)
        sampler.start()
        clients = RedisClients(roles)
        clients.start()
        scrape_before = metrics_text(url)
        cpu_before = cpu_by_role(roles)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        # GEVENT_RESOLVER=block: the host is an address, and gevent's default resolver
        # hands every new connection's lookup of it to a thread and back, which took a
        # seventh of Locust's CPU (py-spy, docs/loadtest.md).
        env = dict(os.environ, SLUIS_ADMIN_TOKEN=token, PYTHONPATH=str(ROOT),
                   GEVENT_RESOLVER=os.environ.get("GEVENT_RESOLVER", "block"))
        options = locust_options(args, records_dir, start)
        figures: dict[str, Any] | None = None
        if args.generator == "lean":
            prefix = out / "lean"
            gen = lean.Processes(url, options, out, processes, args.lean_connections,
                                 args.mix, out / "lean.log", env, ROOT)
            stack.callback(gen.close)
            if args.generator_cpus:
                pin(gen.pids, parse_cpus(args.generator_cpus))
            log.info("lean generator started (%d process%s, %d connections each), log in %s",
                     processes, "" if processes == 1 else "es", args.lean_connections,
                     gen.log_path)
            watch_lean(gen, sampler, start, opening, args)
            ended_at = time.time()
            exits = gen.wait_for_records(args.records_wait_seconds)
            code = next((c for c in exits if c), 0)
            figures = gen.figures()
            lean.write_locust_csv(figures, prefix, max(1.0, ended_at - start))
            notes = gen.notes()
        else:
            prefix = out / "locust"
            locust = swarm.start(url, options, prefix, processes, out / "locust.log", env)
            stack.callback(locust.close)
            if args.generator_cpus:
                pin([p.pid for p in (locust.master, *locust.workers)],
                    parse_cpus(args.generator_cpus))
            log.info("locust started (%s), log in %s", " ".join(options), locust.log_path)
            watch(locust, sampler, prefix, start, opening, args)
            ended_at = time.time()
            code = locust.master.returncode
            exits = locust.wait_for_records(args.records_wait_seconds)
            notes = locust.notes()
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_after = cpu_by_role(roles)
        sampler.halt.set()
        sampler.join()
        clients.halt.set()
        clients.join()
        time.sleep(1.5)  # every gateway process adds its tallies to the metrics each second
        scrape_after = metrics_text(url)
        engine = engine_places(url, args.room, keys, token) if keys else None
        draw = httpx.get(f"{url}/_sluis/draw", params={"room": args.room},
                         trust_env=False).json()
    if args.run_time:
        notes.insert(0, f"--run-time {args.run_time:g} s")
    rate_changes = []
    if args.rate_change:
        at, _, rate = args.rate_change.partition(":")
        rate_changes.append((float(at), int(rate)))
    # Both scrapes as they came, for what the report does not count (e.g. Redis errors).
    (out / "metrics-before.txt").write_text(scrape_before, encoding="utf-8")
    (out / "metrics-after.txt").write_text(scrape_after, encoding="utf-8")
    # The generator's processes are this process's only children reaped while it ran.
    cpu = {role: round(cpu_after[role] - cpu_before.get(role, 0.0), 1) for role in cpu_after}
    cpu["locust" if args.generator == "locust" else "lean"] = round(
        children_after.ru_utime + children_after.ru_stime
        - children_before.ru_utime - children_before.ru_stime, 1)
    # This process (the sampler, the progress lines) shares the generator's CPUs.
    cpu["run"] = round(self_after.ru_utime + self_after.ru_stime
                       - self_before.ru_utime - self_before.ru_stime, 1)
    files = report.record_files(records_dir)
    run_extra: dict[str, Any] = {"generator": args.generator,
                                 "redis_clients": clients.summary()}
    if figures is not None:
        run_extra["lean"] = lean_summary(figures, args)
    result = report.build(
        records=report.read_records(records_dir), samples=sampler.samples,
        stats=report.read_locust_stats(prefix),
        history=report.read_locust_history(prefix),
        failures=report.read_locust_failures(prefix), engine=engine, draw=draw,
        start=start,
        opens_at=max(opens_at, start), settings=settings, rate_changes=rate_changes,
        run={"start": start, "opens_at": opens_at, "visitors": opening.visitors,
             "size": size, "planned_seconds": opening.duration, "ended_at": ended_at,
             "curve": [[s.count, s.seconds] for s in opening.segments()],
             "url": url, "locust_exit": code, "locust_processes": processes,
             "record_files": len(files), "locust_exits": exits, "locust_notes": notes,
             "status_p99_bar_ms": args.status_p99_ms, "command": " ".join(sys.argv),
             "generator_cpus": args.generator_cpus or "any",
             "stack_cpus": args.stack_cpus or "any", "cpu_seconds": cpu, **run_extra},
        server=report.server_latency(scrape_before, scrape_after))
    (out / "report.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (out / "report.html").write_text(report.html(result), encoding="utf-8")
    print(summary(result))
    print(f"report: {out / 'report.html'}")
    passed = result["run_status"]["complete"] and all(
        v == report.YES for v in result["verdict"].values())
    return 0 if passed else 1


def watch(locust: swarm.Swarm, sampler: Sampler, prefix: Path, start: float,
          opening: Opening, args: argparse.Namespace) -> None:
    """Until Locust's master ends the run: a progress line every few seconds."""
    stop_at = start + args.run_time if args.run_time else None
    while locust.master.poll() is None:
        try:
            locust.master.wait(args.progress_seconds)
        except subprocess.TimeoutExpired:
            log.info("%s", progress(swarm.latest(Path(f"{prefix}_stats_history.csv")),
                                    sampler.samples[-1] if sampler.samples else None,
                                    time.time() - start, opening))
        if stop_at is not None and time.time() >= stop_at + 10:
            locust.stop()  # the shape stops at --run-time; this if it does not


def watch_lean(gen: lean.Processes, sampler: Sampler, start: float, opening: Opening,
               args: argparse.Namespace) -> None:
    """Until the lean generator's processes end the run: a progress line every few
    seconds, with its own errors by kind and how late it started visitors."""
    stop_at = start + args.run_time if args.run_time else None
    while not gen.wait(args.progress_seconds):
        figures = gen.figures()
        line = progress(lean.latest(figures), sampler.samples[-1] if sampler.samples else None,
                        time.time() - start, opening)
        if figures["errors"]:
            line += "  errors " + ", ".join(f"{k} {n:,}" for k, n in
                                            sorted(figures["errors"].items()))
        if figures["lag_max_seconds"] >= 1:
            line += f"  behind the curve by up to {figures['lag_max_seconds']:.1f} s"
        log.info("%s", line)
        if stop_at is not None and time.time() >= stop_at + 10:
            gen.stop()


def lean_summary(figures: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """What the lean generator says of itself: errors by kind, how late it started
    visitors against the curve, how long requests waited for a pooled connection."""
    wait = figures["pool_wait_ms"]
    return {"mix": args.mix,
            "connections_per_process": args.lean_connections,
            "errors_by_kind": figures["errors"],
            "behind_curve_max_seconds": figures["lag_max_seconds"],
            "pool_wait_p99_ms": lean.hist_percentile(wait, 0.99),
            "pool_wait_max_ms": max((float(k) for k in wait), default=None),
            "stale_connection_retries": figures["stale_connection_retries"],
            "users_started": figures["users"]}


class RedisClients(threading.Thread):
    """The local Redis's connected clients, sampled every quarter second: how many
    connections the gateway's pools held at the peak (nothing without a local stack)."""

    def __init__(self, roles: dict[int, str]) -> None:
        super().__init__(daemon=True, name="redis-clients")
        self.port = next((_redis_port(pid) for pid, role in roles.items()
                          if role == "redis"), None)
        self.peak = 0
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        if self.port is None:
            return
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        try:
            while not self.halt.is_set():
                try:
                    info = client.info("clients")
                except redis.RedisError:
                    pass
                else:
                    self.peak = max(self.peak, int(info["connected_clients"]))
                    self.samples += 1
                self.halt.wait(0.25)
        finally:
            client.close()

    def summary(self) -> dict[str, Any]:
        return {"peak_connected": self.peak if self.samples else None,
                "samples": self.samples}


def _redis_port(pid: int) -> int | None:
    """The port of a redis-server: from `--port N`, or from the title it gives itself
    (`redis-server 127.0.0.1:N`)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return None
    for flag, value in itertools.pairwise(words):
        if flag == b"--port" and value.isdigit():
            return int(value)
    for word in words:
        port = word.rpartition(b":")[2]
        if b":" in word and port.isdigit():
            return int(port)
    return None


def progress(history: dict[str, dict[str, Any]], sample: dict[str, Any] | None,
             elapsed: float, opening: Opening) -> str:
    total = history.get("Aggregated", {})
    status = history.get("status", {})
    clock = (f"{elapsed:,.0f}/{opening.duration:,.0f} s" if elapsed >= 0
             else f"starting in {-elapsed:.0f} s")
    parts = [clock, f"users {_int(total.get('User Count')):,}/{opening.visitors + 1:,}"]
    if sample:
        parts += [f"waiting {sample['queued'] + sample['prequeued']:,}",
                  f"live {sample['active']:,}/{sample['max_active']:,}",
                  f"admitted {sample['admitted_total']:,}"]
    parts.append(f"requests {_int(total.get('Total Request Count')):,} "
                 f"({_int(total.get('Total Failure Count')):,} failed)")
    if status.get("99%") not in (None, "", "N/A"):
        parts.append(f"status p99 {status['99%']} ms (last 10 s)")
    return "  ".join(parts)


def _int(v: Any) -> int:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return 0


def locust_options(args: argparse.Namespace, records: Path, start: float) -> list[str]:
    """The locustfile's own options, the same for every Locust process."""
    command = ["--records-dir", str(records), "--room", args.room, "--start-at", str(start),
               "--visitors", str(args.visitors),
               "--prequeue-seconds", str(args.prequeue_seconds),
               "--prequeue-share", str(args.prequeue_share),
               "--spike-seconds", str(args.spike_seconds),
               "--spike-share", str(args.spike_share),
               "--tail-seconds", str(args.tail_seconds),
               "--drain-seconds", str(args.drain_seconds)]
    if args.run_time:
        command += ["--stop-at", str(start + args.run_time)]
    if args.rate_change:
        command += ["--rate-change", args.rate_change]
    if args.no_register:
        command += ["--register", "false"]
    if args.scarce:
        command += ["--scarce", "true"]
    return command


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _get(url: str, token: str, room: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/_sluis/admin/api/rooms/{room}",
                  headers={"authorization": f"Bearer {token}"}, trust_env=False)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return {k: data[k] for k in ("rate_per_minute", "max_active", "session_seconds",
                                 "grace_seconds", "opens_at")}


def _set(url: str, token: str, room: str, changes: dict[str, Any]) -> None:
    r = httpx.patch(f"{url}/_sluis/admin/api/rooms/{room}", json=changes,
                    headers={"authorization": f"Bearer {token}"}, trust_env=False)
    r.raise_for_status()


def summary(o: dict[str, Any]) -> str:
    st = o["run_status"]
    if st["complete"]:
        lines = [f"run complete: {st['ran_seconds']:,.0f} s of a planned "
                 f"{st['planned_seconds']:,.0f} s, {st['recorded_users']:,} users, "
                 "every one recorded"]
    else:
        lines = ["RUN INCOMPLETE: the figures cover only what ran and what was recorded"]
        lines += [f"  - {p}" for p in st["problems"]]
    lines.append(f"load generator: {report.generator_line(o['run'])}")
    lean_figures = o["run"].get("lean")
    if lean_figures:
        lines.append(f"  its own errors by kind: {json.dumps(lean_figures['errors_by_kind'])}; "
                     f"behind the curve by at most {lean_figures['behind_curve_max_seconds']} s;"
                     f" waits for a pooled connection p99 {lean_figures['pool_wait_p99_ms']} ms")
    v = o["visitors"]
    lines.append(f"visitors {v['total']:,}, admitted {v['admitted']:,}, registered "
                 f"{v['registered']:,}, still waiting {v['still_waiting_at_end']:,} "
                 f"(the room itself: admitted {_count(v['admitted_sampled'])}, waiting at "
                 f"the end {_count(v['line_at_end_sampled'])})")
    for e in o["endpoints"]:
        lines.append(f"  {e['name']:<22} {e['requests']:>8,} req {e['failures']:>6,} fail "
                     f"{e['rps']:>8} rps  p50 {e['p50_ms']} ms  p99 {e['p99_ms']} ms")
    for route, e in o["server_latency"].items():
        lines.append(f"  server {route:<15} {e['requests']:>8,} req  p50 {e['p50_ms']} ms  "
                     f"p95 {e['p95_ms']} ms  p99 {e['p99_ms']} ms (≤ {e['p99_le_ms']} ms)")
    lines.append(f"cpu seconds: {json.dumps(o['run'].get('cpu_seconds', {}))}")
    lines.append(f"time to admission: {o['time_to_admission']}")
    lines.append(f"fairness: {json.dumps(o['fairness'])}")
    lines.append(f"eta: {json.dumps(o['eta_accuracy'])}")
    lines.append(f"backend: {json.dumps(o['backend'])}")
    if "places" in o:
        p = o["places"]
        lines.append(f"places: oversold {p['oversold']['places']}, lost {p['lost']['places']},"
                     f" 201s {p['parents_201']}, booked {p['booked_total']}/"
                     f"{p['capacity_total']}")
    lines.append("guarantees:")
    for name, g in o["guarantees"].items():
        lines.append(f"  {name:<20} {g['result']:<13} {g['evidence']}")
    return "\n".join(lines)


def _count(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


if __name__ == "__main__":
    sys.exit(main())
