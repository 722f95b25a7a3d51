"""A parent who books and confirms sees the confirmation, and still sees it on a reload a
minute later, without a place and without holding the slot: Chromium against a gateway
with the internal booking engine (real processes, real Redis)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import Booking
from tests.browser.test_queue_page import (  # noqa: F401 - fixtures
    chromium,
    node_modules,
)

pytestmark = pytest.mark.slow


def test_a_parent_who_confirms_sees_the_confirmation_and_can_reload_it(
        redis_url: str, tmp_path: Path, chromium: str,  # noqa: F811
        node_modules: Path, booking_beside: Booking | None) -> None:  # noqa: F811
    # Started with the first browser test when others run too (tests/browser/conftest.py):
    # its minute passes while they run. Otherwise here and now.
    booking = booking_beside or Booking(redis_url, tmp_path, chromium)
    stdout, stderr = booking.result()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result:\n{stdout}\n{stderr}"
    result = json.loads(lines[-1])
    print(f"\n[exit] {result}")
    assert result["ok"], result
    assert result["reload_status"] == 200
    assert result["after_reload"] == result["confirmation"]
    assert result["reloaded_after_ms"] >= 60000  # a full minute after the confirmation
