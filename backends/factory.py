"""Choosing each room's backend adapter from the settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from backends.admission import AdmissionCodec
from backends.base import Backend
from backends.config import BackendConfig, default_config
from backends.guard import Guarded
from backends.handoff import HandoffBackend
from backends.outcomes import Outcomes
from backends.proxy import ProxyBackend

if TYPE_CHECKING:
    from backends.internal.settings import InternalSettings


def backend_for(kind: str, internal_url: str | None,
                internal: InternalSettings | None = None) -> Backend:
    """`internal` (in-process with the engine's settings `internal`, or at
    SLUIS_INTERNAL_URL) or an upstream base URL to proxy to."""
    if kind == "internal":
        if internal_url:
            return ProxyBackend.to(internal_url)
        if internal is None:
            raise ValueError("the in-process booking engine needs its settings")
        from backends.inprocess import InProcessBackend
        from backends.internal.app import create_app

        return InProcessBackend(create_app(internal))
    if kind.startswith(("http://", "https://")):
        return ProxyBackend.to(kind)
    raise ValueError(f"SLUIS_BACKEND must be 'internal' or an http(s):// URL, got {kind!r}")


class RoomBackends:
    """Every room's adapter behind its own in-flight cap. Rooms with the same settings
    share one adapter (one connection pool, one in-process engine)."""

    def __init__(self, rooms: Sequence[tuple[str, BackendConfig]], *, sluis_backend: str,
                 internal_url: str | None, secret_keys: Sequence[str],
                 internal: InternalSettings | None = None, given: Backend | None = None,
                 on_busy: Callable[[str], None] | None = None) -> None:
        self.outcomes = Outcomes()
        self.adapters: list[Backend] = []
        self.by_room: dict[str, Guarded] = {}
        shared: dict[object, Backend] = {}
        codec = AdmissionCodec(list(secret_keys)) if secret_keys else None
        for room, config in rooms:
            cfg = config.resolved(sluis_backend)
            if given is not None:
                adapter = given
            elif cfg.kind == "handoff":
                assert codec is not None, "handoff needs the signing keys"
                adapter = HandoffBackend(room, cfg, codec)
            else:
                share = ("internal",) if cfg.kind == "internal" else cfg
                adapter = shared.get(share) or self._build(cfg, internal_url, internal)
                shared[share] = adapter
            if all(adapter is not a for a in self.adapters):
                self.adapters.append(adapter)
            self.by_room[room] = Guarded(room, adapter, max_inflight=cfg.max_inflight,
                                         wait_seconds=cfg.inflight_wait_seconds,
                                         outcomes=self.outcomes, on_busy=on_busy)

    @staticmethod
    def _build(cfg: BackendConfig, internal_url: str | None,
               internal: InternalSettings | None) -> Backend:
        if cfg.kind == "proxy":
            return ProxyBackend(cfg)
        return backend_for("internal", internal_url, internal)

    async def startup(self) -> None:
        for adapter in self.adapters:
            await adapter.startup()

    async def shutdown(self) -> None:
        for adapter in self.adapters:
            await adapter.shutdown()


__all__ = ["RoomBackends", "backend_for", "default_config"]
