"""gateway/sharing.py against a real Redis, and with Redis gone."""

from __future__ import annotations

import asyncio
import time

from gateway.addresses import Networks
from gateway.common.net import free_port
from gateway.sharing import Limits, Sharing
from gateway.store import Store
from gateway.store.connect import client_from_url
from gateway.store.keys import room_keys
from gateway.types import Message, Scope


def request(address: str) -> Scope:
    return {"type": "http", "method": "GET", "path": "/", "headers": [],
            "client": (address, 40000)}


class Answers:
    def __init__(self) -> None:
        self.statuses: list[int] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.statuses.append(message["status"])


async def test_a_network_allowed_before_is_stamped_again_without_waiting(store: Store) -> None:
    sharing = Sharing(store, Limits(), Networks())
    answers = Answers()
    use = await sharing.settle(request("192.0.2.1"), answers, "default", "visitor-stamp000")
    assert use is not None
    sharing.leave(use)
    assert sharing.enter("default", "visitor-stamp000", request("192.0.2.1")) is use
    sharing.leave(use)
    key = room_keys("default").networks("visitor-stamp000")
    first = await store.client.zscore(key, "192.0.2.1")
    # Its answer is due again: the request passes at once, Redis is told on the side.
    use.nets["192.0.2.1"] = time.monotonic() - 1
    await asyncio.sleep(0.01)
    assert sharing.enter("default", "visitor-stamp000", request("192.0.2.1")) is None
    again = await sharing.settle(request("192.0.2.1"), answers, "default", "visitor-stamp000")
    assert again is use and not answers.statuses
    sharing.leave(use)
    for _ in range(100):
        if await store.client.zscore(key, "192.0.2.1") != first:
            break
        await asyncio.sleep(0.01)
    assert await store.client.zscore(key, "192.0.2.1") > first


async def test_with_redis_gone_the_process_keeps_its_own_count() -> None:
    gone = Store(client_from_url(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        sharing = Sharing(gone, Limits(networks=2), Networks())
        answers = Answers()
        passed = []
        for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1"):
            use = await sharing.settle(request(address), answers, "default", "visitor-gone0000")
            passed.append(use is not None)
            if use is not None:
                sharing.leave(use)
        assert passed == [True, True, False, True] and answers.statuses == [403]
    finally:
        await gone.close()
