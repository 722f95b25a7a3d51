"""What the benchmarks share: wrk and its parsing, pinned servers and Redis, the
environment a gateway under test gets, and filling a line with visitors and cookies.
bench.run, bench.proxy and bench.scale import it; it imports none of them."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from gateway import lottery
from gateway.passes import Passes, new_visitor_id
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Store
from gateway.store.connect import client_from_url
from gateway.store.embedded import EmbeddedRedis
from harness.cpu import cpu_seconds, taskset
from harness.processes import ROOT, Served, serve
from harness.sluis import sluis_env

KEY = "bench-key-0123456789abcdefgh"
# Admitted visitors whose requests make up the pass-through run.
ADMITTED = 500
# Visitor cookies per second of a join run: above what one gateway core serves.
FRESH_PER_SECOND = 15_000
HERE = Path(__file__).resolve().parent


_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, conns: int, script: Path | None = None,
        env: dict[str, str] | None = None, headers: dict[str, str] | None = None,
        pid: int | None = None) -> dict[str, float]:
    """One wrk run pinned to CPU 0: req/s, p50 and p99 (ms), failures, and with `pid`
    the CPU time that process spent per request (steadier than req/s on a busy machine)."""
    cmd = [*taskset("0"), "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency",
           "--timeout", "5s"]
    if script:
        cmd += ["-s", str(script)]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    cpu_before = cpu_seconds(pid, children=False) if pid else 0.0
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}).stdout
    cpu = cpu_seconds(pid, children=False) - cpu_before if pid else 0.0
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    n_non2xx = int(non2xx.group(1)) if non2xx else 0
    n_errors = sum(int(x) for x in errors.groups()) if errors else 0
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": float(p50.group(1)) * _SCALE[p50.group(2)] if p50 else float("nan"),
        "p99_ms": float(p99.group(1)) * _SCALE[p99.group(2)] if p99 else float("nan"),
        "non2xx": n_non2xx,
        "errors": n_errors,
        "bad": n_non2xx + n_errors,
        "requests": int(total.group(1)) if total else 0,
        "cpu_us_per_req": (cpu * 1e6 / int(total.group(1))) if total and pid else float("nan"),
    }


def pinned(args: list[str], cpu: str, env: dict[str, str], probe: str, log: Path
           ) -> AbstractContextManager[Served]:
    """A server on `cpu` only, once `probe` answers (taskset execs: the process id stays
    the server's, whose CPU time is measured)."""
    return serve(args, env, log, probe, prefix=taskset(cpu))


def pinned_redis(folder: Path) -> EmbeddedRedis:
    """A started embedded Redis on CPU 0, beside wrk, away from the server under test."""
    server = EmbeddedRedis(folder)
    command = server.command
    server.command = lambda: [*taskset("0"), *command()]  # type: ignore[method-assign]
    server.start()
    return server


def standalone(measure: Callable[[int, int, int], Mapping[str, Any]],
               markdown: Callable[[Any], str], name: str, rounds: int) -> int:
    """`python -m bench.<part>`: one part of `make bench` alone, its JSON in artifacts/."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "artifacts" / f"{name}.json"))
    args = ap.parse_args()
    figures = measure(args.rounds, args.seconds, args.conns)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(markdown(figures))
    return 0


UVICORN = ["-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
           "--log-level", "warning", "--no-proxy-headers", "--no-server-header"]
BARE_APP = [*UVICORN, "bench.bare_app:app"]


def bench_env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """What a server of the benchmarks gets: sluis_env with KEY (unless `extra` names
    other keys), warnings only."""
    return sluis_env(redis_url, data_dir, **{
        "SLUIS_SECRET_KEYS": KEY, "SLUIS_ADMIN_TOKEN": "bench-admin-token-0123456789",
        "SLUIS_LOG_LEVEL": "WARNING", **extra})


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


def fresh_cookies(tmp: Path, name: str, count: int) -> Path:
    """`count` visitor cookies of visitors not yet in any line: each request of a join
    run brings back a cookie the first answer handed out, and takes a new place."""
    passes = Passes([KEY])
    path = tmp / name
    with path.open("w") as fh:
        for _ in range(count):
            fh.write(f"sluis_visitor={passes.visitor_cookie(new_visitor_id())}\n")
    return path


def admitted_cookies(tmp: Path, name: str, count: int) -> Path:
    """The cookie pairs of `count` admitted visitors: the run's requests are spread over
    them, each admission used at about the pace one person uses it (the gateway holds
    each admission to that: gateway/sharing.py)."""
    passes = Passes([KEY])
    path = tmp / name
    with path.open("w") as fh:
        for i in range(count):
            visitor = f"bench-admitted-{i:05d}"
            token = passes.admission.issue("small", visitor, 3600)
            fh.write(f"sluis_visitor={passes.visitor_cookie(visitor)}; "
                     f"sluis_admission={token}\n")
    return path


def await_joined(url: str) -> int:
    """Places made in every room so far (each room's `joined_total`)."""
    async def count() -> int:
        store = Store(client_from_url(url))
        try:
            total = 0
            for room in ("small", "large"):
                raw = await store.client.hget(store.keys(room).state, "joined_total")
                total += int(raw or 0)
            return total
        finally:
            await store.close()
    return asyncio.run(count())


def cookie_file(tmp: Path, name: str, visitors: list[str], step: int = 1) -> Path:
    passes = Passes([KEY])
    path = tmp / name
    with path.open("w") as fh:
        for v in visitors[::step][:5000]:
            fh.write(f"sluis_visitor={passes.visitor_cookie(v)}\n")
    return path



async def store_flush(url: str) -> None:
    store = Store(client_from_url(url))
    await store.client.flushall()
    await store.close()


