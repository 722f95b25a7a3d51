"""Brings the schema to the newest migration (`alembic upgrade head`) at start-up."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from backends.internal.db import WRITE_OPTION, install_sqlite_hooks

log = logging.getLogger("sluis.internal.migrate")

MIGRATIONS = Path(__file__).parent / "migrations"
# Several workers may start at once; on PostgreSQL they take turns on this lock.
_PG_MIGRATION_LOCK = 0x51_5E_00_01


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    install_sqlite_hooks(engine)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{WRITE_OPTION: True})
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            await conn.commit()
        try:
            await conn.run_sync(_upgrade, revision)
            await conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                await conn.commit()
    log.info("schema up to date", extra={"revision": revision})


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    install_sqlite_hooks(engine)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{WRITE_OPTION: True})
        await conn.run_sync(_downgrade, revision)
        await conn.commit()
