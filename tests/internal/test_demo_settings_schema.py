"""The demo programme, the settings from the environment, and the schema the migrations make."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from backends.internal.db import make_engine
from backends.internal.demo import load_demo_data
from backends.internal.migrate import downgrade, upgrade
from backends.internal.settings import DEMO_RESIDENT_POSTCODES, InternalSettings
from backends.internal.tables import activities, metadata, sessions


async def test_the_demo_loads_once_however_often_it_is_asked(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert await load_demo_data(engine) == 14
        assert await load_demo_data(engine) == 0
        async with engine.connect() as conn:
            kinds = dict(
                (
                    await conn.execute(
                        select(activities.c.kind, func.count()).group_by(activities.c.kind)
                    )
                ).all()
            )
            caps = (
                await conn.execute(
                    select(func.min(sessions.c.capacity), func.max(sessions.c.capacity))
                    .join(activities)
                    .where(activities.c.kind == "camp")
                )
            ).one()
            total = (await conn.execute(select(func.count()).select_from(sessions))).scalar_one()
        assert kinds == {"camp": 12, "swim": 2}
        assert tuple(caps) == (12, 40)
        assert total > 50
    finally:
        await engine.dispose()


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_the_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        await downgrade(engine)
        await upgrade(engine)
    finally:
        await engine.dispose()


def test_settings_come_from_the_environment_with_safe_defaults() -> None:
    s = InternalSettings.from_env({"SLUIS_SECRET_KEYS": "old, new", "SLUIS_DATA_DIR": "/srv/x"})
    assert s.secret_keys == ("old", "new")
    assert s.database_url == "sqlite+aiosqlite:////srv/x/booking.sqlite3"
    assert s.require_admission and not s.demo_data and s.admin_token is None
    assert s.hold_minutes == 15
    assert s.resident_postcodes == frozenset()
    demo = InternalSettings.from_env({"SLUIS_SECRET_KEYS": "k", "SLUIS_INTERNAL_DEMO_DATA": "1"})
    assert demo.demo_data and demo.resident_postcodes == DEMO_RESIDENT_POSTCODES


def test_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="SLUIS_SECRET_KEYS"):
        InternalSettings.from_env({})
    with pytest.raises(ValueError, match="true or false"):
        InternalSettings.from_env({"SLUIS_SECRET_KEYS": "k", "SLUIS_INTERNAL_DEMO_DATA": "maybe"})
    alone = InternalSettings.from_env({"SLUIS_INTERNAL_REQUIRE_ADMISSION": "false"})
    assert not alone.require_admission
    default = Path(".sluis") / "booking.sqlite3"
    assert alone.database_url == f"sqlite+aiosqlite:///{default}"
