"""Redis Cluster through `redis+cluster://`: every room's keys share one hash tag, so each
script runs on one slot, and rooms spread over the masters. The whole path works:
join, status, admission by the worker, forwarding."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis

from gateway.store.keys import ROOMS_INDEX, room_keys
from harness.engines import redis_cluster
from harness.processes import stop
from harness.sluis import gateway, sluis_env, worker
from tests.processes import upstream_site

ADMIN = {"authorization": "Bearer process-test-admin-token"}
JSON = {"accept": "application/json"}


def owner(client: redis.RedisCluster, key: str) -> str:
    return str(client.get_node_from_key(key).name)


def rooms_on_distinct_masters(client: redis.RedisCluster, count: int) -> list[str]:
    """Room names whose keys land on `count` different masters."""
    chosen: dict[str, str] = {}
    for name in ("kampen", "zwemmen", "speelpleinen", "sportweken", "opvang", "zalen"):
        node = owner(client, room_keys(name).queue)
        if node not in chosen:
            chosen[node] = name
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("no room names on enough masters")


def test_the_whole_path_runs_on_a_three_master_cluster_with_rooms_on_different_slots(
        tmp_path: Path) -> None:
    with redis_cluster(tmp_path / "cluster") as cluster:
        client = cluster.client()
        rooms = rooms_on_distinct_masters(client, 2)
        # Every key of a room lives on the same slot; the rooms on different masters.
        for room in rooms:
            k = room_keys(room)
            slots = {client.keyslot(key) for key in
                     (*k.line(), k.leader, k.audit, k.draw, k.seen("v"), k.series,
                      k.health(1), k.joins_by_address("203.0.113.9"), k.held,
                      k.networks("v"))}
            assert len(slots) == 1
        assert owner(client, room_keys(rooms[0]).queue) != owner(client,
                                                                 room_keys(rooms[1]).queue)
        config = tmp_path / "rooms.toml"
        config.write_text("".join(
            f'[rooms.{room}]\ntitle = "{room}"\npaths = ["/{room}"]\n'
            "rate_per_minute = 0\nmax_active = 0\n\n" for room in rooms))
        with upstream_site(tmp_path) as upstream:
            env = sluis_env(cluster.url, tmp_path, SLUIS_BACKEND=upstream,
                            SLUIS_CONFIG=str(config), SLUIS_WORKER_TICK_MS="100")
            w = worker(env, tmp_path, "worker")
            try:
                with gateway(env, tmp_path) as url:
                    assert httpx.get(url + "/_sluis/readyz").status_code == 200
                    parents = {room: httpx.Client(base_url=url) for room in rooms}
                    for room, parent in parents.items():
                        first = parent.get(f"/{room}/inschrijven", headers=JSON)
                        assert first.status_code == 200 and first.json()["state"] == "none"
                        # The page's first status call brings the cookie back: the place.
                        status = parent.get(f"/_sluis/status?room={room}&join=1").json()
                        assert (status["state"], status["position"]) == ("queued", 1)
                        page = parent.get(f"/{room}/inschrijven", headers=JSON)
                        assert page.status_code == 200 and page.json()["position"] == 1
                        patched = parent.patch(f"/_sluis/admin/api/rooms/{room}",
                                               headers=ADMIN,
                                               json={"rate_per_minute": 600, "max_active": 5})
                        assert patched.status_code == 200, patched.text
                    for room, parent in parents.items():
                        # A busy machine's worker ticks late; the admission is what counts.
                        deadline = time.monotonic() + 60
                        state = "queued"
                        while state != "admitted" and time.monotonic() < deadline:
                            time.sleep(0.1)
                            state = parent.get(f"/_sluis/status?room={room}").json()["state"]
                        assert state == "admitted", room
                        forwarded = parent.get(f"/{room}/inschrijven").json()
                        assert forwarded["reached"] == "upstream" and forwarded["admission"]
                        view = parent.get(f"/_sluis/admin/api/rooms/{room}",
                                          headers=ADMIN).json()
                        assert view["admitted_total"] == 1 and view["active"] == 1, view
                        parent.close()
                    listed = httpx.get(url + "/_sluis/admin/api/rooms", headers=ADMIN)
                    assert listed.status_code == 200
            finally:
                stop(w)
        assert w.returncode == 0  # SIGTERM: the tick finished, the leases released
        assert {m.decode() for m in client.smembers(ROOMS_INDEX)} == set(rooms)
        client.close()
