"""The rooms file (SLUIS_CONFIG): TOML → RoomConfig, every mistake named.

Each `[rooms.<name>]` table is read here whole: its live settings, texts and colours,
backend, paths and hosts, adaptive admission, session ends, inventory and e-mail. Every
bad value is collected with its place (`zomerkampen.rate_per_minute: must be ...`), and
the file is refused with all of them at once (RoomSettingsError).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backends.config import DEFAULT, KINDS, BackendConfig, BreakerBounds
from gateway.common.names import ROOM_PATTERN
from gateway.http import HOST_NAME, RESERVED_PREFIX, path_readings
from gateway.inventory import SOURCES, InventoryConfig
from gateway.notify import public_base
from gateway.rooms import (
    LIVE_FIELDS,
    AdaptiveBounds,
    Branding,
    LiveSettings,
    Localized,
    Network,
    NotifyConfig,
    RoomConfig,
    RoomSettingsError,
    RouteConfig,
    validate_changes,
)
from gateway.session_end import EndRules

# Each bit doubles the work: 24 bits is about 16 million tries, some 15 s in a desktop
# browser (docs/benchmarks.md); the upper bound only stops a typo from locking out everyone.
JOIN_PROOF_BITS = (0, 24)

HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
# The texts a room may set, each one string or a table of them by language.
TEXT_FIELDS = ("intro", "closed_text")
COLOUR_FIELDS = ("accent_color", "background_color", "text_color")
# The languages a room's texts may be given in.
_LANGS = ("nl", "fr", "en", "de")

MODES = ("queue", "passthrough", "queue_all")
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")

_ADAPTIVE_INTS: dict[str, tuple[str, int, int]] = {
    "adaptive_min_rate": ("min_rate", 0, 1_000_000),
    "adaptive_max_rate": ("max_rate", 1, 1_000_000),
    "adaptive_target_p95_ms": ("target_p95_ms", 1, 600_000),
    "adaptive_step": ("step", 1, 100_000),
    "adaptive_interval_seconds": ("interval_seconds", 2, 300),
    "adaptive_min_requests": ("min_requests", 1, 1_000_000),
}
_ADAPTIVE_FLOATS: dict[str, tuple[str, float, float]] = {
    "adaptive_max_error_rate": ("max_error_rate", 0.0, 1.0),
    "adaptive_decrease": ("decrease", 0.1, 0.99),
}

_BACKEND_FLOATS = {"connect_timeout_seconds": (0.1, 600.0),
                   "read_timeout_seconds": (0.1, 3600.0), "inflight_wait_seconds": (0.0, 60.0)}
_BACKEND_INTS = {"max_inflight": (1, 100_000), "handoff_ttl_seconds": (5, 3600)}
_BACKEND_BOOLS = ("preserve_host", "rewrite_headers", "rewrite_bodies", "websockets")
_BREAKER: dict[str, tuple[str, float, float]] = {
    "breaker_error_rate": ("error_rate", 0.0, 1.0),
    "breaker_p95_ms": ("p95_ms", 0, 600_000),
    "breaker_window_seconds": ("window_seconds", 1, 300),
    "breaker_min_requests": ("min_requests", 1, 1_000_000),
    "breaker_cooldown_seconds": ("cooldown_seconds", 1, 3600)}
BACKEND_KEYS = ("backend", "upstream", "cookie_domain", "public_url", "upstream_origin",
                "secret_header", "secret_value", "secret_value_env", "handoff_param",
                *_BACKEND_FLOATS, *_BACKEND_INTS, *_BACKEND_BOOLS, *_BREAKER)


def _whole_in(value: Any, low: int, high: int) -> bool:
    """A whole number from low to high (TOML's true and false are not numbers here,
    though Python counts them as ints)."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number_in(value: Any, low: float, high: float) -> bool:
    """A number, whole or not, from low to high (true and false are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


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


def load_rooms(path: str | None, env: Mapping[str, str] | None = None
               ) -> tuple[RoomConfig, ...]:
    """Rooms from the TOML file at `path`, or the one room `default`. `env` (default: the
    process's) holds the secrets that `*_env` keys name."""
    if path is None:
        return (RoomConfig(name="default"),)
    env = os.environ if env is None else env
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoomSettingsError({"SLUIS_CONFIG": f"cannot read {path}: {exc.strerror}"}) from None
    except tomllib.TOMLDecodeError as exc:
        raise RoomSettingsError({"SLUIS_CONFIG": f"{path} is not valid TOML: {exc}"}) from None
    tables = data.get("rooms")
    if not isinstance(tables, dict) or not tables:
        raise RoomSettingsError({"SLUIS_CONFIG": "needs at least one [rooms.<name>] table"})
    return tuple(room_from_table(name, t, env) for name, t in tables.items() if isinstance(t, dict))


def room_from_table(name: str, table: Mapping[str, Any], env: Mapping[str, str]) -> RoomConfig:
    """One `[rooms.<name>]` table as a RoomConfig, or RoomSettingsError with every reason."""
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
    backend, reasons = parse_backend(name, table, env)
    route, more = parse_route(name, table, env)
    adaptive, most = parse_adaptive(name, table)
    end_on, ending = parse_end_rules(name, table)
    inventory, stock = parse_inventory(name, table.get("inventory"), env)
    notify, telling = parse_notify(name, table)
    reasons = {**reasons, **more, **most, **ending, **stock, **telling}
    proof_bits = table.get("join_proof_bits", 0)
    low, high = JOIN_PROOF_BITS
    if not _whole_in(proof_bits, low, high):
        reasons[f"{name}.join_proof_bits"] = (
            f"must be a whole number between {low} (off) and {high}")
    exit_seconds = table.get("exit_seconds", 120)
    if not _whole_in(exit_seconds, 0, 3600):
        reasons[f"{name}.exit_seconds"] = "must be a whole number between 0 (off) and 3600"
    if reasons:
        raise RoomSettingsError(reasons)
    return RoomConfig(name=name, title=branding.text("titles", "nl") or name, timezone=timezone,
                      initial=initial, branding=branding, backend=backend or BackendConfig(),
                      route=route, adaptive=adaptive, join_proof_bits=proof_bits,
                      end_on=end_on, inventory=inventory, exit_seconds=exit_seconds,
                      notify=notify)


def parse_route(name: str, table: Mapping[str, Any], env: Mapping[str, str] | None = None
                ) -> tuple[RouteConfig, dict[str, str]]:
    """A room's routing keys; (config, reasons for every bad value)."""
    env = os.environ if env is None else env
    reasons: dict[str, str] = {}
    case_sensitive = table.get("case_sensitive_paths", False)
    if not isinstance(case_sensitive, bool):
        reasons[f"{name}.case_sensitive_paths"] = "must be true or false"
        case_sensitive = False
    paths: list[str] = []
    for p in _strings(name, "paths", table, reasons):
        prefix = p.rstrip("/") or "/"
        if not p.startswith("/") or _is_reserved_prefix(prefix) or (
                path_readings(prefix.encode()) != [prefix]):
            reasons[f"{name}.paths"] = (
                "each path starts with /, is written decoded and canonical (no %, \\, ;, "
                "dot segments or names ending in a dot) and is not under /_sluis")
        else:
            paths.append(prefix if case_sensitive else prefix.lower())
    hosts: list[str] = []
    for h in _strings(name, "hosts", table, reasons):
        host = h.lower().removesuffix(".")
        if host == "*" or HOST_NAME.fullmatch(host.removeprefix("*.")):
            hosts.append(host)
        else:
            reasons[f"{name}.hosts"] = (
                "each host is a DNS name such as kampen.stad.be (no port), *.stad.be, or *")
    mode = table.get("mode", "queue")
    if mode not in MODES:
        reasons[f"{name}.mode"] = f"must be one of {', '.join(MODES)}"
    nets: list[Network] = []
    for n in _strings(name, "bypass_networks", table, reasons):
        try:
            nets.append(ipaddress.ip_network(n, strict=False))
        except ValueError:
            reasons[f"{name}.bypass_networks"] = f"{n!r} is not an address or network"
    bypass_header = table.get("bypass_header")
    secret = table.get("bypass_secret")
    if "bypass_secret_env" in table:
        secret = env.get(str(table["bypass_secret_env"]), "") or None
        if secret is None:
            reasons[f"{name}.bypass_secret_env"] = "names an unset environment variable"
    if bypass_header is not None and (
            not isinstance(bypass_header, str) or not _HEADER.fullmatch(bypass_header)):
        reasons[f"{name}.bypass_header"] = "must be a header name (letters, digits, -)"
    if (bypass_header is None) != (secret is None):
        reasons[f"{name}.bypass_header"] = "bypass_header and bypass_secret(_env) go together"
    elif secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        reasons[f"{name}.bypass_secret"] = "must be a text of at least 16 characters"
    if reasons:
        return RouteConfig(), reasons
    return RouteConfig(
        paths=tuple(paths), hosts=tuple(hosts), case_sensitive_paths=case_sensitive,
        mode=str(mode), bypass_networks=tuple(nets),
        bypass_header=bypass_header.lower().encode() if isinstance(bypass_header, str) else None,
        bypass_secret=secret.encode() if isinstance(secret, str) else None,
    ), {}


def _strings(name: str, key: str, table: Mapping[str, Any], reasons: dict[str, str]
             ) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        reasons[f"{name}.{key}"] = "must be a list of texts"
        return []
    return list(value)


def _is_reserved_prefix(prefix: str) -> bool:
    low = prefix.lower()
    return low == RESERVED_PREFIX or low.startswith(RESERVED_PREFIX + "/")


def parse_adaptive(name: str, table: Mapping[str, Any]
                   ) -> tuple[AdaptiveBounds, dict[str, str]]:
    reasons: dict[str, str] = {}
    values: dict[str, Any] = {}
    if "adaptive" in table:
        if isinstance(table["adaptive"], bool):
            values["enabled"] = table["adaptive"]
        else:
            reasons[f"{name}.adaptive"] = "must be true or false"
    for key, (attr, lo, hi) in _ADAPTIVE_INTS.items():
        if key in table:
            v = table[key]
            if not _whole_in(v, lo, hi):
                reasons[f"{name}.{key}"] = f"must be a whole number between {lo} and {hi}"
            else:
                values[attr] = v
    for key, (attr, flo, fhi) in _ADAPTIVE_FLOATS.items():
        if key in table:
            v = table[key]
            if not _number_in(v, flo, fhi):
                reasons[f"{name}.{key}"] = f"must be a number between {flo} and {fhi}"
            else:
                values[attr] = float(v)
    bounds = AdaptiveBounds(**values)
    if bounds.min_rate > bounds.max_rate:
        reasons[f"{name}.adaptive_min_rate"] = "must not be above adaptive_max_rate"
    return (AdaptiveBounds() if reasons else bounds), reasons


def parse_end_rules(room: str, table: Mapping[str, Any]) -> tuple[EndRules, dict[str, str]]:
    reasons: dict[str, str] = {}
    paths = table.get("end_on_paths", [])
    if not isinstance(paths, list) or not all(
            isinstance(p, str) and p.startswith("/") and len(p) <= 500 for p in paths):
        reasons[f"{room}.end_on_paths"] = "must be a list of path patterns starting with /"
        paths = []
    markers = table.get("end_on_markers", [])
    if not isinstance(markers, list) or not all(
            isinstance(m, str) and m.strip() and len(m) <= 200 for m in markers):
        reasons[f"{room}.end_on_markers"] = "must be a list of texts of 1 to 200 characters"
        markers = []
    return EndRules.of(tuple(paths), tuple(markers)), reasons


def parse_inventory(room: str, table: Any, env: Mapping[str, str] | None = None
                    ) -> tuple[InventoryConfig | None, dict[str, str]]:
    """(the config or None when the room names no source, every reason a value is bad).
    `env` (default: the process's) holds the secret that `authorization_env` names."""
    if table is None:
        return None, {}
    where = f"{room}.inventory"
    if not isinstance(table, Mapping):
        return None, {where: "must be a table: [rooms.<name>.inventory]"}
    reasons: dict[str, str] = {}
    known = {"source", "url", "path", "interval_seconds", "timeout_seconds", "sessions",
             "marker", "marker_hold_seconds", "waiting_list_url", "waiting_list_text",
             "authorization_env"}
    for key in table:
        if key not in known:
            reasons[f"{where}.{key}"] = f"unknown setting (use {', '.join(sorted(known))})"
    source = table.get("source", "url" if "url" in table else None)
    if source not in SOURCES:
        reasons[f"{where}.source"] = f"must be one of {', '.join(SOURCES)}"
    values: dict[str, Any] = {"source": source}
    url = table.get("url")
    if url is not None or source == "url":
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            reasons[f"{where}.url"] = "must be an http:// or https:// address"
        else:
            values["url"] = url
    if "authorization_env" in table:
        name = table["authorization_env"]
        secret = (os.environ if env is None else env).get(name, "") if isinstance(
            name, str) else ""
        if not secret or any(c in secret for c in "\r\n"):
            reasons[f"{where}.authorization_env"] = (
                "names an unset environment variable (it holds the whole Authorization "
                "header, e.g. \"Token abc123\")")
        else:
            values["authorization"] = secret
    path = table.get("path", "")
    if not isinstance(path, str) or (source == "url" and not path):
        reasons[f"{where}.path"] = ("the member that holds the number of places left, "
                                    "e.g. \"available\" or \"events.*.remaining\"")
    else:
        values["path"] = tuple(p for p in path.split(".") if p)
    for key, low, high in (("interval_seconds", 0.5, 3600.0), ("timeout_seconds", 0.1, 60.0)):
        if key in table:
            v = table[key]
            if not _number_in(v, low, high):
                reasons[f"{where}.{key}"] = f"must be a number between {low:g} and {high:g}"
            else:
                values[key] = float(v)
    hold = table.get("marker_hold_seconds", 60)
    if not _whole_in(hold, 1, 86_400):
        reasons[f"{where}.marker_hold_seconds"] = "must be a whole number between 1 and 86400"
    else:
        values["marker_hold_seconds"] = hold
    sessions = table.get("sessions", [])
    if not isinstance(sessions, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in sessions):
        reasons[f"{where}.sessions"] = "must be a list of booking session ids"
    else:
        values["sessions"] = tuple(sessions)
    marker = table.get("marker")
    if marker is not None:
        if not isinstance(marker, str) or not marker.strip() or len(marker) > 200:
            reasons[f"{where}.marker"] = "must be a text of 1 to 200 characters"
        else:
            values["marker"] = marker
    if source == "marker" and "marker" not in values:
        reasons.setdefault(f"{where}.marker", "a marker source needs the marker text")
    link = table.get("waiting_list_url")
    if link is not None:
        parts = urlsplit(link) if isinstance(link, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(
                c in link for c in "\"'<> \\`"):
            reasons[f"{where}.waiting_list_url"] = "must be an http:// or https:// address"
        else:
            values["waiting_list_url"] = link
    text = table.get("waiting_list_text")
    if isinstance(text, str):
        values["waiting_list_text"] = (("", text),)
    elif isinstance(text, Mapping) and all(
            k in _LANGS and isinstance(v, str) for k, v in text.items()):
        values["waiting_list_text"] = tuple(text.items())
    elif text is not None:
        reasons[f"{where}.waiting_list_text"] = (
            "must be a text or a table of texts by language (nl, fr, en, de)")
    if reasons:
        return None, reasons
    return InventoryConfig(**values), {}


def _address(url: object) -> SplitResult | None:
    """An http(s) URL with a host name and a possible port, taken apart; else None."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises for a port that cannot be
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.hostname else None


def parse_backend(room: str, table: Mapping[str, Any], env: Mapping[str, str] | None = None
                  ) -> tuple[BackendConfig | None, dict[str, str]]:
    """(config or None when the table sets no backend key, reasons for every bad value)."""
    if not any(k in table for k in BACKEND_KEYS):
        return None, {}
    env = os.environ if env is None else env
    reasons: dict[str, str] = {}
    values: dict[str, Any] = {}
    kind = table.get("backend", "proxy" if "upstream" in table else DEFAULT)
    if kind not in (*KINDS, DEFAULT):
        reasons[f"{room}.backend"] = f"must be one of {', '.join(KINDS)}"
    values["kind"] = kind
    for key in ("upstream", "public_url", "upstream_origin"):
        url = table.get(key)
        if url is None:
            continue
        parts = _address(url)
        if parts is None:
            reasons[f"{room}.{key}"] = "must be an http:// or https:// address"
        elif key == "upstream_origin" and (parts.path not in ("", "/") or parts.query
                                           or parts.fragment or parts.username):
            reasons[f"{room}.{key}"] = "must be an origin: scheme://host[:port], no path"
        else:
            values[key] = url if key == "upstream" else url.rstrip("/")
    if kind in ("proxy", "handoff") and "upstream" not in values and not reasons:
        reasons[f"{room}.upstream"] = f"a {kind} backend needs an upstream address"
    for key, (low, high) in _BACKEND_FLOATS.items():
        if key in table:
            v = table[key]
            if not _number_in(v, low, high):
                reasons[f"{room}.{key}"] = f"must be a number between {low} and {high}"
            else:
                values[key] = float(v)
    for key, (lo, hi) in _BACKEND_INTS.items():
        if key in table:
            v = table[key]
            if not _whole_in(v, lo, hi):
                reasons[f"{room}.{key}"] = f"must be a whole number between {lo} and {hi}"
            else:
                values[key] = v
    for key in _BACKEND_BOOLS:
        if key in table:
            if isinstance(table[key], bool):
                values[key] = table[key]
            else:
                reasons[f"{room}.{key}"] = "must be true or false"
    for key in ("cookie_domain", "secret_header", "secret_value", "handoff_param"):
        if key in table:
            v = table[key]
            if not isinstance(v, str) or not v or any(c in v for c in "\r\n;, "):
                reasons[f"{room}.{key}"] = "must be a text without spaces, commas or ;"
            else:
                values[key] = v
    if "secret_value_env" in table:
        name = table["secret_value_env"]
        secret = env.get(name, "") if isinstance(name, str) else ""
        if not secret:
            reasons[f"{room}.secret_value_env"] = "names an unset environment variable"
        else:
            values["secret_value"] = secret
    if ("secret_header" in values) != ("secret_value" in values):
        reasons[f"{room}.secret_header"] = "secret_header and secret_value(_env) go together"
    breaker: dict[str, Any] = {}
    for key, (name, least, most) in _BREAKER.items():
        if key in table:
            v = table[key]
            if not _number_in(v, least, most) or (
                    name != "error_rate" and not isinstance(v, int)):
                reasons[f"{room}.{key}"] = f"must be between {least:g} and {most:g}"
            else:
                breaker[name] = v
    values["breaker"] = BreakerBounds(**breaker)
    if reasons:
        return None, reasons
    return BackendConfig(**values), {}


def _whole(name: str, key: str, table: Mapping[str, Any], default: int, low: int, high: int,
           reasons: dict[str, str]) -> int:
    value = table.get(key, default)
    if not _whole_in(value, low, high):
        reasons[f"{name}.{key}"] = f"must be a whole number between {low} and {high}"
        return default
    return int(value)


def parse_notify(name: str, table: Mapping[str, Any]) -> tuple[NotifyConfig, dict[str, str]]:
    """A room's e-mail keys; (config, reasons for every bad value)."""
    reasons: dict[str, str] = {}
    d = NotifyConfig()
    on = table.get("notify_by_email", False)
    if not isinstance(on, bool):
        reasons[f"{name}.notify_by_email"] = "must be true or false"
        on = False
    minutes = _whole(name, "notify_minutes", table, d.minutes, 1, 120, reasons)
    hold = _whole(name, "notify_hold_minutes", table, d.hold_minutes, 1, 240, reasons)
    per_minute = _whole(name, "notify_per_minute", table, d.per_minute, 1, 100_000,
                        reasons)
    base = None
    if table.get("public_url") is not None:
        try:
            base = public_base(table["public_url"])
        except ValueError as exc:
            reasons[f"{name}.public_url"] = str(exc)
    return NotifyConfig(by_email=on, minutes=minutes, hold_minutes=hold,
                        per_minute=per_minute, public_url=base), reasons
