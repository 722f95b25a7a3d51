"""Liveness for load balancers and the gateway: the process answers and the database too."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse

from backends.internal.context import context_of

log = logging.getLogger("sluis.internal.health")


async def healthz(request: Request) -> JSONResponse:
    async def ping(conn: AsyncConnection) -> None:
        await conn.execute(text("SELECT 1"))

    try:
        await context_of(request).db.read(ping)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("database unreachable", extra={"error": str(exc)})
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
