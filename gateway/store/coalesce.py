"""Coalescing: the Redis calls of concurrent requests leave as one script call.

Every request that asks within the same event-loop iteration joins one batch per
(script, room); the batch goes out on the next iteration. Under load a round trip
is shared by dozens of requests; alone, a request waits one loop iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Bounds one script's run inside Redis (each item is a few O(log n) commands).
MAX_BATCH = 256


class Coalescer(Generic[Item, Result]):
    def __init__(
        self, run: Callable[[Hashable, list[Item]], Awaitable[list[Result]]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._run = run
        self._max = max_batch
        self._pending: dict[Hashable, list[tuple[Item, asyncio.Future[Result]]]] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, group: Hashable, item: Item) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Result] = loop.create_future()
        self._pending.setdefault(group, []).append((item, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for group, entries in pending.items():
            for i in range(0, len(entries), self._max):
                task = asyncio.ensure_future(self._send(group, entries[i : i + self._max]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(
        self, group: Hashable, entries: list[tuple[Item, asyncio.Future[Result]]]
    ) -> None:
        try:
            results = await self._run(group, [item for item, _ in entries])
        except BaseException as exc:  # every waiter must hear about the failure
            for _, fut in entries:
                if not fut.done():
                    fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, fut), result in zip(entries, results, strict=True):
            if not fut.done():
                fut.set_result(result)
