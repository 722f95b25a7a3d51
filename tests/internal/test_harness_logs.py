"""The harness's helpers for the generators' processes: what a log says, and stopping
what still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.processes import kill_all, log_lines


def test_log_lines_keeps_the_distinct_lines_a_filter_keeps_in_order(tmp_path: Path) -> None:
    log = tmp_path / "gen.log"
    log.write_text("ok\n  ValueError: x\nok\nTraceback (most recent call last):\n"
                   "  ValueError: x\nRuntimeError: y\n")

    def errors(line: str) -> str | None:
        line = line.strip()
        return line if "Error" in line or "Traceback" in line else None

    assert log_lines(log, errors) == ["ValueError: x", "Traceback (most recent call last):",
                                      "RuntimeError: y"]
    assert log_lines(tmp_path / "missing.log", errors) == []


def test_kill_all_stops_what_runs_and_leaves_what_ended() -> None:
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    kill_all([running, ended])
    assert running.returncode is not None and running.returncode < 0
    assert ended.returncode == 0
