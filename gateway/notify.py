"""Telling a parent who stepped away that their turn is near (pure, no I/O): the SMTP
settings, addresses, and when "near the front" is (a room's own e-mail settings are its
NotifyConfig, gateway/rooms.py).

A room that offers it (`notify_by_email = true`) lets a waiting parent leave an e-mail
address. The leading worker sends one message with a personal link (gateway/links.py)
when the expected wait falls to `notify_minutes`, or at the turn itself; until then,
and for `notify_hold_minutes` after it, the place is kept without the page being open.
The address is deleted when the message goes or the place ends, and nothing of the
room's sign-ups outlives an empty line (docs/queue-page.md, "Stepping away").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from gateway import eta as eta_mod

if TYPE_CHECKING:
    from gateway.rooms import RoomConfig

# Sign-ups one address may make in one room within the window: a family with a few
# devices fits; using the room to flood somebody's mailbox does not.
SIGNUPS_PER_ADDRESS = 3
ADDRESS_WINDOW_MS = 3_600_000
# However the line goes, an address is never kept longer than this.
ADDRESS_MAX_KEEP_MS = 6 * 3_600_000
MAX_ADDRESS_LENGTH = 254

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def public_base(value: Any) -> str:
    """An http(s) origin (a path prefix allowed) without a trailing slash, or ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError("must be an address such as https://kampen.stad.be")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query \
            or parts.fragment or re.search(r"[\s\"'<>\\`]", value):
        raise ValueError("must be an http(s) address such as https://kampen.stad.be")
    return value.rstrip("/")


def link_max_age(room: RoomConfig) -> int:
    """Seconds a personal link is good for: the time the place is kept after the
    message, then the longer of the grace period and a session (a message at the turn
    itself is opened during the session)."""
    s = room.initial
    return room.notify.hold_minutes * 60 + max(s.grace_seconds, s.session_seconds)


# -- addresses ----------------------------------------------------------------------

def clean_address(text: str) -> str | None:
    """A deliverable-looking address with its domain in lower case (IDNA for non-ASCII
    names), or None. Deliberately plain: one @, no comments, no quoted local parts."""
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS_LENGTH or any(ord(c) < 33 for c in text):
        return None
    local, at, domain = text.rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or local.startswith(".") \
            or local.endswith(".") or ".." in local:
        return None
    try:
        domain = domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) \
            or labels[-1].isdigit():
        return None
    address = f"{local}@{domain}"
    return address if len(address) <= MAX_ADDRESS_LENGTH else None


def address_key(secret: str, room: str, address: str) -> str:
    """What the per-address limit counts by: a keyed hash, never the address itself,
    so that Redis holds no list of the addresses a room has seen."""
    key = hashlib.sha256(b"sluis.notify-address\x00" + secret.encode()).digest()
    return hmac.new(key, f"{room}\x00{address.lower()}".encode(), hashlib.sha256
                    ).hexdigest()[:32]


def safe_path(value: str | None) -> str:
    """A path on this site for the link to lead back to; anything else becomes "/"."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) \
            or len(value) > 1024 or any(ord(c) < 33 or c in "\\\"'<>" for c in value):
        return "/"
    if unquote(value.split("?", 1)[0]).lower().startswith("/_sluis"):
        return "/"
    return value


@dataclass(frozen=True, slots=True)
class Signup:
    """What is kept with a waiting visitor until their message goes: the address, the
    language to write in, and the page to lead back to."""

    address: str
    lang: str
    path: str

    def encode(self) -> str:
        return f"{self.lang}\n{self.path}\n{self.address}"

    @classmethod
    def decode(cls, raw: str) -> Signup | None:
        parts = raw.split("\n")
        if len(parts) != 3:
            return None
        return cls(address=parts[2], lang=parts[0], path=parts[1])


# -- near the front -----------------------------------------------------------------

def due_position(within_seconds: int, waiting: int, rate_per_minute: int,
                 measured: float | None, measured_low: float | None,
                 measured_high: float | None, max_active: int,
                 session_seconds: int) -> int:
    """The last position in line whose expected wait (the same central figure the
    queue page shows, gateway/eta.py) is at most `within_seconds`; 0 when nobody's is,
    or when no wait can be estimated (a paused or held room is not asked)."""
    def wait_of(position: int) -> int | None:
        return eta_mod.estimate(position - 1, rate_per_minute, measured, measured_low,
                                measured_high, max_active, session_seconds).seconds

    first = wait_of(1)
    if waiting <= 0 or first is None or first > within_seconds:
        return 0
    low, high = 1, waiting
    while low < high:  # the wait grows with the position: the last one within reach
        mid = (low + high + 1) // 2
        seconds = wait_of(mid)
        if seconds is not None and seconds <= within_seconds:
            low = mid
        else:
            high = mid - 1
    return low


# -- SMTP ---------------------------------------------------------------------------

STARTTLS_MODES = ("required", "auto", "off")


@dataclass(frozen=True, slots=True)
class MailSettings:
    """How the worker reaches its SMTP server, and the address links point to."""

    host: str
    sender: str
    public_url: str | None = None
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    # STARTTLS: "required" (the default), "auto" (when the server offers it) or "off";
    # implicit TLS (smtps://, port 465) instead when `tls` is set.
    starttls: str = "required"
    tls: bool = False
    ca_file: str | None = None
    timeout_seconds: float = 20.0


def _env(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def mail_from_env(env: Mapping[str, str], rooms: Sequence[RoomConfig]
                  ) -> MailSettings | None:
    """SLUIS_SMTP_URL (or SLUIS_SMTP_HOST and its companions), SLUIS_SMTP_FROM and
    SLUIS_PUBLIC_URL; None when no SMTP server is set. ValueError with the reason for a
    value that cannot work, or when a room offers e-mail that could not be sent."""
    wanting = [r.name for r in rooms if r.notify.by_email]
    url, host = _env(env, "SLUIS_SMTP_URL"), _env(env, "SLUIS_SMTP_HOST")
    if url is None and host is None:
        if wanting:
            raise ValueError(f"room {wanting[0]} has notify_by_email but neither "
                             "SLUIS_SMTP_URL nor SLUIS_SMTP_HOST is set")
        return None
    user, password = _env(env, "SLUIS_SMTP_USER"), _env(env, "SLUIS_SMTP_PASSWORD")
    tls = False
    port_text = _env(env, "SLUIS_SMTP_PORT")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SLUIS_SMTP_URL must look like smtp://user:password@host:587 "
                             "or smtps://host:465")
        host, tls = parts.hostname, parts.scheme == "smtps"
        user = unquote(parts.username) if parts.username else user
        password = unquote(parts.password) if parts.password else password
        try:
            port = parts.port or (465 if tls else 587)
        except ValueError:
            raise ValueError("SLUIS_SMTP_URL has a port that is not a number") from None
    else:
        try:
            port = int(port_text) if port_text else 587
        except ValueError:
            raise ValueError("SLUIS_SMTP_PORT must be a whole number") from None
    sender = _env(env, "SLUIS_SMTP_FROM")
    if sender is None or "@" not in sender:
        raise ValueError("SLUIS_SMTP_FROM must name the sender, e.g. "
                         "Stad Kampen <wachtrij@stad.be>")
    starttls = (_env(env, "SLUIS_SMTP_STARTTLS") or "required").lower()
    if starttls not in STARTTLS_MODES:
        raise ValueError(f"SLUIS_SMTP_STARTTLS must be one of {', '.join(STARTTLS_MODES)}")
    public = _env(env, "SLUIS_PUBLIC_URL")
    if public is not None:
        try:
            public = public_base(public)
        except ValueError as exc:
            raise ValueError(f"SLUIS_PUBLIC_URL {exc}") from None
    elif any(r.notify.by_email and not r.notify.public_url for r in rooms):
        raise ValueError("SLUIS_PUBLIC_URL must be set for the links in e-mail (the "
                         "address parents reach the waiting room at)")
    timeout = _env(env, "SLUIS_SMTP_TIMEOUT_SECONDS")
    try:
        timeout_seconds = float(timeout) if timeout else 20.0
    except ValueError:
        raise ValueError("SLUIS_SMTP_TIMEOUT_SECONDS must be a number") from None
    return MailSettings(host=host or "", sender=sender, public_url=public, port=port,
                        user=user, password=password, starttls=starttls, tls=tls,
                        ca_file=_env(env, "SLUIS_SMTP_CA_FILE"),
                        timeout_seconds=timeout_seconds)
