"""Rooms: what each waiting room is (configuration) and the live settings operators change."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backends.admission import ROOM_PATTERN
from backends.config import BackendConfig, parse_backend
from gateway.inventory import InventoryConfig, parse_inventory
from gateway.notify import NotifyConfig, parse_notify
from gateway.routing import RouteConfig, parse_route
from gateway.session_end import EndRules, parse_end_rules
from gateway.tuning import AdaptiveBounds, parse_adaptive


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
# Each bit doubles the work: 24 bits is about 16 million tries, some 15 s in a desktop
# browser (docs/benchmarks.md); the upper bound only stops a typo from locking out everyone.
JOIN_PROOF_BITS = (0, 24)


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


HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
# The texts a room may set, each one string or a table of them by language.
TEXT_FIELDS = ("intro", "closed_text")
COLOUR_FIELDS = ("accent_color", "background_color", "text_color")
_LANGS = ("nl", "fr", "en", "de")
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
class RoomConfig:
    """A room as configured: its name, texts, and the settings it starts with."""

    name: str
    title: str = "Registrations"
    timezone: str = "Europe/Brussels"
    initial: LiveSettings = LiveSettings()
    branding: Branding = Branding()
    # What admitted visitors reach (backends/config.py); by default SLUIS_BACKEND.
    backend: BackendConfig = BackendConfig()  # noqa: RUF009 - frozen, safely shared
    # Paths and hosts it serves, its mode and bypass rules (gateway/routing.py).
    route: RouteConfig = RouteConfig()  # noqa: RUF009 - frozen, safely shared
    # Adaptive admission's bounds (gateway/tuning.py); off by default.
    adaptive: AdaptiveBounds = AdaptiveBounds()  # noqa: RUF009 - frozen, safely shared
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
    notify: NotifyConfig = NotifyConfig()  # noqa: RUF009 - frozen, safely shared

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


def _room_from_table(name: str, table: Mapping[str, Any]) -> RoomConfig:
    if not ROOM_PATTERN.match(name):
        raise RoomSettingsError({name: "room names use a-z, 0-9, - and _ (at most 63)"})
    live = {k: table[k] for k in LIVE_FIELDS if k in table}
    typed = validate_changes(live) if live else {}
    base = LiveSettings()
    initial = LiveSettings(
        rate_per_minute=int(typed.get("rate_per_minute", base.rate_per_minute)),
        max_active=int(typed.get("max_active", base.max_active)),
        session_seconds=int(typed.get("session_seconds", base.session_seconds)),
        paused=bool(typed.get("paused", base.paused)),
        opens_at_ms=int(typed.get("opens_at", 0)),
        grace_seconds=int(typed.get("grace_seconds", base.grace_seconds)),
        closed=bool(typed.get("closed", base.closed)),
        closes_at_ms=int(typed.get("closes_at", 0)),
        idle_seconds=int(typed.get("idle_seconds", base.idle_seconds)),
    )
    timezone = str(table.get("timezone", "Europe/Brussels"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RoomSettingsError({f"{name}.timezone": f"unknown time zone {timezone!r}"}) from None
    branding = parse_branding(name, table)
    backend, reasons = parse_backend(name, table)
    route, more = parse_route(name, table)
    adaptive, most = parse_adaptive(name, table)
    end_on, ending = parse_end_rules(name, table)
    inventory, stock = parse_inventory(name, table.get("inventory"))
    notify, telling = parse_notify(name, table)
    reasons = {**reasons, **more, **most, **ending, **stock, **telling}
    proof_bits = table.get("join_proof_bits", 0)
    low, high = JOIN_PROOF_BITS
    if isinstance(proof_bits, bool) or not isinstance(proof_bits, int) or not (
            low <= proof_bits <= high):
        reasons[f"{name}.join_proof_bits"] = (
            f"must be a whole number between {low} (off) and {high}")
    exit_seconds = table.get("exit_seconds", 120)
    if isinstance(exit_seconds, bool) or not isinstance(exit_seconds, int) or not (
            0 <= exit_seconds <= 3600):
        reasons[f"{name}.exit_seconds"] = "must be a whole number between 0 (off) and 3600"
    if reasons:
        raise RoomSettingsError(reasons)
    return RoomConfig(name=name, title=branding.text("titles", "nl") or name, timezone=timezone,
                      initial=initial, branding=branding, backend=backend or BackendConfig(),
                      route=route, adaptive=adaptive, join_proof_bits=proof_bits,
                      end_on=end_on, inventory=inventory, exit_seconds=exit_seconds,
                      notify=notify)


def _localized(where: str, value: Any, reasons: dict[str, str]) -> Localized:
    if value is None:
        return ()
    if isinstance(value, str):
        return (("", value),)
    if isinstance(value, dict):
        out = []
        for lang, text in value.items():
            if lang not in _LANGS or not isinstance(text, str):
                reasons[f"{where}.{lang}"] = f"use one of {', '.join(_LANGS)} with a text"
            else:
                out.append((lang, text))
        return tuple(out)
    reasons[where] = "must be a text or a table of texts by language (nl, fr, en, de)"
    return ()


def _logo_url(value: Any) -> str | None:
    """An http(s) address or a path on this site; nothing that could leave an attribute."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 2048:
        raise ValueError("must be a text of at most 2048 characters")
    if re.search(r"[\s\"'<>\\`]", value) or any(ord(c) < 32 for c in value):
        raise ValueError("must not contain spaces, quotes, angle brackets or backslashes")
    if value.startswith(("https://", "http://")) or (
            value.startswith("/") and not value.startswith("//")):
        return value
    raise ValueError("must start with https://, http:// or / (a path on this site)")


def parse_branding(name: str, table: Mapping[str, Any]) -> Branding:
    """A room's title, logo, colours and texts from its TOML table, every mistake named."""
    reasons: dict[str, str] = {}
    titles = _localized(f"{name}.title", table.get("title"), reasons)
    colours: dict[str, str | None] = {}
    for key in COLOUR_FIELDS:
        value = table.get(key)
        if value is None:
            colours[key] = None
        elif isinstance(value, str) and HEX_COLOUR.fullmatch(value):
            colours[key] = value.lower()
        else:
            reasons[f"{name}.{key}"] = "must be a hex colour such as #0b5f7a or #fff"
            colours[key] = None
    try:
        logo = _logo_url(table.get("logo_url"))
    except ValueError as exc:
        reasons[f"{name}.logo_url"] = str(exc)
        logo = None
    logo_alt = table.get("logo_alt", "")
    if not isinstance(logo_alt, str):
        reasons[f"{name}.logo_alt"] = "must be a text"
        logo_alt = ""
    texts = {key: _localized(f"{name}.{key}", table.get(key), reasons) for key in TEXT_FIELDS}
    if reasons:
        raise RoomSettingsError(reasons)
    return Branding(titles=titles, logo_url=logo, logo_alt=logo_alt,
                    accent_color=colours["accent_color"],
                    background_color=colours["background_color"],
                    text_color=colours["text_color"],
                    intro=texts["intro"], closed_text=texts["closed_text"])


def load_rooms(path: str | None) -> tuple[RoomConfig, ...]:
    """Rooms from the TOML file at `path`, or the one room `default`."""
    if path is None:
        return (RoomConfig(name="default"),)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoomSettingsError({"SLUIS_CONFIG": f"cannot read {path}: {exc.strerror}"}) from None
    except tomllib.TOMLDecodeError as exc:
        raise RoomSettingsError({"SLUIS_CONFIG": f"{path} is not valid TOML: {exc}"}) from None
    tables = data.get("rooms")
    if not isinstance(tables, dict) or not tables:
        raise RoomSettingsError({"SLUIS_CONFIG": "needs at least one [rooms.<name>] table"})
    return tuple(_room_from_table(name, t) for name, t in tables.items() if isinstance(t, dict))
