"""One admission is one person's: a copied cookie pair (or the visitor cookie alone) used
from many addresses at once, in one gateway process and across two; and one admission
asking for more at once, or per minute, than a browser does."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from gateway.app import SluisApp
from gateway.common.net import free_port
from gateway.sharing import BURST_SHARE, WAITING_PER_PLACE
from harness.processes import start, stop, wait_http
from harness.sluis import sluis_env
from tests.conftest import make_settings
from tests.helpers import arrive, gateway_client
from tests.processes import upstream_site
from tests.reliability.conftest import Figure
from tests.reliability.support import JSON, CountingUpstream, jar_header

NETWORKS = 3  # the default cap


def client_from(app: SluisApp, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://sluis.test")


async def admitted_pair(app: SluisApp, address: str = "198.51.100.1") -> dict[str, str]:
    """A parent let in at once (an idle room); their cookies."""
    async with client_from(app, address) as parent:
        r = await arrive(parent, "/inschrijven")
        assert r.json()["reached"] == "upstream"
        return dict(parent.cookies)


async def sharers(app: SluisApp, jar: dict[str, str], count: int) -> list[httpx.Response]:
    """`count` clients on as many addresses, all at once, each with the copied cookies."""
    async def one(i: int) -> httpx.Response:
        async with client_from(app, f"203.0.113.{i + 1}") as c:
            return await c.get("/inschrijven", headers=jar_header(jar))

    return await asyncio.gather(*(one(i) for i in range(count)))


@pytest.mark.parametrize("count", [100, 30])
async def test_a_copied_cookie_pair_passes_on_three_networks_only(
        redis_url: str, tmp_path: Path, figure: Figure, caplog: pytest.LogCaptureFixture,
        count: int) -> None:
    upstream = CountingUpstream(delay=0.05)
    settings = make_settings(redis_url, tmp_path, max_active=2)
    caplog.set_level(logging.WARNING, "sluis.sharing")
    async with gateway_client(settings, upstream.app()) as (app, _):
        jar = await admitted_pair(app)
        before = len(upstream.hits)
        answers = await sharers(app, jar, count)
        passed = len(upstream.hits) - before
        # The parent's own network stays in.
        async with client_from(app, "198.51.100.1") as parent:
            own = await parent.get("/inschrijven", headers=jar_header(jar))
        view = await app.state.store.view("default")
    refused = [r for r in answers if r.status_code == 403]
    figure(f"{count} sharers of one cookie pair on {count} addresses: reached the upstream",
           f"{passed} (+ the parent: {NETWORKS} networks)")
    figure(f"{count} sharers: refused (403)", len(refused))
    assert passed == NETWORKS - 1 and len(refused) == count - passed
    assert own.status_code == 200 and own.json()["reached"] == "upstream"
    assert refused[0].headers["cache-control"] == "no-store"
    assert b"Already in use elsewhere" in refused[0].content
    assert view.counters["shared_refused_total"] == len(refused)
    logged = [r for r in caplog.records if "refused on one more client network" in r.message]
    assert len(logged) == len(refused)
    assert {getattr(r, "networks", None) for r in logged} == {NETWORKS}


async def test_the_visitor_cookie_alone_mints_no_admission_for_more_networks(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    upstream = CountingUpstream()
    settings = make_settings(redis_url, tmp_path, max_active=2)
    async with gateway_client(settings, upstream.app()) as (app, _):
        jar = await admitted_pair(app)
        only = {"sluis_visitor": jar["sluis_visitor"]}
        before = len(upstream.hits)
        answers = await sharers(app, only, 30)
        passed = len(upstream.hits) - before
    figure("30 sharers of the visitor cookie alone: reached the upstream", passed)
    assert passed == NETWORKS - 1
    assert sorted(r.status_code for r in answers) == [200] * passed + [403] * (30 - passed)
    # The refused got no new admission cookie to try with.
    assert not any("sluis_admission=" in r.headers.get("set-cookie", "")
                   for r in answers if r.status_code == 403)


async def test_one_admission_has_at_most_its_cap_in_flight_and_the_rest_wait(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    upstream = CountingUpstream(delay=0.2)
    inflight = 4
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=2),
                                   inflight_per_admission=inflight)
    waiting = inflight * WAITING_PER_PLACE
    async with gateway_client(settings, upstream.app()) as (app, _):
        jar = await admitted_pair(app)
        async with client_from(app, "198.51.100.1") as parent:
            before = len(upstream.hits)
            answers = await asyncio.gather(*(
                parent.get(f"/page/{i}", headers={**jar_header(jar), **JSON})
                for i in range(inflight + waiting + 10)))
    codes = [r.status_code for r in answers]
    figure(f"{len(codes)} requests of one admission at once (cap {inflight}): most in flight "
           "at the upstream", upstream.max_inflight)
    figure("served after waiting their turn / refused", f"{codes.count(200)} / "
           f"{codes.count(429)}")
    assert upstream.max_inflight == inflight
    assert codes.count(200) == inflight + waiting == len(upstream.hits) - before
    assert codes.count(429) == 10
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"] == "too_many_requests" and "retry-after" in refused.headers


async def test_one_admission_gets_its_requests_per_minute_and_no_more(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    per_minute = 60
    settings = dataclasses.replace(make_settings(redis_url, tmp_path, max_active=2),
                                   requests_per_admission_per_minute=per_minute)
    burst = int(per_minute * BURST_SHARE)
    async with gateway_client(settings) as (app, _):
        jar = await admitted_pair(app)
        async with client_from(app, "198.51.100.1") as parent:
            started = time.monotonic()
            codes = [(await parent.get("/p", headers=jar_header(jar))).status_code
                     for _ in range(100)]
            elapsed = time.monotonic() - started
            last = await parent.get("/p", headers={**jar_header(jar), **JSON})
    served = codes.count(200)
    figure(f"100 requests of one admission as fast as they go ({per_minute}/min, "
           f"{burst} at once)", f"{served} served, {codes.count(429)} × 429")
    # The arrival (the first request) spent one; then the burst, and what refilled since.
    assert burst - 1 <= served <= burst + elapsed * per_minute / 60
    assert codes.count(429) == 100 - served
    assert last.status_code == 429 and int(last.headers["retry-after"]) >= 1


def test_sharers_across_two_gateway_processes_pass_on_three_networks_only(
        redis_url: str, tmp_path: Path, figure: Figure) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text("[rooms.default]\nmax_active = 2\n")
    with ExitStack() as stack:
        site = stack.enter_context(upstream_site(tmp_path))
        env = sluis_env(redis_url, tmp_path, SLUIS_BACKEND=site, SLUIS_CONFIG=str(config))
        urls = []
        for i in range(2):
            port = free_port()
            proc = start(["-m", "gateway.cli", "gateway", "--port", str(port)], env,
                         tmp_path / f"gateway{i}.log")
            stack.callback(stop, proc)
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_http(url + "/_sluis/readyz")
        with httpx.Client(timeout=10) as parent:
            parent.get(urls[0] + "/inschrijven")
            assert parent.get(urls[0] + "/inschrijven").json()["reached"] == "upstream"
            jar = {k: v for k, v in parent.cookies.items() if k.startswith("sluis_")}

        def share(i: int) -> int:
            # Each sharer on its own loopback address, a real socket: 127.0.0.10 and on.
            transport = httpx.HTTPTransport(local_address=f"127.0.0.{10 + i}")
            with httpx.Client(transport=transport, timeout=10) as c:
                r = c.get(urls[i % 2] + "/inschrijven", headers=jar_header(jar))
                return r.status_code if r.status_code != 200 else (
                    200 if r.json().get("reached") == "upstream" else 0)

        async def all_at_once() -> list[int]:
            return await asyncio.gather(*(asyncio.to_thread(share, i) for i in range(30)))

        codes = asyncio.run(all_at_once())
    figure("30 sharers on 30 addresses through 2 gateway processes: reached the site",
           f"{codes.count(200)} (+ the parent: {NETWORKS} networks)")
    assert codes.count(200) == NETWORKS - 1 and codes.count(403) == 30 - (NETWORKS - 1)
