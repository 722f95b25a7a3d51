"""Choosing a room's backend adapter from the settings."""

from __future__ import annotations

import os
from collections.abc import Sequence

from backends.base import Backend
from backends.proxy import ProxyBackend


def backend_for(kind: str, internal_url: str | None, *, secret_keys: Sequence[str] = (),
                admin_token: str | None = None, demo_data: bool | None = None) -> Backend:
    """`internal` (in-process, or at SLUIS_INTERNAL_URL) or an upstream base URL to proxy to.

    The in-process engine checks admissions with the gateway's own keys, so that keys
    generated for the demo (not in the environment) work for both.
    """
    if kind == "internal":
        if internal_url:
            return ProxyBackend(internal_url)
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
        return ProxyBackend(kind)
    raise ValueError(f"SLUIS_BACKEND must be 'internal' or an http(s):// URL, got {kind!r}")
