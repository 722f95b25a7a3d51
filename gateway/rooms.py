"""Rooms: what each waiting room is (configuration, with the types of its parts) and the
live settings operators change. The rooms file is read in gateway/roomfile.py."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from backends.config import BackendConfig
from gateway.inventory import InventoryConfig
from gateway.session_end import EndRules

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RoomSettingsError(ValueError):
    """Bad room settings; `reasons` maps each field to what is wrong with it."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.reasons.items()))


# Live settings: stored in Redis, changed by operators, read by the worker every tick.
LIVE_FIELDS = ("rate_per_minute", "max_active", "session_seconds", "paused", "opens_at",
               "grace_seconds", "closed", "closes_at", "idle_seconds")
LIMITS = {
    "rate_per_minute": (0, 1_000_000),
    "max_active": (0, 10_000_000),
    "session_seconds": (30, 86_400),
    "grace_seconds": (30, 86_400),
    "idle_seconds": (0, 86_400),
}
# An idle limit shorter than this would end sessions between two renewals of a visitor
# who is still clicking (the gateway renews at most every few seconds).
MIN_IDLE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class LiveSettings:
    rate_per_minute: int = 60
    max_active: int = 100
    session_seconds: int = 900
    paused: bool = False
    opens_at_ms: int = 0  # 0: open, no pre-queue
    grace_seconds: int = 300
    closed: bool = False
    closes_at_ms: int = 0  # 0: no scheduled closing; from then on no new joins
    # A session ends after this long without a request (0: no idle limit); it never
    # lasts longer than session_seconds from admission either way.
    idle_seconds: int = 0

    @property
    def first_window(self) -> int:
        """Seconds a fresh admission lasts before its first renewal."""
        if self.idle_seconds:
            return min(self.idle_seconds, self.session_seconds)
        return self.session_seconds

    def as_redis(self) -> dict[str, str]:
        return {
            "rate_per_minute": str(self.rate_per_minute),
            "max_active": str(self.max_active),
            "session_seconds": str(self.session_seconds),
            "paused": "1" if self.paused else "0",
            "opens_at": str(self.opens_at_ms),
            "grace_seconds": str(self.grace_seconds),
            "closed": "1" if self.closed else "0",
            "closes_at": str(self.closes_at_ms),
            "idle_seconds": str(self.idle_seconds),
        }

    @classmethod
    def from_redis(cls, raw: Mapping[bytes | str, bytes | str]) -> LiveSettings:
        def get(name: str, default: int) -> int:
            value = raw.get(name, raw.get(name.encode()))
            if value is None or value == b"" or value == "":
                return default
            return int(value)

        d = cls()
        return cls(
            rate_per_minute=get("rate_per_minute", d.rate_per_minute),
            max_active=get("max_active", d.max_active),
            session_seconds=get("session_seconds", d.session_seconds),
            paused=bool(get("paused", 0)),
            opens_at_ms=get("opens_at", 0),
            grace_seconds=get("grace_seconds", d.grace_seconds),
            closed=bool(get("closed", 0)),
            closes_at_ms=get("closes_at", 0),
            idle_seconds=get("idle_seconds", 0),
        )

    def public(self, tz: ZoneInfo) -> dict[str, Any]:
        return {
            "rate_per_minute": self.rate_per_minute,
            "max_active": self.max_active,
            "session_seconds": self.session_seconds,
            "paused": self.paused,
            "opens_at": iso_from_ms(self.opens_at_ms, tz),
            "grace_seconds": self.grace_seconds,
            "closed": self.closed,
            "closes_at": iso_from_ms(self.closes_at_ms, tz),
            "idle_seconds": self.idle_seconds,
        }


Localized = tuple[tuple[str, str], ...]  # (language or "", text); "" is for every language


@dataclass(frozen=True, slots=True)
class Branding:
    """How a room's pages look: checked when the configuration is read, so that a
    colour or a logo address can never carry markup or CSS into a page."""

    titles: Localized = ()
    logo_url: str | None = None
    logo_alt: str = ""
    accent_color: str | None = None
    background_color: str | None = None
    text_color: str | None = None
    intro: Localized = ()  # safe Markdown
    closed_text: Localized = ()  # safe Markdown

    def text(self, field: str, lang: str) -> str:
        values: Localized = getattr(self, field)
        for wanted in (lang, "", "nl"):
            for key, value in values:
                if key == wanted:
                    return value
        return values[0][1] if values else ""


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """Where a room lives and who passes it freely (checked when the file is read)."""

    paths: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    # Paths are compared in lower case unless the room says its site tells cases apart
    # (its prefixes are then compared as written).
    case_sensitive_paths: bool = False
    mode: str = "queue"
    bypass_networks: tuple[Network, ...] = ()
    bypass_header: bytes | None = None
    bypass_secret: bytes | None = field(default=None, repr=False)

    @property
    def may_pass_when_idle(self) -> bool:
        return self.mode != "queue_all"


@dataclass(frozen=True, slots=True)
class AdaptiveBounds:
    """Adaptive admission's operator bounds; off by default. When on, the leading worker
    moves the room's rate between `min_rate` and `max_rate` from the backend's measured
    p95 latency and error rate (queue_worker/adaptive.py)."""

    enabled: bool = False
    min_rate: int = 10                # admissions per minute, never below
    max_rate: int = 600               # never above
    target_p95_ms: int = 800          # above this the rate falls
    max_error_rate: float = 0.02      # at or above this the rate falls
    step: int = 10                    # added per healthy interval (admissions per minute)
    decrease: float = 0.7             # the rate is multiplied by this on an unhealthy interval
    interval_seconds: int = 10        # one decision per interval, on that window of answers
    min_requests: int = 20            # fewer answers in a window: no evidence, no change


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """A room's e-mail to parents near the front; off unless the rooms file says so."""

    by_email: bool = False
    # Minutes of expected wait at which the message goes; minutes the place is kept
    # after it; messages the room sends per minute.
    minutes: int = 5
    hold_minutes: int = 15
    per_minute: int = 120
    # Where the personal link points for this room (scheme and host); None: the
    # deployment's SLUIS_PUBLIC_URL.
    public_url: str | None = None

    @property
    def hold_ms(self) -> int:
        return self.hold_minutes * 60_000


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """A room as configured: its name, texts, and the settings it starts with."""

    name: str
    title: str = "Registrations"
    timezone: str = "Europe/Brussels"
    initial: LiveSettings = LiveSettings()
    branding: Branding = Branding()
    # What admitted visitors reach (backends/config.py); by default SLUIS_BACKEND.
    backend: BackendConfig = BackendConfig()  # noqa: RUF009 - frozen, safely shared
    # Paths and hosts it serves, its mode and bypass rules (gateway/routing.py uses them).
    route: RouteConfig = RouteConfig()
    # Adaptive admission's bounds (queue_worker/adaptive.py); off by default.
    adaptive: AdaptiveBounds = AdaptiveBounds()
    # Leading zero bits of the proof-of-work a first join needs (gateway/proof.py);
    # 0: none. Only in the rooms file, never changed live.
    join_proof_bits: int = 0
    # Answers that end a visitor's session without the backend's help (session_end.py).
    end_on: EndRules = EndRules()  # noqa: RUF009 - frozen, safely shared
    # Where the number of places left comes from (inventory.py); None: not known.
    inventory: InventoryConfig | None = None
    # After the site ends a session, GET and HEAD still pass this long without a place:
    # the confirmation, its redirect and a reload of it (Gate.pass_out). 0: off.
    exit_seconds: int = 120
    # E-mail to parents near the front (gateway/notify.py); off by default.
    notify: NotifyConfig = NotifyConfig()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def title_in(self, lang: str) -> str:
        return self.branding.text("titles", lang) or self.title


def iso_from_ms(ms: int, tz: ZoneInfo) -> str | None:
    if not ms:
        return None
    return _iso_second(ms // 1000, tz)


@functools.lru_cache(maxsize=256)
def _iso_second(seconds: int, tz: ZoneInfo) -> str:
    # Every answer in the same second shows the same time: format it once.
    return datetime.fromtimestamp(seconds, tz).isoformat(timespec="seconds")


def parse_opens_at(value: Any) -> int:
    """An ISO 8601 time with offset (or null / "" for "open now") as epoch milliseconds."""
    if value is None or value == "":
        return 0
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                "must be an ISO 8601 date and time, e.g. 2027-03-01T09:00:00+01:00") from None
    else:
        raise ValueError("must be an ISO 8601 string or null")
    if moment.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. +01:00")
    ms = int(moment.astimezone(UTC).timestamp() * 1000)
    if ms <= 0:
        raise ValueError("must be after 1970")
    return ms


def validate_changes(changes: Any) -> dict[str, int | bool]:
    """Operator input → typed live-setting values, or RoomSettingsError with every reason."""
    if not isinstance(changes, dict):
        raise RoomSettingsError({"body": "must be a JSON object"})
    if not changes:
        raise RoomSettingsError({"body": f"name at least one of {', '.join(LIVE_FIELDS)}"})
    reasons: dict[str, str] = {}
    out: dict[str, int | bool] = {}
    for key, value in changes.items():
        if key not in LIVE_FIELDS:
            reasons[str(key)[:64]] = "unknown setting"
        elif key in ("paused", "closed"):
            if isinstance(value, bool):
                out[key] = value
            else:
                reasons[key] = "must be true or false"
        elif key in ("opens_at", "closes_at"):
            try:
                out[key] = parse_opens_at(value)
            except ValueError as exc:
                reasons[key] = str(exc)
        else:
            low, high = LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, int):
                reasons[key] = "must be a whole number"
            elif not low <= value <= high:
                reasons[key] = f"must be between {low} and {high}"
            elif key == "idle_seconds" and 0 < value < MIN_IDLE_SECONDS:
                reasons[key] = f"must be 0 (no idle limit) or at least {MIN_IDLE_SECONDS}"
            else:
                out[key] = value
    if reasons:
        raise RoomSettingsError(reasons)
    return out


