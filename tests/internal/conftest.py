"""Fixtures: a real PostgreSQL server per test session, a fresh database per test, the app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from backends.internal.settings import InternalSettings

from .pgserver import PostgresServer, find_bindir
from .support import ADMIN_TOKEN, KEYS, RESIDENT_POSTCODES, START, Clock, Running, running


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        message = (
            "PostgreSQL not found (looked in /usr/lib/postgresql/*/bin and PATH): "
            "run scripts/postgres.sh as root, or set SLUIS_PG_BINDIR"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/booking.sqlite3"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield server.url(name)
    admin = await asyncpg.connect(server.dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(database_url: str) -> InternalSettings:
    return InternalSettings(
        database_url=database_url,
        secret_keys=KEYS,
        admin_token=ADMIN_TOKEN,
        resident_postcodes=RESIDENT_POSTCODES,
        sweep_seconds=3600,  # tests release lapsed places themselves, at moments they choose
    )


@pytest.fixture
async def engine_app(settings: InternalSettings, clock: Clock) -> AsyncIterator[Running]:
    async with running(settings, clock) as r:
        yield r


@pytest.fixture
async def sqlite_app(tmp_path: os.PathLike[str], clock: Clock) -> AsyncIterator[Running]:
    """For pages and formats, where the database makes no difference: SQLite only."""
    settings = InternalSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/pages.sqlite3",
        secret_keys=KEYS,
        admin_token=ADMIN_TOKEN,
        resident_postcodes=RESIDENT_POSTCODES,
        sweep_seconds=3600,
    )
    async with running(settings, clock) as r:
        yield r
