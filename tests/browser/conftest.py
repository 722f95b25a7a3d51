"""The booking exit's reload comes a full minute after the confirmation, a minute in
which the browser, the gateway and the worker sit idle. So the scenario starts with the
first browser test, on a Redis of its own, and runs beside the others; its test comes
last among them and takes the result. Run alone, the test runs it there and then."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from gateway.store.embedded import EmbeddedRedis
from harness.processes import stop
from harness.sluis import gateway, sluis_env, worker
from tests.browser.test_queue_page import (  # noqa: F401 - fixtures, for the one below
    HERE,
    SHOTS,
    chromium,
    node_modules,
)

BOOKING = ("tests/browser/test_booking_exit.py::"
           "test_a_parent_who_confirms_sees_the_confirmation_and_can_reload_it")
BOOKING_TOML = """
[rooms.zomerkampen]
title = "Zomerkampen 2027"
rate_per_minute = 600
max_active = 1
session_seconds = 900
"""


class Booking:
    """booking.mjs against a gateway with the internal booking engine and a worker."""

    def __init__(self, redis_url: str, folder: Path, chromium: str) -> None:  # noqa: F811
        self.stack = ExitStack()
        self.folder = folder
        try:
            config = folder / "rooms.toml"
            config.write_text(BOOKING_TOML, encoding="utf-8")
            env = sluis_env(redis_url, folder, SLUIS_BACKEND="internal",
                            SLUIS_CONFIG=str(config), SLUIS_WORKER_TICK_MS="100",
                            SLUIS_INTERNAL_DEMO_DATA="true")
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.stack.callback(stop, worker(env, folder, "worker"))
            url = self.stack.enter_context(gateway(env, folder))
            out = self.stack.enter_context((folder / "booking.out").open("w"))
            err = self.stack.enter_context((folder / "booking.err").open("w"))
            self.node = subprocess.Popen(
                ["node", str(HERE / "booking.mjs")], cwd=HERE, stdout=out, stderr=err,
                text=True, env=dict(os.environ, SLUIS_URL=url, SLUIS_CHROMIUM=chromium,
                                    SLUIS_SHOTS=str(SHOTS), SLUIS_RELOAD_AFTER_MS="60000"))
            self.stack.callback(self._end_node)
        except BaseException:
            self.stack.close()
            raise

    def _end_node(self) -> None:
        if self.node.poll() is None:
            self.node.kill()
            self.node.wait()

    def result(self, timeout: float = 180) -> tuple[str, str]:
        """Once the scenario is over (its processes stopped): its stdout and stderr."""
        try:
            self.node.wait(timeout)
        finally:
            self.stack.close()
        return ((self.folder / "booking.out").read_text(),
                (self.folder / "booking.err").read_text())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The booking exit after the other browser tests, which run during its minute."""
    booking = [i for i in items if i.nodeid == BOOKING]
    browser = [n for n, i in enumerate(items) if i.nodeid.startswith("tests/browser/")]
    if booking and len(browser) > 1:
        items.remove(booking[0])
        items.insert(browser[-1], booking[0])


@pytest.fixture(scope="package", autouse=True)
def booking_beside(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booking | None]:
    """The booking scenario started with the first browser test, if its test is to run
    after others; None when it is not (its test then runs it itself)."""
    items = request.session.items
    if (not any(i.nodeid == BOOKING for i in items)
            or not any(i.nodeid.startswith("tests/browser/") and i.nodeid != BOOKING
                       for i in items)):
        yield None
        return
    try:
        browser = request.getfixturevalue("chromium")
        request.getfixturevalue("node_modules")
    except pytest.skip.Exception:
        yield None  # the booking test skips through the same fixtures
        return
    folder = tmp_path_factory.mktemp("booking-beside")
    redis_server = EmbeddedRedis(folder / "redis")
    try:
        redis_server.start()
        booking: Booking | None = Booking(redis_server.url, folder, browser)
    except Exception:  # its test runs it itself, and fails there if it must
        booking = None
    try:
        yield booking
    finally:
        if booking is not None:
            booking.stack.close()
        redis_server.stop()
