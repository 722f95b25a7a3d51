"""The gateway's figures as ratios to a bare Starlette app measured in the same run.

    make bench                      # or: .venv/bin/python -m bench.run [--rounds 3]

Pinned like the measurements in performance-measurements.md: the server under test on
CPU 1; wrk, Redis and the upstream on CPU 0. Rounds interleave the cases so that noise
hits them alike; the figures are medians over rounds. Writes artifacts/bench.json and
prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.tools import (
    ADMITTED,
    BARE_APP,
    FRESH_PER_SECOND,
    HERE,
    admitted_cookies,
    await_joined,
    bench_env,
    cookie_file,
    fill,
    fresh_cookies,
    memory_per_visitor,
    pinned,
    pinned_redis,
    store_flush,
    wrk,
)
from gateway.common.net import free_port
from harness.processes import ROOT
from harness.sluis import GATEWAY


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--large", type=int, default=1_000_000, help="visitors in the large line")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "bench.json"),
                    help="the JSON file the figures are written to")
    ap.add_argument("--skip-engine", action="store_true",
                    help="leave out the booking engine's registrations per second")
    ap.add_argument("--skip-proxy", action="store_true",
                    help="leave out proxied requests vs the upstream called directly")
    ap.add_argument("--skip-scale", action="store_true",
                    help="leave out 1 and 2 gateway processes behind HAProxy")
    args = ap.parse_args()
    if Path(args.out).is_dir():
        # Said now, not after minutes of measuring that could not be written.
        ap.error(f"--out names a file to write, and {args.out} is a folder")

    tmp = Path(tempfile.mkdtemp(prefix="sluis-bench-"))
    redis_server = pinned_redis(tmp / "redis")
    results: dict[str, object] = {"rounds": args.rounds, "seconds": args.seconds,
                                  "conns": args.conns, "python": platform.python_version(),
                                  "cpus": os.cpu_count()}
    try:
        url = redis_server.url
        results["redis_bytes_per_waiting_visitor"] = round(
            asyncio.run(memory_per_visitor(url, 100_000)), 1)
        asyncio.run(store_flush(url))
        small = asyncio.run(fill(url, "small", 1_000, "s"))
        large = asyncio.run(fill(url, "large", args.large, "l"))
        small_cookies = cookie_file(tmp, "small.txt", small)
        large_cookies = cookie_file(tmp, "large.txt", large, step=max(1, len(large) // 5000))
        rooms = tmp / "rooms.toml"
        rooms.write_text("[rooms.small]\npaused = true\nmax_active = 0\nrate_per_minute = 0\n"
                         "grace_seconds = 86400\n"
                         "[rooms.large]\npaused = true\nmax_active = 0\nrate_per_minute = 0\n"
                         "grace_seconds = 86400\n")
        env = bench_env(url, tmp, SLUIS_CONFIG=str(rooms))
        runs: dict[str, list[dict[str, float]]] = {}
        with pinned(BARE_APP, "0", env, "/", tmp / "upstream.log") as upstream:
            env["SLUIS_BACKEND"] = upstream.url
            for rnd in range(args.rounds):
                with pinned(BARE_APP, "1", env, "/", tmp / "bare.log") as server:
                    bare, pid = server.url, server.pid
                    wrk(bare + "/ping", 1, args.conns)  # warm-up
                    runs.setdefault("bare", []).append(wrk(bare + "/ping", args.seconds,
                                                           args.conns, pid=pid))
                with pinned(GATEWAY, "1", env, "/_sluis/livez", tmp / "gateway.log") as server:
                    gw, pid = server.url, server.pid
                    small_env = {"SLUIS_BENCH_COOKIES": str(small_cookies)}
                    large_env = {"SLUIS_BENCH_COOKIES": str(large_cookies)}
                    status = HERE / "status.lua"
                    wrk(gw + "/_sluis/status?room=small", 1, args.conns, status, small_env)
                    runs.setdefault("status", []).append(wrk(
                        gw + "/_sluis/status?room=small", args.seconds, args.conns, status,
                        small_env, pid=pid))
                    runs.setdefault("status_large", []).append(wrk(
                        gw + "/_sluis/status?room=large", args.seconds, args.conns, status,
                        large_env, pid=pid))
                    runs.setdefault("arrive_html", []).append(wrk(
                        gw + "/kampen", args.seconds, args.conns, pid=pid))
                    # More cookies than a run can use, so every request is a new place.
                    fresh = FRESH_PER_SECOND * args.seconds
                    for case, headers in (("join_html", {}),
                                          ("join_json", {"Accept": "application/json"})):
                        newcomers = {"SLUIS_BENCH_COOKIES": str(fresh_cookies(
                            tmp, f"{case}-{rnd}.txt", fresh))}
                        joined_before = await_joined(url)
                        run = wrk(gw + "/kampen", args.seconds, args.conns, status,
                                  newcomers, headers=headers, pid=pid)
                        run["new_places"] = await_joined(url) - joined_before
                        runs.setdefault(case, []).append(run)
                    admitted = {"SLUIS_BENCH_COOKIES": str(admitted_cookies(
                        tmp, f"admitted-{rnd}.txt", ADMITTED))}
                    runs.setdefault("pass_through", []).append(wrk(
                        gw + "/kampen", args.seconds, args.conns, status, admitted, pid=pid))
                print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        med = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
        results["rps_median"] = med
        results["p99_ms_median"] = {name: statistics.median(r["p99_ms"] for r in rs)
                                    for name, rs in runs.items()}
        results["non2xx_and_errors"] = {name: sum(r["non2xx"] + r["errors"] for r in rs)
                                        for name, rs in runs.items()}
        results["ratio_to_bare"] = {name: round(v / med["bare"], 3) for name, v in med.items()}
        cpu = {name: statistics.median(r["cpu_us_per_req"] for r in rs)
               for name, rs in runs.items()}
        results["cpu_us_per_request"] = {name: round(v, 1) for name, v in cpu.items()}
        # The same ratio from CPU time per request: what one core of each serves,
        # insensitive to other work on the machine (which slows both, not each request).
        results["cpu_ratio_to_bare"] = {name: round(cpu["bare"] / v, 3)
                                        for name, v in cpu.items()}
        # A new visitor costs two requests: the first answer (the cookie) and the join.
        results["new_visitor_html_ratio"] = round(
            1 / (1 / results["ratio_to_bare"]["arrive_html"]  # type: ignore[index]
                 + 1 / results["ratio_to_bare"]["join_html"]), 3)  # type: ignore[index]
        results["join_new_places_share"] = {
            case: round(sum(r["new_places"] for r in runs[case])
                        / max(1.0, sum(r["requests"] for r in runs[case])), 3)
            for case in ("join_html", "join_json")}
        results["status_large_vs_1k"] = round(med["status_large"] / med["status"], 3)
        results["status_large_vs_1k_cpu"] = round(cpu["status"] / cpu["status_large"], 3)
        results["large_line"] = args.large
        results["runs"] = runs
    finally:
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.skip_proxy:
        from bench import proxy

        results["proxy"] = proxy.proxy_figures(args.rounds, args.seconds, args.conns)
    if not args.skip_scale:
        from bench import scale

        results["scale"] = scale.scale_figures(args.rounds, args.seconds, args.conns)
    if not args.skip_engine:
        results["booking_engine"] = engine_figures()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


def engine_figures() -> dict[str, object]:
    """The internal booking engine's registrations per second at saturation, on SQLite
    and on a PostgreSQL server started here (Debian's packages; scripts/postgres.sh)."""
    from bench.booking import run_bench

    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="sluis-bench-sqlite-") as d:
        figures["sqlite"] = asyncio.run(run_bench(f"sqlite+aiosqlite:///{d}/bench.sqlite3"))
    pg_dir = Path(tempfile.mkdtemp(prefix="sluis-bench-pg-"))
    pg_dir.chmod(0o755)  # the server runs as the unprivileged postgres user
    script = ROOT / "scripts" / "postgres.sh"
    subprocess.run(["bash", str(script), "install"], check=True, stdout=subprocess.DEVNULL)
    started = subprocess.run(["bash", str(script), "start", str(pg_dir / "pg"), str(free_port())],
                             check=True, capture_output=True, text=True)
    url = started.stdout.strip().splitlines()[-1]
    try:
        figures["postgresql"] = asyncio.run(run_bench(url))
    finally:
        subprocess.run(["bash", str(script), "stop", str(pg_dir / "pg")], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(pg_dir, ignore_errors=True)
    return figures


def markdown(r: dict[str, object]) -> str:
    med = r["rps_median"]
    ratio = r["ratio_to_bare"]
    p99 = r["p99_ms_median"]
    bad = r["non2xx_and_errors"]
    assert isinstance(med, dict) and isinstance(ratio, dict) and isinstance(p99, dict)
    assert isinstance(bad, dict)
    names = {
        "bare": "bare Starlette app (ceiling)",
        "status": "status poll, 1,000 waiting",
        "arrive_html": "a new visitor's first answer (the cookie, no place; HTML)",
        "join_html": "join (the cookie comes back: a new place; queue page HTML)",
        "join_json": "join (the cookie comes back: a new place; JSON)",
        "pass_through": "admitted pass-through (proxied to the upstream)",
        "status_large": f"status poll, {r['large_line']:,} waiting",
    }
    cpu = r["cpu_us_per_request"]
    cpu_ratio = r["cpu_ratio_to_bare"]
    assert isinstance(cpu, dict) and isinstance(cpu_ratio, dict)
    lines = ["| case | req/s (median) | ratio to bare | server CPU µs/req | CPU ratio to bare "
             "| p99 ms | non-2xx + errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for key, label in names.items():
        lines.append(f"| {label} | {med[key]:,.0f} | {ratio[key]:.2f}× | {cpu[key]:.0f} | "
                     f"{cpu_ratio[key]:.2f}× | {p99[key]:.1f} | {bad[key]} |")
    lines.append("")
    lines.append(f"A new visitor (first answer + join, HTML), as a ratio of bare requests: "
                 f"{r['new_visitor_html_ratio']:.2f}×; share of join requests that made a "
                 f"new place: {r['join_new_places_share']}")
    lines.append(f"Redis memory per waiting visitor: {r['redis_bytes_per_waiting_visitor']} bytes")
    lines.append(f"Status with {r['large_line']:,} waiting ÷ with 1,000 waiting: "
                 f"{r['status_large_vs_1k']:.2f}× (req/s), "
                 f"{r['status_large_vs_1k_cpu']:.2f}× (CPU per request)")
    proxied = r.get("proxy")
    if isinstance(proxied, dict):
        from bench import proxy

        lines += ["", proxy.markdown(proxied)]
    scaled = r.get("scale")
    if isinstance(scaled, dict):
        from bench import scale

        lines += ["", scale.markdown(scaled)]
    engine = r.get("booking_engine")
    if isinstance(engine, dict):
        lines += ["", "| booking engine | registrations/s | p50 ms | p99 ms | clients |",
                  "|---|---:|---:|---:|---:|"]
        for db, f in engine.items():
            lat = f["latency_ms"]
            lines.append(f"| {db} | {f['registrations_per_second']:,.0f} | "
                         f"{lat['p50']} | {lat['p99']} | {f['clients']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
