"""Reading a room's places left from its inventory source, in the background of the tick.

The leading worker asks the shop's availability URL, or the internal booking engine's
database, every `interval_seconds`. A fetch runs as its own task so that a slow shop
never stalls admissions; the tick takes the figure when it is there. A source that
fails is logged and its last figure runs out (InventoryConfig.hold_ms) instead of
holding the room sold out, or open, forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import orjson

from gateway.inventory import InventoryConfig, places_in

log = logging.getLogger("sluis.worker.inventory")

USER_AGENT = "Sluis inventory poller"


class InventoryError(Exception):
    """The source did not tell how many places are left."""


class Poller:
    """One room's source; `take()` hands over a finished fetch's figure once."""

    def __init__(self, room: str, config: InventoryConfig, database_url: str | None) -> None:
        self.room = room
        self.config = config
        self.database_url = database_url
        self._next = 0.0
        self._task: asyncio.Task[int] | None = None
        self._client: httpx.AsyncClient | None = None
        self._engine: Any = None
        self.failures = 0

    def poll(self) -> None:
        """Start a fetch when one is due and none is under way."""
        now = time.monotonic()
        if self._task is None and now >= self._next:
            self._next = now + self.config.interval_seconds
            self._task = asyncio.get_running_loop().create_task(self._fetch())

    def take(self) -> int | None:
        """The places left from a fetch that has finished since the last call, else None."""
        task = self._task
        if task is None or not task.done():
            return None
        self._task = None
        try:
            left = task.result()
        except Exception as exc:
            # An HTTP, JSON or database error of any driver: the figure runs out by itself.
            self.failures += 1
            log.warning("inventory source failed", extra={
                "room": self.room, "source": self.config.source,
                "error": f"{type(exc).__name__}: {exc}", "failures": self.failures})
            return None
        self.failures = 0
        return left

    async def _fetch(self) -> int:
        async with asyncio.timeout(self.config.timeout_seconds):
            if self.config.source == "url":
                return await self._from_url()
            return await self._from_database()

    async def _from_url(self) -> int:
        assert self.config.url is not None
        if self._client is None:
            headers = {"accept": "application/json", "user-agent": USER_AGENT}
            if self.config.authorization:
                headers["authorization"] = self.config.authorization
            self._client = httpx.AsyncClient(
                timeout=self.config.timeout_seconds, follow_redirects=False, headers=headers)
        r = await self._client.get(self.config.url)
        if r.status_code != 200:
            raise InventoryError(f"{self.config.url} answered {r.status_code}")
        try:
            document = orjson.loads(r.content)
        except orjson.JSONDecodeError as exc:
            raise InventoryError(f"{self.config.url} did not answer JSON: {exc}") from None
        try:
            return places_in(document, self.config.path)
        except ValueError as exc:
            raise InventoryError(str(exc)) from None

    async def _from_database(self) -> int:
        from sqlalchemy import func, select

        from backends.internal.db import make_engine
        from backends.internal.tables import sessions

        if self.database_url is None:
            raise InventoryError("no booking engine database is configured")
        if self._engine is None:
            self._engine = make_engine(self.database_url, pool_size=1)
        query = select(func.coalesce(func.sum(sessions.c.capacity - sessions.c.booked), 0))
        if self.config.sessions:
            query = query.where(sessions.c.id.in_(self.config.sessions))
        async with self._engine.connect() as conn:
            left = (await conn.execute(query)).scalar_one()
        return max(0, int(left))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._client is not None:
            await self._client.aclose()
        if self._engine is not None:
            await self._engine.dispose()

