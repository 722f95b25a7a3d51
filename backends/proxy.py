"""`proxy`: forward admitted requests to an upstream base URL, streaming both ways."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx

from backends.base import HOP_BY_HOP, Receive, Scope, Send

log = logging.getLogger("sluis.backend.proxy")

BAD_GATEWAY_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>One moment</title>"
    b"<h1>The registration site did not answer</h1>"
    b"<p>You keep your place. Please try again in a few seconds.</p>"
)


class ProxyBackend:
    def __init__(self, upstream: str, timeout: float = 30.0, max_connections: int = 100) -> None:
        self.upstream = httpx.URL(upstream.rstrip("/"))
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._limits = httpx.Limits(max_connections=max_connections,
                                    max_keepalive_connections=max_connections)
        self._client: httpx.AsyncClient | None = None

    async def startup(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, limits=self._limits,
                                             follow_redirects=False, trust_env=False)

    async def shutdown(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _target(self, scope: Scope) -> httpx.URL:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        base_path = self.upstream.raw_path.rstrip(b"/")
        query = scope.get("query_string", b"")
        target = base_path + raw_path + (b"?" + query if query else b"")
        return self.upstream.copy_with(raw_path=target)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1011})
            return
        if self._client is None:
            await self.startup()
        assert self._client is not None
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP and k != b"host"]
        client_host = (scope.get("client") or ("", 0))[0]
        headers.append((b"x-forwarded-for", client_host.encode()))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        host = dict(scope["headers"]).get(b"host")
        if host:
            headers.append((b"x-forwarded-host", host))

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return

        has_body = scope["method"] not in ("GET", "HEAD", "OPTIONS", "TRACE") or any(
            k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        request = self._client.build_request(
            scope["method"], self._target(scope), headers=headers,
            content=body() if has_body else None)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("upstream unreachable", extra={"error": type(exc).__name__})
            await send({"type": "http.response.start", "status": 502, "headers": [
                (b"content-type", b"text/html; charset=utf-8"), (b"retry-after", b"5"),
                (b"cache-control", b"no-store")]})
            await send({"type": "http.response.body", "body": BAD_GATEWAY_PAGE})
            return
        try:
            out = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
