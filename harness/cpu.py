"""Which CPUs a process may use, and how much CPU time it used, from /proc."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def taskset(cpu: str) -> list[str]:
    """The prefix that runs a command on `cpu` only ("0", "0-1"); none on one CPU or
    without taskset. taskset execs the command: the process id stays the command's."""
    return ["taskset", "-c", cpu] if shutil.which("taskset") and os.cpu_count() != 1 else []


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a gateway's uvicorn workers), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def pin(pids: list[int], cpus: set[int], children: bool = True) -> None:
    """Every thread of these processes (and of their children) onto `cpus` only."""
    for pid in pids:
        for p in (descendants(pid) if children else [pid]):
            try:
                threads = [int(t.name) for t in Path(f"/proc/{p}/task").iterdir()]
            except OSError:
                continue
            for tid in threads:
                try:
                    os.sched_setaffinity(tid, cpus)
                except OSError:
                    pass


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User plus system CPU time so far of `pid`, with `children` also of the processes
    below it and of those it reaped (0 once gone). Without: of `pid` alone."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in (descendants(pid) if children else [pid]):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # utime, stime and the reaped children's cutime, cstime (fields 14-17).
        total += sum(int(v) for v in fields[11:15 if children else 13]) / ticks
    return total


def cpu_by_role(roles: dict[int, str]) -> dict[str, float]:
    """CPU seconds per role, summed over the processes of each (`{pid: role}`)."""
    out: dict[str, float] = {}
    for pid, role in roles.items():
        out[role] = out.get(role, 0.0) + cpu_seconds(pid)
    return out


def parse_cpus(text: str) -> set[int]:
    """"0", "1", "0-1", "0,2-3" → the CPU numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus
