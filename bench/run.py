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
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway import lottery
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Store
from gateway.store.connect import client_from_url
from gateway.store.embedded import EmbeddedRedis, free_port
from gateway.tickets import Tickets

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-0123456789abcdefgh"
HERE = Path(__file__).resolve().parent


def taskset(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and os.cpu_count() != 1 else []


def wrk(url: str, seconds: int, conns: int, script: Path | None = None,
        env: dict[str, str] | None = None, headers: dict[str, str] | None = None
        ) -> dict[str, float]:
    cmd = [*taskset("0"), "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency",
           "--timeout", "5s"]
    if script:
        cmd += ["-s", str(script)]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def serve(args: list[str], cpu: str, env: dict[str, str], probe: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([*taskset(cpu), sys.executable, *args, "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url + probe)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


UVICORN = ["-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
           "--log-level", "warning", "--no-proxy-headers", "--no-server-header"]


async def fill(redis_url: str, room: str, n: int, prefix: str) -> list[str]:
    """n visitors waiting in a paused room (nobody admitted, nobody passes at once)."""
    store = Store(client_from_url(redis_url))
    await store.define_room(RoomConfig(name=room, initial=LiveSettings(
        paused=True, max_active=0, rate_per_minute=0, grace_seconds=86_400)), lottery.new_seed())
    visitors = [f"{prefix}{i:011d}" for i in range(n)]
    for i in range(0, n, 5000):
        await asyncio.gather(*(store.join(room, v, may_pass=False) for v in visitors[i:i + 5000]))
    await store.close()
    return visitors


async def memory_per_visitor(redis_url: str, n: int) -> float:
    store = Store(client_from_url(redis_url))
    await store.client.flushall()
    await store.define_room(RoomConfig(name="memory", initial=LiveSettings(max_active=0)),
                            lottery.new_seed())
    await store.join("memory", "warm-up-visitor-0", may_pass=False)
    before = await store.used_memory()
    visitors = [f"m{i:015d}" for i in range(n)]  # same length as real visitor ids (16)
    for i in range(0, n, 5000):
        await asyncio.gather(*(store.join("memory", v, may_pass=False)
                               for v in visitors[i:i + 5000]))
    after = await store.used_memory()
    await store.close()
    return (after - before) / n


def cookie_file(tmp: Path, name: str, visitors: list[str], step: int = 1) -> Path:
    tickets = Tickets([KEY])
    path = tmp / name
    with path.open("w") as fh:
        for v in visitors[::step][:5000]:
            fh.write(f"sluis_visitor={tickets.visitor_cookie(v)}\n")
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--large", type=int, default=1_000_000, help="visitors in the large line")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "bench.json"))
    ap.add_argument("--skip-engine", action="store_true",
                    help="leave out the booking engine's registrations per second")
    ap.add_argument("--skip-proxy", action="store_true",
                    help="leave out proxied requests vs the upstream called directly")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="sluis-bench-"))
    redis_server = EmbeddedRedis(tmp / "redis")
    redis_cmd = redis_server.command
    redis_server.command = lambda: [*taskset("0"), *redis_cmd()]  # type: ignore[method-assign]
    redis_server.start()
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
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUIS_")}
        env.update(PYTHONPATH=str(ROOT), SLUIS_REDIS_URL=url, SLUIS_SECRET_KEYS=KEY,
                   SLUIS_ADMIN_TOKEN="bench-admin-token-0123456789",
                   SLUIS_JOINS_PER_IP_PER_MINUTE="0", SLUIS_CONFIG=str(rooms),
                   SLUIS_DATA_DIR=str(tmp), SLUIS_LOG_LEVEL="WARNING")
        runs: dict[str, list[dict[str, float]]] = {}
        with serve([*UVICORN, "bench.bare_app:app"], "0", env, "/") as upstream:
            env["SLUIS_BACKEND"] = upstream
            for rnd in range(args.rounds):
                with serve([*UVICORN, "bench.bare_app:app"], "1", env, "/") as bare:
                    wrk(bare + "/ping", 1, args.conns)  # warm-up
                    runs.setdefault("bare", []).append(wrk(bare + "/ping", args.seconds,
                                                           args.conns))
                with serve(["-m", "gateway.cli", "gateway"], "1", env, "/_sluis/livez") as gw:
                    wrk(gw + "/_sluis/status", 1, args.conns, HERE / "status.lua",
                        {"SLUIS_BENCH_COOKIES": str(small_cookies)})
                    runs.setdefault("status", []).append(wrk(
                        gw + "/_sluis/status?room=small", args.seconds, args.conns,
                        HERE / "status.lua", {"SLUIS_BENCH_COOKIES": str(small_cookies)}))
                    runs.setdefault("status_1k", []).append(runs["status"][-1])
                    runs.setdefault("status_large", []).append(wrk(
                        gw + "/_sluis/status", args.seconds, args.conns, HERE / "status.lua",
                        {"SLUIS_BENCH_COOKIES": str(large_cookies)}))
                    runs.setdefault("join_html", []).append(wrk(
                        gw + "/kampen", args.seconds, args.conns))
                    runs.setdefault("join_json", []).append(wrk(
                        gw + "/kampen", args.seconds, args.conns,
                        headers={"Accept": "application/json"}))
                    tickets = Tickets([KEY])
                    token = tickets.admission.issue("small", "bench-admitted-01", 3600)
                    jar = (f"sluis_visitor={tickets.visitor_cookie('bench-admitted-01')}; "
                           f"sluis_admission={token}")
                    runs.setdefault("pass_through", []).append(wrk(
                        gw + "/kampen", args.seconds, args.conns, headers={"Cookie": jar}))
                print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        med = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
        results["rps_median"] = med
        results["p99_ms_median"] = {name: statistics.median(r["p99_ms"] for r in rs)
                                    for name, rs in runs.items()}
        results["non2xx_and_errors"] = {name: sum(r["non2xx"] + r["errors"] for r in rs)
                                        for name, rs in runs.items()}
        results["ratio_to_bare"] = {name: round(v / med["bare"], 3) for name, v in med.items()}
        results["status_large_vs_1k"] = round(med["status_large"] / med["status_1k"], 3)
        results["large_line"] = args.large
        results["runs"] = runs
    finally:
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.skip_proxy:
        from bench import proxy

        results["proxy"] = proxy.proxy_figures(args.rounds, args.seconds, args.conns)
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
    from backends.internal.bench import run_bench

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


async def store_flush(url: str) -> None:
    store = Store(client_from_url(url))
    await store.client.flushall()
    await store.close()


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
        "join_html": "join (new visitor, queue page HTML)",
        "join_json": "join (new visitor, JSON)",
        "pass_through": "admitted pass-through (httpx to upstream)",
        "status_large": f"status poll, {r['large_line']:,} waiting",
    }
    lines = ["| case | req/s (median) | ratio to bare | p99 ms | non-2xx + errors |",
             "|---|---:|---:|---:|---:|"]
    for key, label in names.items():
        lines.append(f"| {label} | {med[key]:,.0f} | {ratio[key]:.2f}× | {p99[key]:.1f} | "
                     f"{bad[key]} |")
    lines.append("")
    lines.append(f"Redis memory per waiting visitor: {r['redis_bytes_per_waiting_visitor']} bytes")
    lines.append(f"Status with {r['large_line']:,} waiting ÷ with 1,000 waiting: "
                 f"{r['status_large_vs_1k']:.2f}×")
    proxied = r.get("proxy")
    if isinstance(proxied, dict):
        from bench import proxy

        lines += ["", proxy.markdown(proxied)]
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
