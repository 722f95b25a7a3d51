"""A gateway process killed (SIGKILL) in the middle of a surge and started again:
every place it acknowledged is still there, and visitors cut off simply retry."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from gateway.common.net import free_port
from harness.processes import start, stop, wait_http
from harness.sluis import sluis_env
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON, while_moving

ROOMS = """
[rooms.default]
title = "Zomerkampen"
max_active = 0
"""
LANES = 8
KILL_AFTER_ACKS = 250
STOP_AFTER_ACKS = 600
STARTUP_S = 120.0  # a gateway process starting on a busy machine


@pytest.mark.timeout(360)  # the surge runs while places are acknowledged, 240 s at most
async def test_gateway_sigkill_mid_surge_loses_no_place(redis_url: str, tmp_path: Path,
                                                      figure: Figure) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text(ROOMS)
    env = sluis_env(redis_url, tmp_path, SLUIS_CONFIG=str(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["-m", "gateway.cli", "gateway", "--port", str(port)]
    proc = start(args, env, tmp_path / "gateway.log")
    await asyncio.to_thread(wait_http, url + "/_sluis/livez", STARTUP_S)
    acks: dict[str, int] = {}  # visitor cookie -> position acknowledged
    cut_off = 0
    restarted = asyncio.Event()
    done = asyncio.Event()

    async def lane() -> None:
        nonlocal cut_off
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            cookie: str | None = None
            while not done.is_set():
                c.cookies.clear()
                if cookie:
                    c.cookies.set("sluis_visitor", cookie)
                try:
                    r = await c.get("/inschrijven", headers=JSON)
                except httpx.TransportError:
                    cut_off += 1  # the process died under this request; try again
                    await asyncio.sleep(0.05)
                    continue
                assert r.status_code == 200, r.status_code
                body = r.json()
                cookie = cookie or r.cookies.get("sluis_visitor")
                if body["state"] == "none":
                    continue  # the cookie first; the next request brings it back
                assert cookie and body["state"] == "queued"
                acks[cookie] = body["position"]
                cookie = None  # the next parent

    async def crash() -> None:
        nonlocal proc
        while len(acks) < KILL_AFTER_ACKS:  # noqa: ASYNC110 - counts, not an event
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
        proc = start(args, env, tmp_path / "gateway.log")
        await asyncio.to_thread(wait_http, url + "/_sluis/livez", STARTUP_S)
        restarted.set()
        while len(acks) < STOP_AFTER_ACKS:  # noqa: ASYNC110 - counts, not an event
            await asyncio.sleep(0.01)
        done.set()

    try:
        # Until STOP_AFTER_ACKS places are acknowledged, as long as they keep coming (the
        # restart, while nothing is acknowledged, takes a busy machine a while).
        await while_moving(asyncio.gather(crash(), *(lane() for _ in range(LANES))),
                           lambda: len(acks) + cut_off + restarted.is_set())
        lost = 0
        positions = []
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            for cookie, acked in acks.items():
                c.cookies.clear()
                c.cookies.set("sluis_visitor", cookie)
                st = (await c.get("/_sluis/status")).json()
                if st["state"] != "queued" or st["position"] != acked:
                    lost += 1
                positions.append(st["position"])
    finally:
        stop(proc)
    figure("places acknowledged", len(acks))
    figure("requests cut off or refused while it was down (retried)", cut_off)
    figure("places lost or moved", lost)
    # A request cut off after its join ran leaves a place nobody was told about; it
    # lapses after the grace period like any abandoned place.
    figure("places taken but never acknowledged", max(positions) - len(acks))
    assert len(acks) >= STOP_AFTER_ACKS and lost == 0
    assert len(set(positions)) == len(positions)  # nobody shares a position
