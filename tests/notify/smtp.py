"""A real local SMTP server for the tests (aiosmtpd on 127.0.0.1), with STARTTLS and
AUTH when asked for: what it received, message by message."""

from __future__ import annotations

import email
import email.policy
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from gateway.common.net import free_port

LINK = re.compile(r"https?://\S+/_sluis/place\?t=\S+")


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    over_tls: bool
    login: str | None

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    @property
    def link(self) -> str:
        found = LINK.search(self.text)
        assert found, self.text
        return found.group(0)


@dataclass
class Inbox:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    refuse_with: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse_with:
            return f"{self.refuse_with} 5.1.1 not here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        data = session.auth_data
        login = data.login.decode() if isinstance(data, LoginPassword) else None
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          message, session.ssl is not None, login))
        return "250 Message accepted"

    def wait(self, count: int = 1, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise TimeoutError(f"{len(self.received)} of {count} messages within {timeout} s")


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, made with openssl."""
    cert, key = tmp / "smtp.crt", tmp / "smtp.key"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return cert, key


@contextmanager
def smtp_server(tls: tuple[Path, Path] | None = None,
                login: tuple[str, str] | None = None) -> Iterator[Inbox]:
    """The server, running until the block ends. With `tls`, STARTTLS is required; with
    `login`, AUTH too (only over TLS)."""
    import ssl

    inbox = Inbox("127.0.0.1", free_port())
    kwargs: dict[str, Any] = {}
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        kwargs.update(tls_context=context, require_starttls=True)
    if login is not None:
        def check(server: Any, session: Any, envelope: Any, mechanism: str,
                  data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (
                data.login.decode(), data.password.decode()) == login
            return AuthResult(success=ok, handled=False, auth_data=data)

        kwargs.update(authenticator=check, auth_required=True)
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port,
                            server_hostname="smtp.test", **kwargs)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
