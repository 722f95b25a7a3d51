"""Fixtures for the fault, abuse and bad-input suite: each test reports what it measured.

The figures are printed at the end of the run (they fill docs/reliability.md) and,
when SLUIS_RELIABILITY_FIGURES names a file, written there as JSON lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import orjson
import pytest
from hypothesis import HealthCheck, settings

# No example database in the working tree, no wall-clock deadline on a shared machine.
settings.register_profile("sluis", database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sluis")

_FIGURES: list[tuple[str, str, object]] = []

Figure = Callable[[str, object], None]


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Figure:
    """figure(name, value): one measured outcome of this test."""

    def record(name: str, value: object) -> None:
        _FIGURES.append((request.node.name, name, value))
        request.node.user_properties.append((name, value))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for test, name, value in _FIGURES:
        terminalreporter.write_line(f"{test}: {name} = {value}")
    target = os.environ.get("SLUIS_RELIABILITY_FIGURES")
    if target:
        with open(target, "ab") as fh:
            for test, name, value in _FIGURES:
                fh.write(orjson.dumps({"test": test, "figure": name, "value": value}) + b"\n")
