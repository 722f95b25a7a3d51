"""Choosing each room's backend adapter from the settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from backends.admission import AdmissionCodec
from backends.base import Backend
from backends.config import BackendConfig, default_config
from backends.guard import Guarded
from backends.handoff import HandoffBackend
from backends.outcomes import Outcomes
from backends.proxy import ProxyBackend


def backend_for(kind: str, internal_url: str | None, *, secret_keys: Sequence[str] = (),
                admin_token: str | None = None, demo_data: bool | None = None) -> Backend:
    """`internal` (in-process, or at SLUIS_INTERNAL_URL) or an upstream base URL to proxy to.

    The in-process engine checks admissions with the gateway's own keys, so that keys
    generated for the demo (not in the environment) work for both.
    """
    if kind == "internal":
        if internal_url:
            return ProxyBackend.to(internal_url)
        from backends.inprocess import InProcessBackend
        from backends.internal.app import create_app
        from backends.internal.settings import InternalSettings

        env = dict(os.environ)
        if not env.get("SLUIS_SECRET_KEYS", "").strip() and secret_keys:
            env["SLUIS_SECRET_KEYS"] = ",".join(secret_keys)
        if not env.get("SLUIS_ADMIN_TOKEN", "").strip() and admin_token:
            env["SLUIS_ADMIN_TOKEN"] = admin_token
        if demo_data is not None:
            env["SLUIS_INTERNAL_DEMO_DATA"] = "true" if demo_data else "false"
        return InProcessBackend(create_app(InternalSettings.from_env(env)))
    if kind.startswith(("http://", "https://")):
        return ProxyBackend.to(kind)
    raise ValueError(f"SLUIS_BACKEND must be 'internal' or an http(s):// URL, got {kind!r}")


class RoomBackends:
    """Every room's adapter behind its own in-flight cap. Rooms with the same settings
    share one adapter (one connection pool, one in-process engine)."""

    def __init__(self, rooms: Sequence[tuple[str, BackendConfig]], *, sluis_backend: str,
                 internal_url: str | None, secret_keys: Sequence[str],
                 admin_token: str | None = None, given: Backend | None = None,
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
                adapter = shared.get(share) or self._build(cfg, internal_url, secret_keys,
                                                           admin_token)
                shared[share] = adapter
            if all(adapter is not a for a in self.adapters):
                self.adapters.append(adapter)
            self.by_room[room] = Guarded(room, adapter, max_inflight=cfg.max_inflight,
                                         wait_seconds=cfg.inflight_wait_seconds,
                                         outcomes=self.outcomes, on_busy=on_busy)

    @staticmethod
    def _build(cfg: BackendConfig, internal_url: str | None, secret_keys: Sequence[str],
               admin_token: str | None) -> Backend:
        if cfg.kind == "proxy":
            return ProxyBackend(cfg)
        return backend_for("internal", internal_url, secret_keys=secret_keys,
                           admin_token=admin_token)

    async def startup(self) -> None:
        for adapter in self.adapters:
            await adapter.startup()

    async def shutdown(self) -> None:
        for adapter in self.adapters:
            await adapter.shutdown()


__all__ = ["RoomBackends", "backend_for", "default_config"]
