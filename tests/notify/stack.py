"""Sluis as real processes with e-mail on: an upstream site, a worker and a gateway
whose SMTP server is a local one the test runs (tests/notify/smtp.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.common.net import free_port
from harness.processes import stop
from harness.sluis import gateway, sluis_env, worker
from tests.notify.smtp import Inbox, smtp_server
from tests.processes import upstream_site

ADMIN_TOKEN = "notify-test-admin-token"

ROOMS = """
[rooms.zomerkampen]
title = { nl = "Zomerkampen 2027", fr = "Camps d'été 2027", en = "Summer camps 2027", de = "Sommerlager 2027" }
notify_by_email = true
notify_minutes = 5
rate_per_minute = 0
max_active = 0
session_seconds = 900

[rooms.zwemmen]
paths = ["/zwemmen"]
notify_by_email = true
rate_per_minute = 0
max_active = 0
"""  # noqa: E501 - TOML tables stay on one line


@contextmanager
def notify_stack(redis_url: str, tmp: Path, inbox: Inbox, rooms: str = ROOMS
                 ) -> Iterator[str]:
    """The gateway's address, with a worker behind it that mails through `inbox`."""
    config = tmp / "rooms.toml"
    config.write_text(rooms, encoding="utf-8")
    port = free_port()
    with upstream_site(tmp) as upstream:
        env = sluis_env(redis_url, tmp, SLUIS_BACKEND=upstream, SLUIS_CONFIG=str(config),
                        SLUIS_WORKER_TICK_MS="100", SLUIS_ADMIN_TOKEN=ADMIN_TOKEN,
                        SLUIS_SMTP_HOST=inbox.host, SLUIS_SMTP_PORT=str(inbox.port),
                        SLUIS_SMTP_STARTTLS="off",
                        SLUIS_SMTP_FROM="Stad Kampen <wachtrij@stad.example>",
                        SLUIS_PUBLIC_URL=f"http://127.0.0.1:{port}")
        w = worker(env, tmp)
        try:
            with gateway(env, tmp, port=port) as url:
                yield url
        finally:
            stop(w)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A local SMTP server for one test (tests/notify/smtp.py)."""
    with smtp_server() as box:
        yield box


@pytest.fixture
def sluis(redis_url: str, tmp_path: Path, inbox: Inbox) -> Iterator[str]:
    """notify_stack mailing through `inbox`: the gateway's address."""
    with notify_stack(redis_url, tmp_path, inbox) as url:
        yield url
