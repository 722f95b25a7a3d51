"""The gateway's Redis pool under a burst: more calls in flight than connections wait
their turn for a connection (as long as the call's timeout at most) instead of being
refused. The 503s of the 10,000-visitor rehearsal were such refusals: redis-py's
default pool raised "Too many connections" for the 65th concurrent call, which the
store reports as Redis unavailable."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.store import Store, StoreUnavailable
from gateway.store.connect import POOL_SIZE, client_from_url


async def _burst(url: str, client: Redis, paused_ms: int, calls: int) -> list[object]:
    """`calls` concurrent reads while Redis serves nobody for `paused_ms` (as when the
    gateway holds the CPU Redis shares): every call needs a connection of its own."""
    other = aioredis.Redis.from_url(url)
    try:
        await other.execute_command("CLIENT", "PAUSE", str(paused_ms), "ALL")
        return await asyncio.gather(*(client.get(f"k{i}") for i in range(calls)),
                                    return_exceptions=True)
    finally:
        await other.aclose()


async def test_a_burst_past_the_pool_waits_for_a_connection(redis_url: str) -> None:
    client = client_from_url(redis_url)
    assert isinstance(client, Redis)
    try:
        results = await _burst(redis_url, client, 300, 3 * POOL_SIZE)
    finally:
        await client.aclose()
    assert results == [None] * (3 * POOL_SIZE)


async def test_the_refusing_pool_it_replaces_fails_the_same_burst(redis_url: str) -> None:
    # What the gateway had: redis-py's ConnectionPool of 64, refusing the 65th call.
    client = Redis(connection_pool=ConnectionPool.from_url(redis_url,
                                                            max_connections=POOL_SIZE))
    try:
        results = await _burst(redis_url, client, 300, 3 * POOL_SIZE)
    finally:
        await client.aclose()
    refused = [r for r in results if isinstance(r, RedisConnectionError)]
    assert len(refused) == 2 * POOL_SIZE
    assert all("Too many connections" in str(r) for r in refused)


async def test_the_wait_is_bounded_and_ends_in_the_calm_unavailable(redis_url: str) -> None:
    store = Store(client_from_url(redis_url, timeout=0.3, max_connections=2))
    other = aioredis.Redis.from_url(redis_url)
    try:
        await other.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        started = time.monotonic()
        results = await asyncio.gather(*(store.room_names() for _ in range(6)),
                                       return_exceptions=True)
        took = time.monotonic() - started
    finally:
        await other.aclose()
        await store.close()
    assert all(isinstance(r, StoreUnavailable) for r in results), results
    assert took < 2.0  # the pool's wait and the socket's, not Redis's pause
