"""The visitor's pages: the queue page and the calm error pages (Jinja2).

A queue page differs between visitors only in a few figures, so each template is
rendered once per shape (state and the branches it takes) with placeholders, and
an answer only fills the figures in, escaped. Rendering the whole template per
request would cost more than everything else the gate does.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

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

_MARK = "\x00"
_SPECIAL = re.compile(r"[<>&\"'\x00]")


class _Figures:
    """Stands in for the per-visitor values while a shape is rendered."""

    def __getattr__(self, name: str) -> Markup:
        return Markup(f"{_MARK}{name}{_MARK}")


class Skeleton:
    """A rendered template split at its placeholders."""

    def __init__(self, text: str) -> None:
        self.parts = text.split(_MARK)

    def fill(self, values: Mapping[str, object]) -> bytes:
        parts = self.parts
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            value = values[parts[i]]
            # Whole numbers need no escaping; text is escaped only when it needs it.
            text = str(value)
            if type(value) is not int and _SPECIAL.search(text):
                text = str(escape(text))
            out.append(text)
            out.append(parts[i + 1])
        return "".join(out).encode()


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("gateway", "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._skeletons: dict[Hashable, Skeleton] = {}

    def _skeleton(self, template: str, shape: dict[str, Any]) -> Skeleton:
        key = (template, *shape.values())  # shapes of one template list the same names
        sk = self._skeletons.get(key)
        if sk is None:
            text = self.env.get_template(template).render(v=_Figures(), State=State, **shape)
            sk = self._skeletons[key] = Skeleton(text)
        return sk

    def queue(self, status: Status, title: str, check_url: str) -> bytes:
        s = status
        shape: dict[str, Any] = {"state": s.state, "has_eta": False, "one_ahead": s.ahead == 1}
        values: dict[str, object] = {
            "title": title, "check_url": check_url, "refresh": s.poll_after_seconds,
            "updated_at": s.updated_at, "updated_clock": s.updated_at[11:19],
        }
        if s.state in (State.QUEUED, State.PAUSED):
            values.update(position=s.position, ahead=s.ahead, total=s.queue_length,
                          done=s.queue_length - (s.ahead or 0))
            if s.eta.low is not None and s.eta.high is not None:
                shape["has_eta"] = True
                values.update(eta_low_min=max(1, round(s.eta.low / 60)),
                              eta_high_min=max(1, round(s.eta.high / 60)))
        elif s.state is State.PREQUEUE:
            opens_in = max(0, (s.opens_at_ms - s.now_ms) // 1000)
            values.update(opens_at=s.opens_at, opens_in_min=opens_in // 60,
                          opens_in_sec=opens_in % 60, seed_sha256=s.seed_sha256 or "")
        return self._skeleton("queue.html", shape).fill(values)

    def unavailable(self, title: str, retry_after: int, check_url: str) -> bytes:
        return self._skeleton("unavailable.html", {}).fill(
            {"title": title, "refresh": retry_after, "check_url": check_url})

    def limited(self, title: str, retry_after: int, check_url: str) -> bytes:
        return self._skeleton("limited.html", {}).fill(
            {"title": title, "refresh": retry_after, "check_url": check_url})
