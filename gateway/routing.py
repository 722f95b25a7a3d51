"""Which room a request belongs to (path prefix, host name), and who passes without queueing.

A room may name `paths` and `hosts` (gateway/roomfile.py reads them); the most specific room
wins (a matching host, then the longest matching path prefix), and a request no room
claims goes to the first room that claims nothing (else the first room). Once any room
names hosts, a Host no room names is refused (`hosts = ["*"]` takes every host), and a
room's paths are its own on every host of an upstream it shares. A path is matched in
every reading that common servers make of it; one that names different rooms in
different readings is refused. Bypass rules let operators and health checks through
without a place in line; `mode` makes a room count without queueing (`passthrough`) or
queue everyone even when idle (`queue_all`).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gateway.common.memo import Memo
from gateway.http import (
    NO_STORE,
    PLAIN_PATH,
    canonical_host,
    client_address,
    header,
    path_readings,
    respond,
)
from gateway.rooms import Network, RoomConfig

if TYPE_CHECKING:
    from backends.admission import Admission
    from backends.config import BackendConfig
    from gateway.passes import Passes
    from gateway.types import Receive, Scope, Send

FREE_PASS_SECONDS = 300
# Host headers remembered with what they name: a site has few; forgotten all at once
# when a client sends many.
SEEN_HOSTS = 1024


def _host_rank(host: str, patterns: tuple[str, ...]) -> int:
    """How closely a room's host patterns name the host: 2 by name, 1 by `*.domain`,
    0 by `*`; -1 not at all."""
    rank = -1
    for pattern in patterns:
        if pattern == host:
            return 2
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                rank = 1
        elif pattern == "*":
            rank = max(rank, 0)
    return rank


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _upstream_of(backend: BackendConfig, sluis_backend: str | None) -> str:
    """One spelling of where a room's admitted visitors are sent: rooms with the same
    one reach the same pages by the same path, whatever Host the visitor sent."""
    cfg = backend.resolved(sluis_backend) if sluis_backend is not None else backend
    if cfg.kind in ("internal", "default") or not cfg.upstream:
        return cfg.kind
    parts = urlsplit(cfg.upstream)
    port = parts.port
    if port in (80, 443):
        port = None
    return f"{(parts.hostname or '').lower()}:{port or ''}{parts.path.rstrip('/')}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The answer to a request that no room may take, as a small ASGI app."""

    status: int
    text: bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await respond(send, self.status, self.text,
                      [(b"content-type", b"text/plain; charset=utf-8"), *NO_STORE],
                      scope.get("method") == "HEAD")


# 421 Misdirected Request: this gateway does not serve the site the Host names.
UNKNOWN_HOST = Refusal(421, b"This site is not served at this address.\n")
BAD_HOST = Refusal(400, b"The name of the site (Host) in this request cannot be read.\n")
AMBIGUOUS_PATH = Refusal(
    400, b"This address can be read in more than one way, so it is not passed on. "
         b"Please use the link as the site gives it.\n")


@dataclass(frozen=True, slots=True)
class _Claim:
    room: RoomConfig
    hosts: tuple[str, ...]
    prefixes: tuple[str, ...]
    case_sensitive: bool
    upstream: str


class Rooms:
    """Which room a request belongs to."""

    def __init__(self, rooms: Sequence[RoomConfig], sluis_backend: str | None = None) -> None:
        """`sluis_backend`: SLUIS_BACKEND, which rooms that name no backend of their own use
        (to tell which rooms share an upstream)."""
        self.rooms = tuple(rooms)
        self.fallback = next((r for r in self.rooms if not r.route.hosts and not r.route.paths),
                             self.rooms[0])
        claims = [_Claim(r, r.route.hosts, r.route.paths, r.route.case_sensitive_paths,
                         _upstream_of(r.backend, sluis_backend)) for r in self.rooms]
        self._claims = tuple(c for c in claims if c.hosts or c.prefixes)
        self._upstream = {c.room.name: c.upstream for c in claims}
        self._by_host = any(c.hosts for c in claims)
        # Rooms whose paths guard an upstream on every host (rooms by host only).
        self._guards = tuple(c for c in claims if c.prefixes) if self._by_host else ()
        patterns = {h for c in claims for h in c.hosts}
        self._any_host = "*" in patterns
        self._names = frozenset(p for p in patterns if not p.startswith("*"))
        self._domains = tuple(p[1:] for p in patterns if p.startswith("*."))
        self._seen_hosts: Memo[tuple[bytes | None, str], str | Refusal] = Memo(SEEN_HOSTS)

    def for_scope(self, scope: Scope) -> RoomConfig | Refusal:
        if len(self.rooms) == 1:
            return self.rooms[0]
        if not self._claims:
            return self.fallback
        host = ""
        if self._by_host:
            raw_host = header(scope["headers"], b"host")
            key = (raw_host, scope.get("scheme", "http"))
            known = self._seen_hosts.get(key)
            if known is None:
                known = self._seen_hosts.put(key, self._host_of(*key))
            if isinstance(known, Refusal):
                return known
            host = known
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        if b"?" in raw:
            raw = raw.partition(b"?")[0]  # (a raw_path with its query, as httpx gives it)
        if PLAIN_PATH.fullmatch(raw):
            return self._choose(host, raw.decode("ascii") or "/")
        # The path is forwarded as it came: every reading of it must name one room.
        readings = path_readings(raw)
        if readings is None:
            return AMBIGUOUS_PATH
        room = self._choose(host, readings[0])
        for other in readings[1:]:
            if self._choose(host, other) is not room:
                return AMBIGUOUS_PATH
        return room

    def _host_of(self, raw: bytes | None, scheme: str) -> str | Refusal:
        seen = canonical_host(raw, scheme)
        if seen is None:
            return BAD_HOST
        host = seen[0]  # the port says which listener was reached, not which site
        if self._any_host or host in self._names or host.endswith(self._domains):
            return host
        return UNKNOWN_HOST

    def _choose(self, host: str, path: str) -> RoomConfig:
        lower = path.lower()
        best = (-1, -1)
        chosen = self.fallback
        claimed = ""
        for c in self._claims:
            rank = 0
            if c.hosts:
                rank = _host_rank(host, c.hosts)
                if rank < 0:
                    continue
            prefix = ""
            if c.prefixes:
                seen = path if c.case_sensitive else lower
                for p in c.prefixes:
                    if len(p) > len(prefix) and _under(seen, p):
                        prefix = p
                if not prefix:
                    continue
            if (rank, len(prefix)) > best:
                best, chosen, claimed = (rank, len(prefix)), c.room, prefix
        if self._guards:
            chosen = self._guarded(chosen, claimed, path, lower)
        return chosen

    def _guarded(self, chosen: RoomConfig, claimed: str, path: str, lower: str) -> RoomConfig:
        """The room whose paths the request reaches on the chosen room's upstream, when
        that room claims more of the path than the chosen one: whatever the Host, the
        upstream serves it the same page."""
        upstream = self._upstream[chosen.name]
        longest = len(claimed)
        for c in self._guards:
            if c.room is chosen or c.upstream != upstream:
                continue
            seen = path if c.case_sensitive else lower
            for prefix in c.prefixes:
                if len(prefix) > longest and _under(seen, prefix):
                    chosen, longest = c.room, len(prefix)
        return chosen

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

    def __init__(self, passes: Passes) -> None:
        self.passes = passes
        self._cache: dict[tuple[str, str], tuple[float, str, Admission]] = {}

    def token(self, room: str, why: str) -> tuple[str, Admission]:
        now = time.monotonic()
        hit = self._cache.get((room, why))
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        token = self.passes.admission.issue(room, why, FREE_PASS_SECONDS)
        admission = self.passes.admission.check(token)
        assert admission is not None
        self._cache[(room, why)] = (now + FREE_PASS_SECONDS / 2, token, admission)
        return token, admission
