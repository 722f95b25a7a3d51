"""The database handle: engine set-up per dialect and short read or write transactions.

SQLite allows one writer at a time. Write transactions there start with
``BEGIN IMMEDIATE`` (so two writers never deadlock upgrading a read lock) and
queue on an in-process lock first (so they wait in asyncio, not in SQLite's
sleeping busy handler). PostgreSQL needs neither; a deadlock or serialization
failure there is retried a few times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger("sluis.internal.db")

T = TypeVar("T")
WRITE_OPTION = "sluis_write"
_RETRIED_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
_ATTEMPTS = 4


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take transaction control away from the driver so the "begin" hook decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=30000",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = bool(conn.get_execution_options().get(WRITE_OPTION))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def install_sqlite_hooks(engine: AsyncEngine) -> None:
    """Idempotently give a SQLite engine the transaction handling described above."""
    sync = engine.sync_engine
    if engine.dialect.name != "sqlite" or event.contains(sync, "begin", _sqlite_begin):
        return
    event.listen(sync, "connect", _sqlite_connect)
    event.listen(sync, "begin", _sqlite_begin)


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        install_sqlite_hooks(engine)
        return engine
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=60, pool_pre_ping=False
    )


def _retriable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRIED_SQLSTATES


class Database:
    """Runs a function inside one transaction, committed on return, rolled back on error."""

    def __init__(self, engine: AsyncEngine) -> None:
        install_sqlite_hooks(engine)
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sqlite_writer = asyncio.Lock() if self.dialect == "sqlite" else None

    async def read(self, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.engine.begin() as conn:
            return await body(conn)

    async def write(self, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._sqlite_writer is not None:
            async with self._sqlite_writer, self.engine.connect() as conn:
                conn = await conn.execution_options(**{WRITE_OPTION: True})
                async with conn.begin():
                    return await body(conn)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self.engine.begin() as conn:
                    return await body(conn)
            except DBAPIError as exc:
                if not _retriable(exc) or attempt == _ATTEMPTS:
                    raise
                log.warning("transaction retried", extra={"attempt": attempt, "error": str(exc)})
                await asyncio.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()
