"""Running Sluis as real processes for tests: gateway, workers, an upstream site."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.store.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent


def sluis_env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUIS_")}
    env.update({
        "SLUIS_REDIS_URL": redis_url,
        "SLUIS_DATA_DIR": str(data_dir),
        "SLUIS_SECRET_KEYS": "process-test-key-0123456789",
        "SLUIS_ADMIN_TOKEN": "process-test-admin-token",
        "SLUIS_JOINS_PER_IP_PER_MINUTE": "0",
        "SLUIS_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        **extra,
    })
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "ab")  # the process owns it until it ends
    return subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=fh,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def upstream_site(tmp: Path) -> Iterator[str]:
    port = free_port()
    proc = start(["-m", "uvicorn", "--factory", "tests.helpers:upstream_app", "--port", str(port),
                  "--log-level", "warning"], dict(os.environ, PYTHONPATH=str(ROOT)),
                 tmp / "upstream.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health")
        yield url
    finally:
        stop(proc)


@contextmanager
def gateway(env: dict[str, str], tmp: Path, workers: int = 1) -> Iterator[str]:
    port = free_port()
    proc = start(["-m", "gateway.cli", "gateway", "--port", str(port), "--workers", str(workers)],
                 env, tmp / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_sluis/livez")
        yield url
    finally:
        stop(proc)


def worker(env: dict[str, str], tmp: Path, name: str) -> subprocess.Popen[bytes]:
    return start(["-m", "gateway.cli", "worker"], env, tmp / f"{name}.log")
