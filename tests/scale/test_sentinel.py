"""Redis with Sentinel: the master dies during a surge, a replica takes over, and the
gateway and workers follow it through `redis+sentinel://`. Recovery time and lost joins
are measured and printed; nobody is let in twice."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from gateway.store.keys import room_keys
from harness.engines import redis_with_sentinel, wait_until
from harness.processes import stop
from harness.sluis import gateway, sluis_env, worker
from tests.processes import upstream_site
from tests.scale.surge import run_surge

ROOM = "zomerkampen"
TOML = f"""
[rooms.{ROOM}]
title = "Zomerkampen"
rate_per_minute = 3000
max_active = 25
session_seconds = 60
"""


# The surge's own bound is 300 s (tests/scale/surge.py); the rest starts and stops Redis.
@pytest.mark.timeout(480)
def test_master_killed_mid_surge_sentinel_promotes_a_replica_and_the_line_goes_on(
        tmp_path: Path) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text(TOML)
    with ExitStack() as stack:
        group = stack.enter_context(redis_with_sentinel(tmp_path / "redis"))
        upstream = stack.enter_context(upstream_site(tmp_path))
        env = sluis_env(group.url, tmp_path, SLUIS_BACKEND=upstream, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS="100")
        for i in range(2):
            stack.callback(stop, worker(env, tmp_path, f"worker{i}"))
        url = stack.enter_context(gateway(env, tmp_path))
        first_master = group.master_port()
        marks: dict[str, float] = {}

        async def kill_master() -> None:
            await asyncio.sleep(2.5)
            group.server_on(first_master).kill()
            marks["killed"] = time.monotonic()

            def promoted() -> bool:
                return group.master_port() != first_master

            await asyncio.to_thread(wait_until, promoted, 30, "a new master", 0.05)
            marks["promoted"] = time.monotonic()

        surge = asyncio.run(run_surge(url, 200, room=ROOM, path="/kampen/inschrijven",
                                      ramp_s=4.0, poll_s=0.4, watch_s=2.0,
                                      hold_s=0.5, session_s=60,
                                      during=kill_master))
        new_master = redis.Redis(host="127.0.0.1", port=group.master_port())
        stack.callback(new_master.close)
        state = new_master.hgetall(room_keys(ROOM).state)

    after = [t for t in surge.error_times if t >= marks["killed"]]
    served_again = (max(after) - marks["killed"]) if after else 0.0
    promoted = marks["promoted"] - marks["killed"]
    print(f"\n[sentinel] {surge.summary()}")
    print(f"[sentinel] master killed: sentinels promoted a replica after {promoted:.2f} s; "
          f"last failed request {served_again:.2f} s after the kill; "
          f"{len(after)} requests failed meanwhile (retried); lost joins {surge.lost_places}; "
          f"admitted_total on the new master {int(state.get(b'admitted_total', 0))}; "
          f"session ends lost while Redis was away {surge.ends_lost} (those slots "
          f"return when the session times out)")
    assert surge.joined == 200
    assert surge.never_admitted == 0
    assert surge.double_admissions == 0
    assert promoted < 15
    assert served_again < 15
