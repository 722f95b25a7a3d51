"""The processes of a surge: the Django shop under uvicorn, the admission worker and the
gateway, all real, on 127.0.0.1, with a rooms file whose room proxies to the shop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.common.net import free_port
from harness.processes import ROOT, serve, start, stop
from harness.sluis import ADMIN_TOKEN, sluis_env
from tests.surge_shop.shop.site import DATA_ENV

ROOM = "tickets"


@dataclass(frozen=True, slots=True)
class Plan:
    """One surge: the shop, the room's settings and the parents."""

    parents: int = 300
    places: int = 40
    rate_per_minute: int = 120
    max_active: int = 10
    session_seconds: int = 120
    idle_seconds: int = 30
    grace_seconds: int = 60
    # False: sessions end only by idle_seconds or session_seconds (the shop never
    # says `Sluis-Session: end`), to compare the admission pace.
    end_on: bool = True
    inventory_interval_seconds: int = 2
    arrive_over_seconds: float = 4.0
    think_seconds: tuple[float, float] = (0.2, 0.8)
    worker_tick_ms: int = 100
    shop_workers: int = 2
    # The run ends when every parent has an outcome, or when no parent has reached one
    # for this long (at least twice the session timeout): never at a fixed time.
    stall_seconds: float = 60.0
    seed: int = 2027

    def rooms_toml(self, shop_url: str) -> str:
        end_on = ('end_on_paths = ["/orders/*/done"]\n'
                  'end_on_markers = ["Thank you for your order"]\n') if self.end_on else ""
        return (
            f"[rooms.{ROOM}]\n"
            'title = "Summer camp tickets"\n'
            f'upstream = "{shop_url}"\n'
            f"rate_per_minute = {self.rate_per_minute}\n"
            f"max_active = {self.max_active}\n"
            f"session_seconds = {self.session_seconds}\n"
            f"idle_seconds = {self.idle_seconds}\n"
            f"{end_on}"
            f"grace_seconds = {self.grace_seconds}\n"
            "\n"
            f"[rooms.{ROOM}.inventory]\n"
            'source = "url"\n'
            f'url = "{shop_url}/api/availability"\n'
            'path = "available"\n'
            f"interval_seconds = {self.inventory_interval_seconds}\n"
            'marker = "Sold out"\n'
            'waiting_list_url = "https://example.org/waiting-list"\n'
            'waiting_list_text = { en = "Join the waiting list", '
            'nl = "Schrijf je in op de wachtlijst" }\n'
        )


@dataclass(frozen=True, slots=True)
class Stack:
    gateway_url: str
    shop_url: str
    shop_dir: Path
    admin_token: str = ADMIN_TOKEN


@contextmanager
def shop(folder: Path, places: int, workers: int = 2) -> Iterator[tuple[str, Path]]:
    """The Django shop with one event of `places` places, under `uvicorn --workers`."""
    data = folder / "shop"
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{DATA_ENV: str(data)})
    subprocess.run([sys.executable, "-m", "tests.surge_shop.shop.site", "prepare",
                    "--places", str(places)], env=env, cwd=ROOT, check=True)
    with serve(["-m", "uvicorn", "--factory", "tests.surge_shop.shop.site:application",
                "--host", "127.0.0.1", "--workers", str(workers), "--log-level", "warning",
                "--no-access-log"], env, folder / "shop.log", "/api/availability") as served:
        yield served.url, data


@contextmanager
def surge_stack(redis_url: str, folder: Path, plan: Plan) -> Iterator[Stack]:
    """Shop, worker and gateway, fresh in `folder`; the worker has taken up the room."""
    folder.mkdir(parents=True, exist_ok=True)
    with shop(folder, plan.places, plan.shop_workers) as (shop_url, shop_dir):
        config = folder / "rooms.toml"
        config.write_text(plan.rooms_toml(shop_url), encoding="utf-8")
        env = sluis_env(redis_url, folder, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS=str(plan.worker_tick_ms),
                        SLUIS_LOG_LEVEL="WARNING")
        worker = start(["-m", "gateway.cli", "worker"], env, folder / "worker.log")
        port = free_port()
        gateway = start(["-m", "gateway.cli", "gateway", "--host", "127.0.0.1",
                         "--port", str(port)], env, folder / "gateway.log")
        stack = Stack(gateway_url=f"http://127.0.0.1:{port}", shop_url=shop_url,
                      shop_dir=shop_dir)
        try:
            _wait_room(stack, (worker, gateway))
            yield stack
        finally:
            stop(gateway)
            stop(worker)


def _wait_room(stack: Stack, procs: tuple[subprocess.Popen[bytes], ...]) -> None:
    """Until the worker leads the room: polled while the processes live, not for a set time."""
    headers = {"authorization": f"Bearer {stack.admin_token}"}
    while True:
        dead = [p.args for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"ended before the room was taken up: {dead}")
        try:
            r = httpx.get(f"{stack.gateway_url}/_sluis/admin/api/rooms/{ROOM}",
                          headers=headers, timeout=5, trust_env=False)
            if r.status_code == 200 and r.json().get("leader"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
