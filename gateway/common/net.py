"""Ports on this machine: the embedded Redis, the tests, the load tests and the
benchmarks all ask for a free one here."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (the kernel's choice).

    Free when asked, not reserved: whoever uses it binds it soon after."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
