"""The visitor's pages: the queue page and the calm error pages (Jinja2)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from gateway.http import HTML_TYPE, NO_STORE, Headers
from gateway.status import State, Status

SECURITY_HEADERS: Headers = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
PAGE_HEADERS: Headers = [HTML_TYPE, *NO_STORE, *SECURITY_HEADERS]


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("gateway", "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._queue = self.env.get_template("queue.html")
        self._unavailable = self.env.get_template("unavailable.html")
        self._limited = self.env.get_template("limited.html")

    def queue(self, status: Status, title: str, check_url: str) -> bytes:
        minutes: dict[str, Any] = {}
        if status.eta.low is not None and status.eta.high is not None:
            minutes = {"low": max(1, round(status.eta.low / 60)),
                       "high": max(1, round(status.eta.high / 60))}
        return self._queue.render(
            s=status, State=State, title=title, minutes=minutes, check_url=check_url,
            opens_in=max(0, (status.opens_at_ms - status.now_ms) // 1000),
        ).encode()

    def unavailable(self, title: str, retry_after: int, check_url: str) -> bytes:
        return self._unavailable.render(title=title, retry_after=retry_after,
                                        check_url=check_url).encode()

    def limited(self, title: str, retry_after: int, check_url: str) -> bytes:
        return self._limited.render(title=title, retry_after=retry_after,
                                    check_url=check_url).encode()
