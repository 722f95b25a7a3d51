"""The visitor's pages: the queue page and the calm error pages (Jinja2), and the
security headers every answer of Sluis's own carries.

A queue page differs between visitors only in a few figures, so each template is
rendered once per shape (room, language, state and the branches it takes) with
placeholders, and an answer only fills the figures in, escaped. Rendering the whole
template per request would cost more than everything else the gate does.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from gateway import i18n
from gateway.http import HTML_TYPE, NO_STORE, Headers
from gateway.rooms import RoomConfig, iso_from_ms
from gateway.standing import ARRIVING_POLL_SECONDS, Standing, State

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'{style}; "
       "img-src 'self' data:{img}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS: Headers = [
    (b"content-security-policy", CSP.format(style="", img="").encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")
SECURE_HEADERS: Headers = [*SECURITY_HEADERS, HSTS]
REFRESH_COOKIE = "sluis_refresh"
PREFS_PATH = "/_sluis/prefs"
DAY_SECONDS = 86_400
# A page without a place reloads itself without JS (with the cookie) after
# ARRIVING_POLL_SECONDS; in a room with proof-of-work, which needs the script, only after:
PROOF_REFRESH = 60

_MARK = "\x00"
_SPECIAL = re.compile(r"[<>&\"'\x00]")


_BESIDE_NO_STORE = {https: [h for h in (SECURE_HEADERS if https else SECURITY_HEADERS)
                            if h[0] != b"x-content-type-options"] for https in (False, True)}


def security_headers(https: bool, beside_no_store: bool = False) -> Headers:
    """What every answer of Sluis's own carries; HSTS only where HTTPS was used.

    `beside_no_store`: the answer already has NO_STORE, which brings `nosniff`."""
    if beside_no_store:
        return _BESIDE_NO_STORE[https]
    return SECURE_HEADERS if https else SECURITY_HEADERS


class _Figures:
    """Stands in for the per-visitor values while a shape is rendered."""

    def __getattr__(self, name: str) -> Markup:
        return Markup(f"{_MARK}{name}{_MARK}")  # noqa: S704 - a name, no visitor text


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


# -- safe Markdown ------------------------------------------------------------------

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s()<>]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EM = re.compile(r"(?<![*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?![*\w])")


def safe_markdown(text: str) -> Markup:
    """A small, safe Markdown: paragraphs, **bold**, *em*, [links](https://…).

    Everything is escaped first; only the markup made here is let through, and a
    link goes only to an http(s) address."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        if not block.strip():
            continue
        html = str(escape(" ".join(line.strip() for line in block.splitlines())))
        html = _LINK.sub(r'<a href="\2" rel="noopener noreferrer">\1</a>', html)
        html = _BOLD.sub(r"<strong>\1</strong>", html)
        html = _EM.sub(r"<em>\1</em>", html)
        out.append(f"<p>{html}</p>")
    return Markup("\n".join(out))  # noqa: S704 - built from escaped text above


# -- one room's look ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Look:
    """A room's branding, made ready for the page once: a style block allowed by its
    hash in the CSP (no 'unsafe-inline'), the logo's origin allowed for images."""

    style: str
    logo_url: str | None
    logo_alt: str
    csp: bytes


def _rgb(colour: str) -> tuple[int, int, int]:
    h = colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def look_of(room: RoomConfig) -> Look:
    b = room.branding
    rules = []
    if b.accent_color:
        rules.append(f"--accent:{b.accent_color}")
        # Text on the accent colour: whichever of white and near-black reads better.
        rules.append("--on-accent:" + ("#ffffff" if _luminance(b.accent_color) < 0.18
                                       else "#10191f"))
    if b.background_color:
        rules.append(f"--paper:{b.background_color}")
    if b.text_color:
        rules.append(f"--ink:{b.text_color}")
    style = (":root{" + ";".join(rules) + "}") if rules else ""
    style_src = ""
    if style:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        style_src = f" 'sha256-{digest}'"
    img_src = ""
    if b.logo_url and b.logo_url.startswith(("https://", "http://")):
        parts = urlsplit(b.logo_url)
        img_src = f" {parts.scheme}://{parts.netloc}"
    return Look(style=style, logo_url=b.logo_url, logo_alt=b.logo_alt,
                csp=CSP.format(style=style_src, img=img_src).encode())


# -- what a page shows --------------------------------------------------------------

def _half_up(x: float) -> int:
    return int(x + 0.5)


def eta_shape(low: int | None, high: int | None) -> tuple[str, int, int]:
    """The kind of wait to tell ("unknown", "soon", "min", "hours") and its two figures.

    The page's script computes the same, so that it knows when only figures changed."""
    if low is None or high is None:
        return "unknown", 0, 0
    if high < 60:
        return "soon", 0, 0
    if low >= 5400:
        lo = max(1, _half_up(low / 3600))
        return "hours", lo, max(lo + 1, -(-high // 3600))
    lo = max(1, _half_up(low / 60))
    return "min", lo, max(lo + 1, -(-high // 60))


def ahead_shape(ahead: int | None) -> str:
    return "none" if not ahead else "one" if ahead == 1 else "many"


@functools.lru_cache(maxsize=1024)
def _quoted(url: str) -> str:
    return quote(url, safe="/")


def _countdown(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("gateway", "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        self.catalogs = i18n.Catalogs()
        self._skeletons: dict[Hashable, Skeleton] = {}
        self._looks: dict[str, Look] = {}
        self._headers: dict[tuple[str, str, bool], Headers] = {}

    def look(self, room: RoomConfig) -> Look:
        look = self._looks.get(room.name)
        if look is None:
            look = self._looks[room.name] = look_of(room)
        return look

    def headers(self, room: RoomConfig, lang: str, https: bool) -> Headers:
        """The headers of an HTML page of this room: built once per room and language."""
        key = (room.name, lang, https)
        out = self._headers.get(key)
        if out is None:
            csp = (b"content-security-policy", self.look(room).csp)
            out = [HTML_TYPE, *NO_STORE, csp, (b"content-language", lang.encode()),
                   *(h for h in security_headers(https, beside_no_store=True)
                     if h[0] != b"content-security-policy")]
            self._headers[key] = out
        return out

    def _skeleton(self, template: str, room: RoomConfig, lang: str,
                  shape: dict[str, Any]) -> Skeleton:
        # Shapes of one template list the same names, in the same order.
        key = (template, room.name, lang, *shape.values())
        sk = self._skeletons.get(key)
        if sk is None:
            self.env.install_gettext_callables(  # type: ignore[attr-defined]
                self.catalogs.gettext(lang), self.catalogs.ngettext(lang), newstyle=True)
            b = room.branding
            text = self.env.get_template(template).render(
                v=_Figures(), State=State, room=room, lang=lang, look=self.look(room),
                title=room.title_in(lang), languages=i18n.LANGUAGE_NAMES.items(),
                intro=safe_markdown(b.text("intro", lang)),
                closed_text=safe_markdown(b.text("closed_text", lang)),
                waiting_list=room.inventory.waiting_list(lang) if room.inventory else None,
                prefs=PREFS_PATH,
                shape_key=shape_key(shape["state"], shape) if "state" in shape else "", **shape)
            sk = self._skeletons[key] = Skeleton(text)
        return sk

    def queue(self, here: Standing, room: RoomConfig, check_url: str, lang: str = "nl",
              refresh: bool = True) -> bytes:
        """The queue page of a visitor who stands `here`."""
        seconds = here.now_ms // 1000
        values: dict[str, object] = {
            "check_url": check_url, "next": _quoted(check_url), "refresh": here.poll_after_seconds,
            "updated_at": here.updated_at, "updated_clock": i18n.clock(seconds, lang, room.tz),
            "now_ms": here.now_ms, "grace_min": max(1, here.grace_seconds // 60),
        }
        shape: dict[str, Any] = {"state": here.state, "refresh_on": refresh, "ahead_kind": "",
                                 "eta_kind": "", "far": False, "has_seed": here.seed is not None,
                                 "has_hash": bool(here.seed_sha256), "arriving": False,
                                 "proof_on": False, "places_on": False}
        if here.places_left is not None:
            values["places_left"] = here.places_left
        if here.state in (State.QUEUED, State.PAUSED):
            shape["places_on"] = here.places_left is not None
            ahead = here.ahead or 0
            kind, low, high = eta_shape(here.eta.low, here.eta.high)
            shape.update(ahead_kind=ahead_shape(ahead), eta_kind=kind)
            total = max(here.queue_length, here.position or 0)
            values.update(position=here.position, ahead=ahead, total=total,
                          done=total - ahead, eta_low=low, eta_high=high,
                          seed=here.seed or "", seed_sha256=here.seed_sha256 or "")
        elif here.state is State.PREQUEUE:
            opens_in = max(0, (here.opens_at_ms - here.now_ms) // 1000)
            day, clock = i18n.day_and_time(here.opens_at_ms // 1000, lang, room.tz)
            shape["far"] = opens_in >= DAY_SECONDS
            values.update(opens_at=here.opens_at or "", opens_day=day, opens_time=clock,
                          opens_ms=here.opens_at_ms, countdown=_countdown(opens_in),
                          seed_sha256=here.seed_sha256 or "")
        return self._skeleton("queue.html", room, lang, shape).fill(values)

    def arriving(self, room: RoomConfig, check_url: str, now_ms: int, lang: str = "nl",
                 refresh: bool = True, challenge: str = "", proof_bits: int = 0) -> bytes:
        """The first answer to a browser without a visitor cookie: the cookie goes with
        it, the place comes when the browser brings the cookie back (the page's first
        status call, or the refresh a second later). Needs no store."""
        seconds = now_ms // 1000
        values: dict[str, object] = {
            "check_url": check_url, "next": _quoted(check_url),
            # Without scripting a room with proof-of-work cannot be joined: no fast loop.
            "refresh": PROOF_REFRESH if proof_bits else ARRIVING_POLL_SECONDS,
            "proof": challenge, "proof_bits": proof_bits,
            "updated_at": iso_from_ms(now_ms, room.tz) or "",
            "updated_clock": i18n.clock(seconds, lang, room.tz), "now_ms": now_ms,
            "grace_min": 1,
        }
        shape: dict[str, Any] = {"state": State.NONE, "refresh_on": refresh, "ahead_kind": "",
                                 "eta_kind": "", "far": False, "has_seed": False,
                                 "has_hash": False, "arriving": True,
                                 "proof_on": bool(proof_bits), "places_on": False}
        return self._skeleton("queue.html", room, lang, shape).fill(values)

    def unavailable(self, room: RoomConfig, retry_after: int, check_url: str,
                    lang: str = "nl", refresh: bool = True) -> bytes:
        return self._skeleton("unavailable.html", room, lang, {"refresh_on": refresh}).fill(
            {"refresh": retry_after, "check_url": check_url, "next": _quoted(check_url)})

    def limited(self, room: RoomConfig, retry_after: int, check_url: str,
                lang: str = "nl", refresh: bool = True) -> bytes:
        return self._skeleton("limited.html", room, lang, {"refresh_on": refresh}).fill(
            {"refresh": retry_after, "check_url": check_url, "next": _quoted(check_url)})

    def notice(self, room: RoomConfig, lang: str, heading: str, sentence: str,
               back_url: str) -> bytes:
        """A page of its own for what the e-mail form and the personal link answer
        (routes/notify.py): rare, so rendered whole, with the room's look."""
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            self.catalogs.gettext(lang), self.catalogs.ngettext(lang), newstyle=True)
        return self.env.get_template("notice.html").render(
            room=room, lang=lang, look=self.look(room), title=room.title_in(lang),
            heading=heading, sentence=sentence, back=back_url).encode()


def shape_key(state: State, shape: Mapping[str, Any]) -> str:
    """What the page's script compares with its own reading of the status JSON."""
    if state in (State.QUEUED, State.PAUSED):
        places = ".places" if shape.get("places_on") else ""
        return f"{state.value}.{shape['ahead_kind']}.{shape['eta_kind']}{places}"
    if state is State.PREQUEUE:
        return "prequeue.far" if shape["far"] else "prequeue.near"
    return state.value
