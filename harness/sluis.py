"""Sluis's own processes: the environment one gets, `sluis gateway` and `sluis worker`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.processes import ROOT, STARTUP_S, Served, launch, serve, start, stop

# What sluis_env gives every process unless told otherwise: throwaway, fixed on purpose.
SECRET_KEY = "process-test-key-0123456789"  # noqa: S105
ADMIN_TOKEN = "process-test-admin-token"  # noqa: S105
GATEWAY = ["-m", "gateway.cli", "gateway"]


def sluis_env(redis_url: str, data_dir: Path, **extra: str | None) -> dict[str, str]:
    """This environment without any SLUIS_ variable, then Sluis's: `redis_url`,
    `data_dir`, SECRET_KEY, ADMIN_TOKEN, no per-address join limit, INFO logs, the
    repository importable; `extra` adds or overrides (None: leave that one unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUIS_")}
    chosen: dict[str, str | None] = {
        "SLUIS_REDIS_URL": redis_url,
        "SLUIS_DATA_DIR": str(data_dir),
        "SLUIS_SECRET_KEYS": SECRET_KEY,
        "SLUIS_ADMIN_TOKEN": ADMIN_TOKEN,
        "SLUIS_JOINS_PER_IP_PER_MINUTE": "0",
        "SLUIS_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    env.update({k: v for k, v in chosen.items() if v is not None})
    return env


@contextmanager
def gateway(env: dict[str, str], log_dir: Path, workers: int = 1, *, port: int | None = None,
            name: str = "gateway", probe: str = "/_sluis/livez",
            timeout: float = STARTUP_S) -> Iterator[str]:
    """`sluis gateway --workers N`, its log in `log_dir/NAME.log`; its URL once `probe`
    answers."""
    with serve([*GATEWAY, "--workers", str(workers)], env,
               log_dir / f"{name}.log", probe, port=port, timeout=timeout) as served:
        yield served.url


def start_gateway(env: dict[str, str], log: Path, *, port: int | None = None) -> Served:
    """`sluis gateway` on a free port (or `port`), not waited for: `.wait(probe)`."""
    return launch(GATEWAY, env, log, port=port)


@contextmanager
def gateways(env: dict[str, str], log_dir: Path, count: int,
             probe: str = "/_sluis/readyz") -> Iterator[list[Served]]:
    """`count` gateway processes started at once (logs `log_dir/gatewayI.log`); the list
    once each answers `probe`. A test may replace an entry (a restarted gateway): what
    the list holds at the end is stopped."""
    running: list[Served] = []
    try:
        running.extend(start_gateway(env, log_dir / f"gateway{i}.log") for i in range(count))
        for served in running:
            served.wait(probe)
        yield running
    finally:
        for served in running:
            stop(served.proc)


def worker(env: dict[str, str], log_dir: Path, name: str = "worker") -> subprocess.Popen[bytes]:
    """`sluis worker`, its log in `log_dir/NAME.log` (stop it with harness.processes.stop)."""
    return start(["-m", "gateway.cli", "worker"], env, log_dir / f"{name}.log")
