"""Test fixtures: a real redis-server (started here, flushed per test), never a fake."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from gateway.rooms import LiveSettings, RoomConfig
from gateway.settings import Settings
from gateway.store import Store
from gateway.store.connect import client_from_url
from gateway.store.embedded import EmbeddedRedis

KEYS = ("test-key-0123456789abcdef",)
ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    s = Store(client_from_url(redis_url), joins_per_ip_per_minute=0)
    yield s
    await s.close()


def make_settings(redis_url: str, tmp: Path, **live: object) -> Settings:
    initial = LiveSettings(**live)  # type: ignore[arg-type]
    return Settings(
        redis_url=redis_url,
        data_dir=tmp,
        secret_keys=KEYS,
        admin_token=ADMIN_TOKEN,
        backend="http://127.0.0.1:9",
        internal_url=None,
        database_url=None,
        port=0,
        joins_per_ip_per_minute=0,
        trusted_proxies=(),
        rooms=(RoomConfig(name="default", title="Zomerkampen", initial=initial),),
    )


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs a command in-process (gateway.cli.main) configures logging for a
    process: its handler on the stderr of that moment, and the root level. Put back
    afterwards, so that later tests neither write to a closed stream nor capture other
    libraries' records."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def pytest_collection_finish(session: pytest.Session) -> None:
    # A run that collects nothing must fail loudly, never pass silently.
    if not session.items and not os.environ.get("SLUIS_ALLOW_EMPTY"):
        raise pytest.UsageError("no tests were collected")
