"""Processes on 127.0.0.1: start one with its output in a log file, wait until it answers
over HTTP (or until a check holds), stop it (SIGTERM, then SIGKILL), and all three as
one context manager. A process that ends while it is waited for fails the wait at once,
with the end of its log in the error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.common.net import free_port

ROOT = Path(__file__).resolve().parent.parent
# How long a process may take to answer: generous, since a busy machine starts processes
# slowly; a quiet one takes a second or two, and one that ends fails the wait at once.
STARTUP_S = 120.0
# How long a process may take to end after SIGTERM before it gets SIGKILL.
STOP_S = 20.0


def python_env(**extra: str) -> dict[str, str]:
    """This environment, with the repository importable (for `python -m tests.…`)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def spawn(command: Sequence[str], env: Mapping[str, str] | None = None,
          log: Path | None = None, *, new_session: bool = False) -> subprocess.Popen[bytes]:
    """`command` in the repository, its stdout and stderr appended to `log` (discarded
    without one), stdin closed. `new_session`: its own process group, so that a Ctrl-C
    in the terminal reaches only whoever started it."""
    if log is None:
        return subprocess.Popen(list(command), env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=new_session)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:  # the process holds its own copy of the file
        return subprocess.Popen(list(command), env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=new_session)


def start(args: Sequence[str], env: Mapping[str, str] | None = None, log: Path | None = None,
          *, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """This Python with `args` (`["-m", "gateway.cli", "worker"]`); `prefix` goes first
    (`taskset -c 1`, which execs: the process id stays the server's)."""
    return spawn([*prefix, sys.executable, *args], env, log)


def log_tail(log: Path | None, chars: int = 3000) -> str:
    """The end of a log, to say why a process did not come up."""
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return f"\n--- end of {log} ---\n{text[-chars:]}" if text else ""


def log_lines(log: Path, keep: Callable[[str], str | None]) -> list[str]:
    """The distinct lines of a log that `keep` keeps, in order: `keep` returns the text
    to keep of a line, or None to leave it out. Nothing when the log cannot be read."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    seen: list[str] = []
    for line in text.splitlines():
        kept = keep(line)
        if kept is not None and kept not in seen:
            seen.append(kept)
    return seen


def kill_all(procs: Iterable[subprocess.Popen[Any]]) -> None:
    """SIGKILL whichever of `procs` still run, and reap them."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_until(check: Callable[[], object], timeout: float, what: str, every: float = 0.05,
               *, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None,
               errors: tuple[type[BaseException], ...] = (OSError,)) -> float:
    """Poll `check()` until it is true (an exception of `errors` counts as not yet); the
    seconds it took. Fails at once when `proc` ends first."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except errors:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process ended first (exit {proc.returncode}, "
                               f"{proc.args!r}){log_tail(log)}")
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not within {timeout:.0f} s{log_tail(log)}")
        time.sleep(every)


def answers(url: str, timeout: float = 1.0, **client: Any) -> bool:
    """Whether `url` answers, with anything but a server error."""
    try:
        r = httpx.get(url, timeout=timeout, trust_env=False, **client)
    except httpx.HTTPError:
        return False
    return r.status_code < 500


def wait_http(url: str, timeout: float = STARTUP_S, *, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None, every: float = 0.1, **client: Any) -> None:
    """Until `url` answers below 500 (`client`: more httpx arguments, such as `verify`)."""
    wait_until(lambda: answers(url, **client), timeout, f"{url} answering", every,
               proc=proc, log=log)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = STOP_S
         ) -> None:
    """`sig` (SIGTERM: finish what is under way), then SIGKILL after `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True, slots=True)
class Served:
    """A server process, where it answers, and its log."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def address(self) -> str:
        """host:port, as a balancer's configuration names a server."""
        return self.url.split("://", 1)[1]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def wait(self, probe: str = "/", timeout: float = STARTUP_S) -> None:
        """Until `probe` answers, as long as the process lives."""
        wait_http(self.url + probe, timeout, proc=self.proc, log=self.log)


def launch(args: Sequence[str], env: Mapping[str, str] | None, log: Path | None, *,
           port: int | None = None, prefix: Sequence[str] = ()) -> Served:
    """This Python with `args --port PORT` (a free port unless given), not waited for."""
    port = port or free_port()
    return Served(f"http://127.0.0.1:{port}",
                  start([*args, "--port", str(port)], env, log, prefix=prefix), log)


@contextmanager
def serve(args: Sequence[str], env: Mapping[str, str] | None, log: Path | None,
          probe: str = "/", *, port: int | None = None, prefix: Sequence[str] = (),
          timeout: float = STARTUP_S, stop_timeout: float = STOP_S) -> Iterator[Served]:
    """This Python with `args --port PORT` (a free port unless given), once `probe`
    answers; stopped on exit."""
    served = launch(args, env, log, port=port, prefix=prefix)
    try:
        served.wait(probe, timeout)
        yield served
    finally:
        stop(served.proc, timeout=stop_timeout)
