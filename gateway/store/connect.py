"""Building the Redis client from `SLUIS_REDIS_URL`."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def client_from_url(url: str, timeout: float = 2.0, max_connections: int = 64) -> Redis:
    """An asyncio client that fails fast, so that visitors see the calm 503 at once."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 1.0),
        retry=Retry(NoBackoff(), 1),  # one reconnect: a pooled connection may predate a restart
        max_connections=max_connections,
        health_check_interval=0,
    )
