"""Scale-out figures: status polls through HAProxy to 1 and 2 gateway processes, beside a
bare Starlette app behind the same HAProxy, in one run.

    .venv/bin/python -m bench.scale [--rounds 3] [--seconds 5] [--conns 64]

Pinned as in bench/run.py: wrk, Redis and HAProxy on CPU 0; the first server process on
CPU 1, the second on CPU 0 (on a two-core machine the second process shares its core
with the load generator, so the 2-process figure is a floor). Rounds interleave the
cases; figures are medians. Beside requests per second, the CPU time each part spends
per request (gateway processes, HAProxy, Redis) is measured from /proc: those per-core
figures are what docs/scaling.md turns into a capacity estimate.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.tools import (
    BARE_APP,
    HERE,
    bench_env,
    cookie_file,
    fill,
    pinned,
    pinned_redis,
    standalone,
    wrk,
)
from harness.cpu import cpu_seconds, taskset
from harness.engines import haproxy
from harness.sluis import GATEWAY

CASES = ("bare1", "gate1", "bare2", "gate2")
SERVER_CPUS = ("1", "0")


def measure(url: str, seconds: int, conns: int, pids: dict[str, list[int]],
            cookies: Path | None) -> dict[str, float]:
    """One wrk run; requests per second, p99, and CPU µs per request of each part."""
    script = HERE / "status.lua" if cookies else None
    env = {"SLUIS_BENCH_COOKIES": str(cookies)} if cookies else None
    path = "/_sluis/status" if cookies else "/ping"
    wrk(url + path, 1, conns, script, env)  # warm-up: connections, caches, HAProxy's checks
    before = {part: sum(cpu_seconds(p, children=False) for p in ids)
              for part, ids in pids.items()}
    result = wrk(url + path, seconds, conns, script, env)
    after = {part: sum(cpu_seconds(p, children=False) for p in ids)
             for part, ids in pids.items()}
    total = result["rps"] * seconds
    for part in pids:
        result[f"{part}_us_per_request"] = (after[part] - before[part]) * 1e6 / max(total, 1)
    return result


def scale_figures(rounds: int = 3, seconds: int = 5, conns: int = 64,
                  waiting: int = 1_000) -> dict[str, Any]:
    """Status polls per second through HAProxy, 1 and 2 server processes, gateway and
    bare app, medians over `rounds`; with CPU µs per request of every part."""
    tmp = Path(tempfile.mkdtemp(prefix="sluis-bench-scale-"))
    redis_server = pinned_redis(tmp / "redis")
    runs: dict[str, list[dict[str, float]]] = {case: [] for case in CASES}
    try:
        assert redis_server.process is not None
        redis_pid = redis_server.process.pid
        visitors = asyncio.run(fill(redis_server.url, "small", waiting, "s"))
        cookies = cookie_file(tmp, "small.txt", visitors)
        rooms = tmp / "rooms.toml"
        rooms.write_text("[rooms.small]\npaused = true\nmax_active = 0\nrate_per_minute = 0\n"
                         "grace_seconds = 86400\n")
        env = bench_env(redis_server.url, tmp, SLUIS_CONFIG=str(rooms),
                        SLUIS_TRUSTED_PROXIES="127.0.0.1", SLUIS_BACKEND="http://127.0.0.1:9")
        balancer = shutil.which("haproxy")
        if not balancer:
            raise SystemExit("bench.scale needs haproxy (apt-get install -y haproxy)")
        for rnd in range(rounds):
            order = CASES if rnd % 2 == 0 else tuple(reversed(CASES))
            for case in order:
                gate = case.startswith("gate")
                count = int(case[-1])
                args, probe = (GATEWAY, "/_sluis/livez") if gate else (BARE_APP, "/")
                with ExitStack() as stack:
                    servers = [stack.enter_context(pinned(
                        args, SERVER_CPUS[i], env, probe, tmp / f"server{i}.log"))
                        for i in range(count)]
                    lb = stack.enter_context(haproxy(
                        [server.address for server in servers], tmp / "haproxy.log",
                        source="127.0.0.1", binary=balancer, prefix=taskset("0"),
                        probe="/_sluis/livez"))
                    pids = {"server": [server.pid for server in servers], "haproxy": [lb.pid],
                            "redis": [redis_pid]}
                    runs[case].append(measure(lb.url, seconds, conns, pids,
                                              cookies if gate else None))
            print(f"round {rnd + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return summarise(runs, rounds=rounds, seconds=seconds, conns=conns, waiting=waiting)


def summarise(runs: dict[str, list[dict[str, float]]], **setup: int) -> dict[str, Any]:
    def med(case: str, field: str) -> float:
        return statistics.median(r[field] for r in runs[case])

    figures: dict[str, Any] = {**setup, "cpus": os.cpu_count(), "cases": {}}
    for case in CASES:
        figures["cases"][case] = {
            "rps": round(med(case, "rps")),
            "p99_ms": round(med(case, "p99_ms"), 1),
            "non2xx_and_errors": int(sum(r["non2xx"] + r["errors"] for r in runs[case])),
            "server_us_per_request": round(med(case, "server_us_per_request"), 1),
            "haproxy_us_per_request": round(med(case, "haproxy_us_per_request"), 1),
            "redis_us_per_request": round(med(case, "redis_us_per_request"), 1),
        }
    c = figures["cases"]
    figures["ratio_to_bare"] = {"1": round(c["gate1"]["rps"] / c["bare1"]["rps"], 3),
                                "2": round(c["gate2"]["rps"] / c["bare2"]["rps"], 3)}
    figures["gate2_vs_gate1"] = round(c["gate2"]["rps"] / c["gate1"]["rps"], 3)
    figures["runs"] = runs
    return figures


def markdown(figures: dict[str, Any]) -> str:
    labels = {"bare1": "bare Starlette app, 1 process", "gate1": "gateway, 1 process",
              "bare2": "bare Starlette app, 2 processes", "gate2": "gateway, 2 processes"}
    lines = ["| behind HAProxy | req/s (median) | p99 ms | non-2xx + errors | "
             "server CPU µs/req | HAProxy CPU µs/req | Redis CPU µs/req |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for case, label in labels.items():
        f = figures["cases"][case]
        lines.append(f"| {label} | {f['rps']:,} | {f['p99_ms']} | {f['non2xx_and_errors']} | "
                     f"{f['server_us_per_request']} | {f['haproxy_us_per_request']} | "
                     f"{f['redis_us_per_request']} |")
    ratio = figures["ratio_to_bare"]
    lines += ["",
              f"Gateway ÷ bare app: {ratio['1']:.2f}× with 1 process, {ratio['2']:.2f}× with 2; "
              f"2 gateway processes ÷ 1: {figures['gate2_vs_gate1']:.2f}× "
              f"({figures['rounds']} rounds of {figures['seconds']} s, {figures['conns']} "
              f"connections, {figures['waiting']:,} waiting, {figures['cpus']} CPUs)."]
    return "\n".join(lines)


def main() -> int:
    return standalone(scale_figures, markdown, "bench-scale", rounds=3)


if __name__ == "__main__":
    sys.exit(main())
