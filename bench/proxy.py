"""Proxied requests as a ratio to the same upstream called directly, in the same run.

    .venv/bin/python -m bench.proxy [--rounds 5] [--seconds 5] [--conns 64]

The server under test gets CPU 1 to itself: in the direct case the upstream (the bare
Starlette "pong" app), in the proxied case the gateway. wrk and, in the proxied case,
the upstream run on CPU 0, as in bench/run.py: the ratio compares one core of gateway
with one core of upstream. Rounds interleave the two cases (alternating which goes
first) so that noise from other work on the machine hits both alike; figures are
medians over rounds. The latency the gateway adds is measured with one connection,
where queueing does not hide it: p50 proxied minus p50 direct.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.tools import BARE_APP, bench_env, pinned, pinned_redis, standalone, wrk
from gateway.passes import Passes
from harness.sluis import GATEWAY

KEY = "bench-proxy-key-0123456789abcdef"
ROOM = "bench"
VISITOR = "bench-proxy-visitor-01"


def proxy_figures(rounds: int = 5, seconds: int = 5, conns: int = 64) -> dict[str, object]:
    """Medians over interleaved rounds of direct and proxied small responses."""
    tmp = Path(tempfile.mkdtemp(prefix="sluis-bench-proxy-"))
    redis_server = pinned_redis(tmp / "redis")
    passes = Passes([KEY])
    jar = (f"sluis_visitor={passes.visitor_cookie(VISITOR)}; "
           f"sluis_admission={passes.admission.issue(ROOM, VISITOR, 86_400)}")
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        env = bench_env(redis_server.url, tmp, SLUIS_SECRET_KEYS=KEY,
                        SLUIS_RENEW_EVERY_SECONDS="86400",
                        # One admission carries the whole load here, which the
                        # per-admission limits would refuse; bench.run's pass-through
                        # measures them.
                        SLUIS_INFLIGHT_PER_ADMISSION="0",
                        SLUIS_REQUESTS_PER_ADMISSION_PER_MINUTE="0")
        with pinned(BARE_APP, "0", env, "/", tmp / "upstream.log") as upstream_server, \
                pinned(BARE_APP, "1", env, "/", tmp / "direct.log") as direct:
            upstream = upstream_server.url
            rooms = tmp / "rooms.toml"
            rooms.write_text(f'[rooms.{ROOM}]\nbackend = "proxy"\nupstream = "{upstream}"\n'
                             "max_active = 1000000\nmax_inflight = 4096\n")
            env["SLUIS_CONFIG"] = str(rooms)
            env["SLUIS_BACKEND"] = upstream
            with pinned(GATEWAY, "1", env, "/_sluis/livez", tmp / "gateway.log") as gw:
                cases = {"direct": (direct, {}), "proxied": (gw, {"Cookie": jar})}
                for server, headers in cases.values():  # warm-up: connections, caches
                    wrk(server.url + "/kampen", 1, conns, headers=headers)
                for rnd in range(rounds):
                    order = list(cases) if rnd % 2 == 0 else list(reversed(cases))
                    for name in order:
                        server, headers = cases[name]
                        base = server.url
                        runs.setdefault(name, []).append(wrk(base + "/kampen", seconds, conns,
                                                             headers=headers, pid=server.pid))
                        runs.setdefault(f"{name}_1conn", []).append(
                            wrk(base + "/kampen", max(1, seconds // 2), 1, headers=headers))
                    print(f"round {rnd + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    rps = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    p50 = {name: statistics.median(r["p50_ms"] for r in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(r["cpu_us_per_req"] for r in runs[name])
           for name in ("direct", "proxied")}
    return {
        "rounds": rounds, "seconds": seconds, "conns": conns,
        "rps_median": rps,
        "p50_ms_median": p50,
        "ratio": round(rps["proxied"] / rps["direct"], 3) if rps["direct"] else 0.0,
        "cpu_us_per_request": cpu,
        # What one core of gateway serves relative to one core of upstream.
        "cpu_ratio": round(cpu["direct"] / cpu["proxied"], 3) if cpu["proxied"] else 0.0,
        "added_p50_ms": round(p50["proxied_1conn"] - p50["direct_1conn"], 3),
        "bad_responses": {name: sum(int(r["bad"]) for r in rs) for name, rs in runs.items()},
        "runs": runs,
    }


def markdown(figures: dict[str, object]) -> str:
    rps, p50, bad = figures["rps_median"], figures["p50_ms_median"], figures["bad_responses"]
    cpu = figures["cpu_us_per_request"]
    assert isinstance(rps, dict) and isinstance(p50, dict) and isinstance(bad, dict)
    assert isinstance(cpu, dict)
    conns = figures["conns"]
    lines = [
        f"| case | req/s, {conns} conns (median) | server CPU µs/req | p50 ms, {conns} conns "
        "| p50 ms, 1 conn | non-2xx + errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {"direct": "upstream called directly (CPU 1)",
              "proxied": "through the gateway's proxy (gateway on CPU 1)"}
    for name, label in labels.items():
        lines.append(f"| {label} | {rps[name]:,.0f} | {cpu[name]:.0f} | {p50[name]:.2f} | "
                     f"{p50[name + '_1conn']:.3f} | {bad[name] + bad[name + '_1conn']} |")
    lines += ["",
              f"Proxied ÷ direct throughput: {figures['ratio']:.2f}× (target ≥ 0.5×)",
              f"Direct ÷ proxied server CPU per request (one core of gateway against one "
              f"core of upstream, insensitive to other load): {figures['cpu_ratio']:.2f}×",
              f"p50 latency the gateway adds (1 connection): {figures['added_p50_ms']:.3f} ms "
              "(target ≤ 2 ms)",
              f"Medians over {figures['rounds']} interleaved rounds of {figures['seconds']} s."]
    return "\n".join(lines)


def main() -> int:
    return standalone(proxy_figures, markdown, "bench-proxy", rounds=5)


if __name__ == "__main__":
    sys.exit(main())
