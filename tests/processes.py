"""The stand-in registration site (tests.helpers.upstream_app) as a process; the rest
of running Sluis as processes is in harness/."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.processes import python_env, serve


@contextmanager
def upstream_site(tmp: Path) -> Iterator[str]:
    """uvicorn serving the stand-in site on a free port; its URL once it answers."""
    with serve(["-m", "uvicorn", "--factory", "tests.helpers:upstream_app",
                "--log-level", "warning"], python_env(), tmp / "upstream.log",
               "/health") as served:
        yield served.url
