"""Registrations per second at saturation, against a database URL, through the ASGI app.

A fresh database (a temporary SQLite file, or a temporary PostgreSQL database
created beside the one the URL names and dropped afterwards) gets many sessions
with room to spare; `clients` concurrent clients then register children as fast
as the app answers. The requests go through the whole app (middleware, admission
check, validation, the booking transaction), driven over ASGI in-process so that
no HTTP client's cost is counted as the engine's.

    python -m bench.booking postgresql+asyncpg://user@host/db --clients 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Message

from backends.admission import AdmissionCodec
from backends.internal.app import create_app
from backends.internal.db import make_engine
from backends.internal.programme import ActivitySpec, SessionSpec, store
from backends.internal.settings import InternalSettings
from backends.internal.tables import registrations, sessions

log = logging.getLogger("sluis.bench.booking")

_KEYS = ("bench-key",)


@asynccontextmanager
async def _fresh_database(url: str) -> AsyncIterator[str]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sluis-bench-") as directory:
            yield f"sqlite+aiosqlite:///{Path(directory) / 'bench.sqlite3'}"
        return
    name = f"sluis_bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url, pool_size=1)
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _call(app: ASGIApp, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One POST through the ASGI app; returns the status code."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }
    delivered = False
    status = 0

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def _programme(session_count: int, capacity: int) -> list[ActivitySpec]:
    first = datetime(2027, 7, 5, 7, 0, tzinfo=UTC)
    return [
        ActivitySpec(
            kind="camp",
            name=f"Benchkamp {a + 1}",
            born_from_year=2012,
            born_to_year=2022,
            sessions=tuple(
                SessionSpec(
                    starts_at=first + timedelta(days=s),
                    ends_at=first + timedelta(days=s, hours=7),
                    capacity=capacity,
                    price_resident_cents=8500,
                    price_non_resident_cents=11000,
                    label=f"Dag {s + 1}",
                )
                for s in range(10)
            ),
        )
        for a in range(max(1, session_count // 10))
    ]


async def run_bench(
    database_url: str,
    *,
    clients: int = 64,
    registrations_total: int = 4000,
    session_count: int = 100,
    warmup: int = 200,
) -> dict[str, Any]:
    """Measure registrations/s with `clients` concurrent clients; returns the figures."""
    capacity = registrations_total + warmup  # never full: the measure is the happy path
    async with _fresh_database(database_url) as url:
        settings = InternalSettings(
            database_url=url,
            secret_keys=_KEYS,
            sweep_seconds=3600,
            pool_size=max(5, min(clients, 40) // 2),
        )
        app = create_app(settings)
        token = AdmissionCodec(_KEYS).issue("bench", "bench-visitor-01", 3600).encode()
        headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"sluis-admission", token),
        ]
        async with app.router.lifespan_context(app):
            ctx = app.state.booking_context
            now = datetime.now(UTC)
            await ctx.db.write(lambda conn: store(conn, _programme(session_count, capacity), now))
            session_ids = await ctx.db.read(lambda conn: _ids(conn))
            issued = 0
            latencies: list[float] = []
            statuses: Counter[int] = Counter()

            async def client(measure_until: int) -> None:
                nonlocal issued
                while issued < measure_until:
                    n = issued
                    issued += 1
                    body = orjson.dumps(
                        {
                            "session_id": session_ids[n % len(session_ids)],
                            "child": {
                                "first_name": _letters(n),
                                "last_name": "Bench",
                                "birth_date": "2017-06-01",
                            },
                            "household": {"email": f"ouder{n}@bench.example", "postcode": "9990"},
                        }
                    )
                    started = time.perf_counter()
                    status = await _call(app, "/api/registrations", body, headers)
                    if n >= warmup:
                        latencies.append(time.perf_counter() - started)
                        statuses[status] += 1

            await asyncio.gather(*(client(warmup) for _ in range(min(clients, warmup))))
            started = time.perf_counter()
            await asyncio.gather(*(client(warmup + registrations_total) for _ in range(clients)))
            elapsed = time.perf_counter() - started

            booked, rows = await ctx.db.read(_totals)
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "database": make_url(database_url).get_backend_name(),
        "clients": clients,
        "sessions": len(session_ids),
        "registrations": registrations_total,
        "seconds": round(elapsed, 3),
        "registrations_per_second": round(statuses[201] / elapsed, 1),
        "status_codes": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "mean": round(statistics.fmean(latencies) * 1000, 2),
        },
        # The count the database keeps and the rows it holds must agree exactly.
        "booked_total": booked,
        "registration_rows": rows,
    }


async def _ids(conn: Any) -> list[int]:
    return [
        int(i)
        for i in (await conn.execute(select(sessions.c.id).order_by(sessions.c.id))).scalars()
    ]


async def _totals(conn: Any) -> tuple[int, int]:
    booked = (await conn.execute(select(func.sum(sessions.c.booked)))).scalar_one()
    rows = (await conn.execute(select(func.count()).select_from(registrations))).scalar_one()
    return int(booked or 0), int(rows)


def _letters(n: int) -> str:
    text_ = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text_ = chr(97 + rest) + text_
    return "Kind" + text_


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.booking")
    parser.add_argument("database_url")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--registrations", type=int, default=4000)
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    figures = runner(
        run_bench(
            args.database_url,
            clients=args.clients,
            registrations_total=args.registrations,
            session_count=args.sessions,
        )
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
