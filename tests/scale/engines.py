"""HAProxy and the Debian tools as the tests want them: harness.engines's, the test
skipped where a tool is missing (and failed on CI, which must have them)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import engines


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
