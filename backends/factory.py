"""Choosing a room's backend adapter from the settings."""

from __future__ import annotations

from typing import Any

from backends.base import Backend
from backends.proxy import ProxyBackend


def backend_for(kind: str, internal_url: str | None, internal_settings: Any = None) -> Backend:
    """`internal` (in-process, or at SLUIS_INTERNAL_URL) or an upstream base URL to proxy to."""
    if kind == "internal":
        if internal_url:
            return ProxyBackend(internal_url)
        from backends.inprocess import InProcessBackend
        from backends.internal.app import create_app
        from backends.internal.settings import InternalSettings

        settings = internal_settings or InternalSettings.from_env()
        return InProcessBackend(create_app(settings))
    if kind.startswith(("http://", "https://")):
        return ProxyBackend(kind)
    raise ValueError(f"SLUIS_BACKEND must be 'internal' or an http(s):// URL, got {kind!r}")
