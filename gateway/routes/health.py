"""Liveness and readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.store import Store, StoreUnavailable


async def livez(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})


async def readyz(request: Request) -> JSONResponse:
    store: Store = request.app.state.store
    try:
        await store.ping()
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "redis": "unreachable", "detail": str(exc)},
                            status_code=503, headers={"cache-control": "no-store",
                                                      "retry-after": "5"})
    return JSONResponse({"status": "ok", "redis": "ok"}, headers={"cache-control": "no-store"})
