"""The gate: only requests that came through the waiting room reach the booking pages and API."""

from __future__ import annotations

import logging

from starlette._utils import get_route_path
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from backends.admission import AdmissionCodec

log = logging.getLogger("sluis.internal.admission")

HEADER = b"sluis-admission"
# Health checks, public assets, and operators (who have their own token) skip the queue.
EXEMPT = ("/healthz", "/static/", "/admin")


class AdmissionGate:
    """403 unless the request carries a valid `Sluis-Admission` token."""

    def __init__(self, app: ASGIApp, codec: AdmissionCodec | None) -> None:
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.codec is None:
            await self.app(scope, receive, send)
            return
        path = get_route_path(scope)
        if path.startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        token = dict(scope["headers"]).get(HEADER)
        admission = self.codec.check(token.decode("latin-1") if token else None)
        if admission is not None:
            scope.setdefault("state", {})["admission"] = admission
            await self.app(scope, receive, send)
            return
        log.info("request without a valid admission", extra={"path": path})
        response: Response
        if path.startswith("/api/"):
            response = JSONResponse({"error": "admission_required"}, status_code=403)
        else:
            response = PlainTextResponse(
                "Please enter through the waiting room. / Ga binnen via de wachtrij.",
                status_code=403,
            )
        await response(scope, receive, send)
