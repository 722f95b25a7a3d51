"""Locust as processes the rehearsal owns: a master and one worker a process, each
waited for until it has written its visitors down, and the run's progress read from
the master's history file while it goes."""

from __future__ import annotations

import csv
import io
import logging
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gateway.common.net import free_port
from harness.processes import kill_all, log_lines
from loadtests.stack import ROOT

log = logging.getLogger("sluis.loadtest")

LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
# What the master says when it ends a run on its own; quoted in the report when the
# run stopped before its planned end.
ENDING = re.compile(r"went missing|Gave up waiting|Traceback|Error", re.IGNORECASE)


@dataclass
class Swarm:
    """The Locust processes of one run. `master` is the only one with one process."""

    master: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_path: Path = Path()
    _log: IO[bytes] | None = None

    @property
    def processes(self) -> int:
        """How many processes run users, and so write a record file each."""
        return len(self.workers) or 1

    def stop(self) -> None:
        """Asks the master to end the run as Locust ends one: users stopped, records
        written, statistics flushed."""
        if self.master.poll() is None:
            self.master.send_signal(signal.SIGTERM)

    def wait_for_records(self, bound: float) -> list[int | None]:
        """After the master: every worker until it exits, `bound` seconds at most in
        all (then it is killed and its records count as missing). The exit codes."""
        deadline = time.monotonic() + bound
        for i, proc in enumerate(self.workers):
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    proc.wait(min(10.0, max(0.1, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    log.info("waiting for Locust worker %d of %d to write its records",
                             i + 1, len(self.workers))
            if proc.poll() is None:
                log.warning("Locust worker %d did not finish within %.0f s: killed", i + 1,
                            bound)
                proc.kill()
                proc.wait()
        return [p.returncode for p in self.workers]

    def close(self) -> None:
        kill_all((self.master, *self.workers))
        if self._log is not None:
            self._log.close()

    def notes(self) -> list[str]:
        """The master's own words on why it stopped, if it said any."""
        return log_lines(self.log_path, _ending_line)[:5]


def _ending_line(line: str) -> str | None:
    line = line.split("/INFO/", 1)[-1].split("/WARNING/", 1)[-1].strip()
    return line if ENDING.search(line) else None


def start(url: str, options: list[str], csv_prefix: Path, processes: int, log_path: Path,
          env: dict[str, str]) -> Swarm:
    """Locust headless against `url`: one process, or a master and `processes` workers
    on 127.0.0.1. `options` are the locustfile's own, given to every process."""
    fh = log_path.open("wb")
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", url, *options]
    # INFO from the master: it says so when it ends a run early (a worker went missing).
    master = [*common, "--headless", "--csv", str(csv_prefix), "--csv-full-history",
              "--only-summary", "--loglevel", "INFO", "--exit-code-on-error", "0"]

    def spawn(command: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    if processes <= 1:
        return Swarm(spawn(master), [], log_path, fh)
    port = free_port()
    swarm = Swarm(spawn([*master, "--master", "--master-bind-host", "127.0.0.1",
                         "--master-bind-port", str(port), "--expect-workers", str(processes),
                         "--expect-workers-max-wait", "120"]), [], log_path, fh)
    for _ in range(processes):
        swarm.workers.append(spawn([*common, "--worker", "--master-host", "127.0.0.1",
                                    "--master-port", str(port), "--loglevel", "WARNING"]))
    return swarm


def latest(history: Path, tail_bytes: int = 65_536) -> dict[str, dict[str, Any]]:
    """The last whole row of each name in Locust's history file so far (the file grows
    for the whole run; only its end is read)."""
    try:
        with history.open("rb") as fh:
            header = fh.readline()
            size = fh.seek(0, io.SEEK_END)
            at = max(len(header), size - tail_bytes)
            fh.seek(at)
            tail = fh.read()
    except OSError:
        return {}
    lines = tail.decode(errors="replace").split("\n")
    if at > len(header):
        lines = lines[1:]  # begun mid-row
    lines = lines[:-1]  # the row being written, or the empty one after the last newline
    rows: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader([header.decode(errors="replace"), *lines]):
        if row.get("Name"):
            rows[row["Name"]] = row
    return rows
