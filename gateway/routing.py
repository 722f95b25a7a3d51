"""Which room a request belongs to (path prefix, host name), and who passes without queueing.

A room's `[rooms.<name>]` table may name `paths` and `hosts`; the most specific room
wins (a matching host, then the longest matching path prefix), and a request no room
claims goes to the first room that claims nothing (else the first room). Bypass rules
let operators and health checks through without a place in line; `mode` makes a room
count without queueing (`passthrough`) or queue everyone even when idle (`queue_all`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.http import canonical_path, client_address, header

if TYPE_CHECKING:
    from backends.admission import Admission
    from gateway.rooms import RoomConfig
    from gateway.tickets import Tickets
    from gateway.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MODES = ("queue", "passthrough", "queue_all")
ROUTE_KEYS = ("paths", "hosts", "mode", "bypass_networks", "bypass_header", "bypass_secret",
              "bypass_secret_env")
_HOST = re.compile(r"[a-z0-9*]([a-z0-9.-]*[a-z0-9])?")
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")
FREE_PASS_SECONDS = 300


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """Where a room lives and who passes it freely (checked when the file is read)."""

    paths: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    mode: str = "queue"
    bypass_networks: tuple[Network, ...] = ()
    bypass_header: bytes | None = None
    bypass_secret: bytes | None = field(default=None, repr=False)

    @property
    def may_pass_when_idle(self) -> bool:
        return self.mode != "queue_all"


def parse_route(name: str, table: Mapping[str, Any], env: Mapping[str, str] | None = None
                ) -> tuple[RouteConfig, dict[str, str]]:
    """A room's routing keys; (config, reasons for every bad value)."""
    env = os.environ if env is None else env
    reasons: dict[str, str] = {}
    paths: list[str] = []
    for p in _strings(name, "paths", table, reasons):
        if not p.startswith("/") or p.startswith("/_sluis") or canonical_path(p) != p.rstrip("/"):
            reasons[f"{name}.paths"] = "each path starts with / and is canonical (not /_sluis)"
        else:
            paths.append(p.rstrip("/") or "/")
    hosts: list[str] = []
    for h in _strings(name, "hosts", table, reasons):
        if _HOST.fullmatch(h.lower()):
            hosts.append(h.lower())
        else:
            reasons[f"{name}.hosts"] = "each host is a DNS name such as kampen.stad.be"
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
        paths=tuple(paths), hosts=tuple(hosts), mode=str(mode), bypass_networks=tuple(nets),
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


def _host(scope: Scope) -> str:
    raw = header(scope["headers"], b"host") or b""
    host = raw.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _path_matches(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True, slots=True)
class Rooms:
    """Which room a request belongs to."""

    rooms: tuple[RoomConfig, ...]

    def for_scope(self, scope: Scope) -> RoomConfig:
        if len(self.rooms) == 1:
            return self.rooms[0]
        host = _host(scope)
        path = canonical_path(scope["path"])
        best: tuple[int, int] = (-1, -1)
        chosen: RoomConfig | None = None
        for room in self.rooms:
            r = room.route
            if r.hosts and not any(_host_matches(host, h) for h in r.hosts):
                continue
            lengths = [len(p) for p in r.paths if _path_matches(path, p)]
            if r.paths and not lengths:
                continue
            if not r.hosts and not r.paths:
                continue  # the fallback room; chosen only when nobody claims the request
            score = (1 if r.hosts else 0, max(lengths, default=0))
            if score > best:
                best, chosen = score, room
        return chosen or self.fallback

    @property
    def fallback(self) -> RoomConfig:
        return next((r for r in self.rooms if not r.route.hosts and not r.route.paths),
                    self.rooms[0])

    def by_name(self, name: str | None) -> RoomConfig | None:
        if name is None:
            return self.rooms[0]
        for room in self.rooms:
            if room.name == name:
                return room
        return None


def free_pass(room: RoomConfig, scope: Scope, trusted: Sequence[Network]) -> str | None:
    """Why this request passes without a place in line ("bypass", "passthrough"), or None."""
    r = room.route
    if r.bypass_networks:
        address = client_address(scope.get("client"), scope["headers"], trusted)
        if address is not None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                ip = None
            if ip is not None and any(ip in net for net in r.bypass_networks):
                return "bypass"
    if r.bypass_header is not None and r.bypass_secret is not None:
        given = header(scope["headers"], r.bypass_header)
        if given is not None and hmac.compare_digest(given, r.bypass_secret):
            return "bypass"
    if r.mode == "passthrough":
        return "passthrough"
    return None


class FreePasses:
    """Admission tokens for requests that pass freely, one per room and reason, reissued
    well before they lapse, so that the backend still sees a valid `Sluis-Admission`."""

    def __init__(self, tickets: Tickets) -> None:
        self.tickets = tickets
        self._cache: dict[tuple[str, str], tuple[float, str, Admission]] = {}

    def token(self, room: str, why: str) -> tuple[str, Admission]:
        now = time.monotonic()
        hit = self._cache.get((room, why))
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        token = self.tickets.admission.issue(room, why, FREE_PASS_SECONDS)
        admission = self.tickets.admission.check(token)
        assert admission is not None
        self._cache[(room, why)] = (now + FREE_PASS_SECONDS / 2, token, admission)
        return token, admission
