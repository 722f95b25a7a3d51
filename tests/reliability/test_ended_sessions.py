"""An ended session stops passing at once on every gateway: the old cookie pair, replayed
through two gateway processes and the HAProxy in front of them, reaches the site 0 times
from 1 s after `Sluis-Session: end`, and 0 times from 1 s after a pause and drain."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from harness.engines import wait_until
from tests.scale.engines import balanced

ROOM = "zomerkampen"
ADMIN = {"authorization": "Bearer process-test-admin-token"}
ROOMS_TOML = f"""
[rooms.{ROOM}]
rate_per_minute = 6000
max_active = 1
session_seconds = 900
"""
# The attack of the review: the copied pair every 0.5 s (here for 10 s, from 1 s after
# the end), spread over every way in.
REPLAYS = 20
EVERY = 0.5


def admitted(client: httpx.Client, url: str) -> dict[str, str]:
    """A visitor who takes a place through `url` and is let in; their cookie pair."""
    client.get(url + "/start", headers={"accept": "application/json"})

    def inside() -> bool:
        r = client.get(url + "/start", headers={"accept": "application/json"})
        return r.json().get("reached") == "upstream"

    wait_until(inside, 60, "the visitor let in")
    return {k: v for k, v in client.cookies.items() if k.startswith("sluis_")}


def replay(pair: dict[str, str], ways: list[str]) -> int:
    """Send the copied pair REPLAYS times, EVERY s apart, in turn through each of `ways`;
    how many reached the site."""
    cookie = "; ".join(f"{k}={v}" for k, v in pair.items())
    reached = 0
    for i in range(REPLAYS):
        r = httpx.get(ways[i % len(ways)] + "/boek", timeout=10,
                      headers={"cookie": cookie, "accept": "application/json"})
        reached += r.json().get("reached") == "upstream"
        time.sleep(EVERY)
    return reached


def test_an_ended_or_drained_session_stops_passing_on_every_gateway(
        redis_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        stacked = stack.enter_context(balanced(redis_url, tmp_path, ROOMS_TOML, workers=1))
        gws = [g.url for g in stacked.gateways]
        ways = [gws[0], gws[1], stacked.url]
        first, second = httpx.Client(timeout=10), httpx.Client(timeout=10)
        stack.callback(first.close)
        stack.callback(second.close)

        pair = admitted(first, gws[0])
        # Both gateways let the pair in while the session lives.
        for url in gws:
            assert first.get(url + "/boek").json()["reached"] == "upstream"
        # A second parent waits for the only slot, so the room is not idle: a refused
        # pair cannot simply pass again as a newcomer.
        second.get(gws[1] + "/start", headers={"accept": "application/json"})
        assert second.get(gws[1] + "/start", headers={
            "accept": "application/json"}).json()["state"] == "queued"

        # The site ends the session, through the first gateway.
        done = first.get(gws[0] + "/checkout/done")
        assert done.json()["done"] is True
        time.sleep(1.0)
        after_end = replay(pair, ways)

        # The slot went to the second parent; then the operator pauses and drains.
        pair2 = admitted(second, gws[1])
        admin = httpx.Client(base_url=gws[0], headers=ADMIN, timeout=10)
        stack.callback(admin.close)
        assert admin.patch(f"/_sluis/admin/api/rooms/{ROOM}",
                           json={"paused": True}).status_code == 200
        assert admin.post(f"/_sluis/admin/api/rooms/{ROOM}/drain").json()["ended"] == 1
        time.sleep(1.0)
        after_drain = replay(pair2, ways)

    print(f"\n[ended] copied pair replayed {REPLAYS}× over {REPLAYS * EVERY:.0f} s through 2 "
          f"gateways and HAProxy: reached the site {after_end}× after the site's end, "
          f"{after_drain}× after pause and drain")
    assert after_end == 0
    assert after_drain == 0
