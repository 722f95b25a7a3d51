"""HAProxy and the Debian tools as the tests want them: harness.engines's, the test
skipped where a tool is missing (and failed on CI, which must have them); and the
balanced stack several tests share."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import engines
from harness.processes import Served, stop
from harness.sluis import gateways, sluis_env, worker
from tests.processes import upstream_site


def debian_tool(binary: str, package: str) -> str:
    """The tool's path (installed with apt-get when missing and running as root)."""
    try:
        return engines.debian_tool(binary, package)
    except engines.MissingTool as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} and could not be installed")
        pytest.skip(str(missing))


@contextmanager
def haproxy(gateways: Sequence[str], log: Path) -> Iterator[str]:
    """HAProxy with deploy/haproxy/haproxy.cfg in front of `gateways` (host:port each),
    connecting from engines.BALANCER_SOURCE; its URL once it answers through a gateway."""
    with engines.haproxy(gateways, log, binary=debian_tool("haproxy", "haproxy")) as served:
        yield served.url


@dataclass
class Balanced:
    url: str  # HAProxy's
    env: dict[str, str]
    gateways: list[Served]
    workers: list[subprocess.Popen[bytes]]


@contextmanager
def balanced(redis_url: str, tmp: Path, rooms: str, workers: int = 2, **extra: str
             ) -> Iterator[Balanced]:
    """The stand-in site, `workers` workers and two gateways behind HAProxy (trusting
    it), serving the rooms of the TOML text `rooms`. Gateways and workers a test puts
    in place of others are stopped on exit too."""
    config = tmp / "rooms.toml"
    config.write_text(rooms)
    with ExitStack() as stack:
        site = stack.enter_context(upstream_site(tmp))
        env = sluis_env(redis_url, tmp, SLUIS_BACKEND=site, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS="100",
                        SLUIS_TRUSTED_PROXIES=engines.BALANCER_SOURCE, **extra)
        running = [worker(env, tmp, f"worker{i}") for i in range(workers)]
        stack.callback(lambda: [stop(w) for w in running])
        gws = stack.enter_context(gateways(env, tmp, 2))
        url = stack.enter_context(haproxy([g.address for g in gws], tmp / "haproxy.log"))
        yield Balanced(url, env, gws, running)
