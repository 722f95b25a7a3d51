"""A room's backend settings (read from its `[rooms.<name>]` table in gateway/roomfile.py).

Rooms that name no backend use SLUIS_BACKEND (`internal`, or an upstream URL to
proxy to) with the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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


def default_config(sluis_backend: str) -> BackendConfig:
    """The backend of a room that names none: SLUIS_BACKEND."""
    if sluis_backend.startswith(("http://", "https://")):
        return BackendConfig(kind="proxy", upstream=sluis_backend)
    return BackendConfig(kind="internal")


