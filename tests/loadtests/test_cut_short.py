"""Rehearsals that do not go as planned, run for real (Redis, the worker, the gateway
serving the booking engine, Locust headless): one stopped before its planned end, one
that loses a Locust worker and its visitors' records. Neither may pass for a clean run:
the report says so first, a guarantee without evidence is "not measured", and the
exit code is not 0."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is not installed (pip install -e '.[load]')", allow_module_level=True)

# A 38 s opening: 8 s of pre-queue, the opening at 8 s, then spike, tail and drain.
OPENING = ["--engine", "inprocess", "--lead-seconds", "5", "--visitors", "300",
           "--prequeue-seconds", "8", "--prequeue-share", "0.2", "--spike-seconds", "8",
           "--spike-share", "0.6", "--tail-seconds", "8", "--drain-seconds", "14",
           "--rate", "1200", "--max-active", "100", "--session-seconds", "30",
           "--grace-seconds", "60", "--progress-seconds", "2"]
NEED_RECORDS = ("no_lost", "fifo_after_opening", "no_security_breach")


def rehearse(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "loadtests.run", "--out", str(out),
                             *OPENING, *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_stopped_before_its_planned_end_is_reported_cut_short_and_fails(
        tmp_path: Path) -> None:
    # Stopped 6 s into the curve, before the opening at 8 s: parents waited in the
    # pre-queue and nobody could be admitted, so nothing after the opening was tested.
    run = rehearse(tmp_path, "--processes", "1", "--run-time", "6")
    console, _ = run.communicate(timeout=280)
    report = json.loads((tmp_path / "report.json").read_text())
    status = report["run_status"]
    assert run.returncode == 1, console[-3000:]
    assert status["complete"] is False and status["ended_early"] is True
    assert status["planned_seconds"] == 38 and status["ran_seconds"] < 20
    assert status["problems"][0].startswith("Locust stopped ")
    assert "into a planned 38 s (--run-time 6 s)" in status["problems"][0]
    assert status["started_users"] < status["planned_users"] == 301
    assert report["visitors"]["total"] > 0 and report["visitors"]["admitted"] == 0
    # (The room still draws its pre-queue at the opening, Locust or not: the published
    # draw may be checked all the same.)
    for name in ("no_oversold", "no_lost", "cap_respected", "fifo_after_opening"):
        assert report["verdict"][name] == "not measured", (name, report["guarantees"][name])
    assert "yes" not in [report["verdict"][n] for n in ("no_lost", "fifo_after_opening")]
    # Said first: on the console, in the JSON and at the top of the page.
    assert list(report)[:3] == ["run_status", "verdict", "guarantees"]
    assert "RUN INCOMPLETE" in console and status["problems"][0] in console
    page = (tmp_path / "report.html").read_text()
    assert page.index("This run is incomplete") < page.index("<h2>Guarantees</h2>")
    assert "not measured" in page
    # Progress during the run, on the console.
    assert "users " in console and "/38 s" in console


def _locust_workers(parent: int) -> list[int]:
    """The Locust worker processes among `parent`'s children."""
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return []
    found = []
    for pid in children:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"locust" in command and b"--worker" in command:
            found.append(int(pid))
    return found


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_run_that_loses_a_locust_worker_says_records_are_missing_and_fails(
        tmp_path: Path) -> None:
    if not Path("/proc/self/task").exists():
        pytest.skip("finds Locust's workers through /proc")
    # Only the loss matters here, not the length of the curve: a 12 s one (a 4 s
    # pre-queue, the spike from 4 s to 8 s), the same 300 visitors. (Later flags win.)
    run = rehearse(tmp_path, "--processes", "2", "--prequeue-seconds", "4",
                   "--spike-seconds", "4", "--tail-seconds", "2", "--drain-seconds", "2")
    assert run.stdout is not None
    # Into the spike, by the run's own progress lines ("5/12 s  users 130/301 ..."):
    # users are running and their records live only in the worker's memory until the
    # run ends. The stack and Locust start slowly on a busy machine.
    seen: list[str] = []
    limit = time.monotonic() + 240
    while run.poll() is None and time.monotonic() < limit:
        line = run.stdout.readline()
        seen.append(line)
        clock = re.search(r" (\d+)/12 s  users (\d+)/", line)
        if clock and int(clock[1]) >= 5 and int(clock[2]) > 0:
            break
    workers = _locust_workers(run.pid)
    assert len(workers) == 2, "the Locust workers never started:\n" + "".join(seen)[-3000:]
    os.kill(workers[0], signal.SIGKILL)  # as the kernel's OOM killer would
    rest, _ = run.communicate(timeout=300)
    console = "".join(seen) + rest
    report = json.loads((tmp_path / "report.json").read_text())
    status = report["run_status"]
    assert run.returncode == 1, console[-3000:]
    assert status["complete"] is False and status["records_complete"] is False
    assert status["locust_processes"] == 2 and status["record_files"] == 1
    assert any(p.startswith("visitor records from 1 of 2 Locust processes")
               for p in status["problems"]), status["problems"]
    # The surviving worker's records were waited for and read.
    assert status["recorded_users"] > 0 and report["visitors"]["total"] > 0
    for name in NEED_RECORDS:
        assert report["verdict"][name] == "not measured", (name, report["guarantees"][name])
        assert "visitor records are missing" in report["guarantees"][name]["evidence"]
    assert "RUN INCOMPLETE" in console
