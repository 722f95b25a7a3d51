"""Liveness and readiness. Open to anyone, so they say only whether Redis answers: the
reason, with its address, goes to the log."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.store import Store, StoreUnavailable

log = logging.getLogger("sluis.health")

NO_STORE = {"cache-control": "no-store"}
# Seconds between two log lines about an unreachable Redis: probes come every few seconds
# and anyone may send more.
_TELL_EVERY = 10.0
_told = float("-inf")


async def livez(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request) -> JSONResponse:
    global _told
    store: Store = request.app.state.store
    try:
        await store.ping()
    except StoreUnavailable as exc:
        now = time.monotonic()
        if now - _told >= _TELL_EVERY:
            _told = now
            log.warning("not ready: redis unreachable", extra={"error": str(exc)})
        return JSONResponse({"status": "unavailable", "redis": "unreachable"},
                            status_code=503, headers={**NO_STORE, "retry-after": "5"})
    return JSONResponse({"status": "ok", "redis": "ok"}, headers=NO_STORE)
