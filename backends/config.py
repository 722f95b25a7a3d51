"""A room's backend settings from its `[rooms.<name>]` table (no I/O but one env lookup).

Rooms that name no backend use SLUIS_BACKEND (`internal`, or an upstream URL to
proxy to) with the defaults below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit

KINDS = ("proxy", "handoff", "internal")
DEFAULT = "default"  # the kind of a room that names none: SLUIS_BACKEND


@dataclass(frozen=True, slots=True)
class BreakerBounds:
    """When admissions pause by themselves: the backend's error rate or p95 latency over
    the last `window_seconds`, once at least `min_requests` answers were seen."""

    error_rate: float = 0.5          # 0 turns this bound off
    p95_ms: int = 0                  # 0 turns this bound off
    window_seconds: int = 10
    min_requests: int = 20
    cooldown_seconds: int = 30       # paused at least this long before resuming

    @property
    def enabled(self) -> bool:
        return self.error_rate > 0 or self.p95_ms > 0


@dataclass(frozen=True, slots=True)
class BackendConfig:
    kind: str = DEFAULT
    upstream: str | None = None
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    # Requests in flight to the backend from one gateway process; more wait briefly.
    max_inflight: int = 100
    inflight_wait_seconds: float = 2.0
    preserve_host: bool = False
    rewrite_headers: bool = True
    rewrite_bodies: bool = True
    cookie_domain: str | None = None
    # The gateway's address as visitors see it; unset: the request's own Host.
    public_url: str | None = None
    # The origin the upstream believes is its own, when guessing it from `upstream` and
    # the visitor's scheme is wrong; Origin and Referer naming the gateway name it instead.
    upstream_origin: str | None = None
    secret_header: str | None = None
    secret_value: str | None = field(default=None, repr=False)
    websockets: bool = True
    handoff_param: str = "sluis_admission"
    handoff_ttl_seconds: int = 60
    breaker: BreakerBounds = BreakerBounds()

    def resolved(self, sluis_backend: str) -> BackendConfig:
        """Kind `default` made concrete from SLUIS_BACKEND."""
        if self.kind != "default":
            return self
        base = default_config(sluis_backend)
        return replace(self, kind=base.kind, upstream=base.upstream)


_FLOATS = {"connect_timeout_seconds": (0.1, 600.0), "read_timeout_seconds": (0.1, 3600.0),
           "inflight_wait_seconds": (0.0, 60.0)}
_INTS = {"max_inflight": (1, 100_000), "handoff_ttl_seconds": (5, 3600)}
_BOOLS = ("preserve_host", "rewrite_headers", "rewrite_bodies", "websockets")
_BREAKER: dict[str, tuple[str, float, float]] = {
    "breaker_error_rate": ("error_rate", 0.0, 1.0),
    "breaker_p95_ms": ("p95_ms", 0, 600_000),
    "breaker_window_seconds": ("window_seconds", 1, 300),
    "breaker_min_requests": ("min_requests", 1, 1_000_000),
    "breaker_cooldown_seconds": ("cooldown_seconds", 1, 3600)}
KEYS = ("backend", "upstream", "cookie_domain", "public_url", "upstream_origin",
        "secret_header", "secret_value", "secret_value_env", "handoff_param", *_FLOATS, *_INTS,
        *_BOOLS, *_BREAKER)


def default_config(sluis_backend: str) -> BackendConfig:
    """The backend of a room that names none: SLUIS_BACKEND."""
    if sluis_backend.startswith(("http://", "https://")):
        return BackendConfig(kind="proxy", upstream=sluis_backend)
    return BackendConfig(kind="internal")


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
    if not any(k in table for k in KEYS):
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
    for key, (low, high) in _FLOATS.items():
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
                reasons[f"{room}.{key}"] = f"must be a number between {low} and {high}"
            else:
                values[key] = float(v)
    for key, (lo, hi) in _INTS.items():
        if key in table:
            v = table[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                reasons[f"{room}.{key}"] = f"must be a whole number between {lo} and {hi}"
            else:
                values[key] = v
    for key in _BOOLS:
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
            wrong = (isinstance(v, bool) or not isinstance(v, int | float)
                     or not least <= v <= most)
            if wrong or (name != "error_rate" and not isinstance(v, int)):
                reasons[f"{room}.{key}"] = f"must be between {least:g} and {most:g}"
            else:
                breaker[name] = v
    values["breaker"] = BreakerBounds(**breaker)
    if reasons:
        return None, reasons
    return BackendConfig(**values), {}
