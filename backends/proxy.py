"""`proxy`: forward admitted requests to an upstream base URL, streaming both ways.

The visitor stays on the gateway's address: redirects, cookies and absolute links
that name the upstream are rewritten to the gateway (backends/rewrite.py). Protection
is strong only when the upstream accepts the gateway's traffic alone (an allow-list,
or the secret header this proxy adds); see docs/backends.md.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from backends.base import HOP_BY_HOP, Receive, Scope, Send
from backends.config import BackendConfig
from backends.rewrite import DECODABLE, Rewriter, rewritable
from backends.upstream import (
    Connection,
    Origin,
    Pool,
    UpstreamError,
    UpstreamTimeout,
    request_head,
    send_request,
)

log = logging.getLogger("sluis.backend.proxy")


def calm_page(title: str, text: str) -> bytes:
    return ("<!doctype html><html lang=en><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{title}</title><body style='font-family:system-ui,sans-serif;"
            f"max-width:36rem;margin:3rem auto;padding:0 1rem'><h1>{title}</h1>"
            f"<p>{text}</p></body></html>").encode()


BAD_GATEWAY_PAGE = calm_page(
    "One moment", "The registration site did not answer. You keep your place: "
    "please try again in a few seconds.")
TIMEOUT_PAGE = calm_page(
    "One moment", "The registration site is taking too long to answer. You keep your "
    "place: please try again in a few seconds.")
_CALM = [(b"content-type", b"text/html; charset=utf-8"), (b"retry-after", b"5"),
         (b"cache-control", b"no-store")]
# Request headers the proxy sets itself (or must not pass on).
_OWN = HOP_BY_HOP | {b"host", b"expect", b"content-length", b"x-forwarded-host",
                     b"x-forwarded-proto"}
_URL_HEADERS = (b"location", b"content-location")
# Answer headers not passed on: hop-by-hop ones, and Date, which the gateway's server
# writes itself (two Date headers would be an invalid answer).
_DROP = HOP_BY_HOP | {b"date"}
_BODYLESS = (b"GET", b"HEAD", b"DELETE", b"OPTIONS", b"TRACE")


class ClientGone(Exception):
    """The visitor went away while their request body was being forwarded."""


class ProxyBackend:
    def __init__(self, config: BackendConfig) -> None:
        if not config.upstream:
            raise ValueError("a proxy backend needs an upstream address")
        self.config = config
        parts = urlsplit(config.upstream)
        scheme = parts.scheme or "http"
        self.origin = Origin.of(scheme, parts.hostname or "",
                                parts.port or (443 if scheme == "https" else 80))
        self.base_path = parts.path.rstrip("/").encode()
        self.pool = Pool(self.origin, connect_timeout=config.connect_timeout_seconds,
                         max_idle=config.max_inflight)
        self.rewriter = Rewriter(config.upstream, config.cookie_domain)
        self.secret = ((config.secret_header.lower().encode(), config.secret_value.encode())
                       if config.secret_header and config.secret_value else None)
        self.public = config.public_url.encode() if config.public_url else None

    @classmethod
    def to(cls, upstream: str) -> ProxyBackend:
        return cls(BackendConfig(kind="proxy", upstream=upstream))

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        self.pool.close()

    def _public(self, scope: Scope, host: bytes | None) -> bytes:
        if self.public is not None:
            return self.public
        scheme: str = scope.get("scheme", "http")
        return scheme.encode() + b"://" + (host or self.origin.netloc)

    def _request_headers(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], bytes | None,
                                                       bytes | None, bool]:
        """(headers for the upstream, the visitor's Host, Content-Length, chunked)."""
        out: list[tuple[bytes, bytes]] = []
        host = length = None
        chunked = False
        forwarded_for = None
        secret_name = self.secret[0] if self.secret else None
        named: frozenset[bytes] = frozenset()
        for k, v in scope["headers"]:
            if k in _OWN:
                if k == b"host":
                    host = v
                elif k == b"content-length":
                    length = v
                elif k == b"transfer-encoding":
                    chunked = b"chunked" in v.lower()
                elif k == b"connection":
                    named = named | {t.strip().lower() for t in v.split(b",")}
                continue
            if k == b"x-forwarded-for":
                forwarded_for = v
                continue
            if k == secret_name:
                continue  # only the gateway may present the upstream's secret
            if k == b"accept-encoding" and self.config.rewrite_bodies:
                # Ask only for encodings the proxy can undo to rewrite a page.
                v = b", ".join(e for e in (p.strip() for p in v.split(b","))
                               if e.split(b";")[0].strip().lower() in DECODABLE) or b"identity"
            out.append((k, v))
        if named:
            out = [(k, v) for k, v in out if k not in named]
        client = (scope.get("client") or ("", 0))[0].encode()
        out.append((b"host", host if self.config.preserve_host and host else self.origin.netloc))
        out.append((b"x-forwarded-for", forwarded_for + b", " + client if forwarded_for
                    else client))
        out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        if host:
            out.append((b"x-forwarded-host", host))
        if self.secret:
            out.append(self.secret)
        if length is not None and not chunked:
            out.append((b"content-length", length))
        elif chunked:
            out.append((b"transfer-encoding", b"chunked"))
        return out, host, length, chunked

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if not self.config.websockets:
                await send({"type": "websocket.close", "code": 1008})
                return
            from backends.websocket import relay

            await relay(self, scope, receive, send)
            return
        method = scope["method"].encode()
        query = scope.get("query_string", b"")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = self.base_path + raw_path + (b"?" + query if query else b"")
        headers, host, length, chunked = self._request_headers(scope)
        has_body = chunked or (length is not None and length != b"0")
        if length is None and not chunked and method not in _BODYLESS:
            headers.append((b"content-length", b"0"))

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        try:
            conn = await send_request(
                self.pool, request_head(method, target, headers), body() if has_body else None,
                chunked=chunked, head_only=method == b"HEAD",
                read_timeout=self.config.read_timeout_seconds)
        except ClientGone:
            return
        except UpstreamTimeout:
            log.warning("upstream timed out", extra={"upstream": self.config.upstream})
            await _answer(send, 504, TIMEOUT_PAGE)
            return
        except UpstreamError as exc:
            log.warning("upstream unreachable", extra={"upstream": self.config.upstream,
                                                        "error": str(exc)})
            await _answer(send, 502, BAD_GATEWAY_PAGE)
            return
        try:
            await self._respond(conn, scope, host, send)
        finally:
            self.pool.release(conn)

    async def _respond(self, conn: Connection, scope: Scope, host: bytes | None,
                       send: Send) -> None:
        cfg = self.config
        public = None
        out: list[tuple[bytes, bytes]] = []
        content_type = encoding = None
        named: frozenset[bytes] = frozenset()
        for k, v in conn.headers:
            if k in _DROP:
                if k == b"connection":
                    named = named | {t.strip().lower() for t in v.split(b",")}
                continue
            if k == b"content-type":
                content_type = v
            elif k == b"content-encoding":
                encoding = v.strip().lower()
            elif cfg.rewrite_headers and k in _URL_HEADERS:
                public = public or self._public(scope, host)
                v = self.rewriter.url(v, public)
            elif cfg.rewrite_headers and k == b"refresh":
                public = public or self._public(scope, host)
                v = self.rewriter.url(v, public)
            elif cfg.rewrite_headers and k == b"set-cookie":
                v = self.rewriter.set_cookie(v)
            out.append((k, v))
        if named:
            out = [(k, v) for k, v in out if k not in named]
        rewriting = (cfg.rewrite_bodies and rewritable(content_type)
                     and (encoding is None or encoding in DECODABLE or encoding == b"identity")
                     and scope["method"] != "HEAD")
        timeout = cfg.read_timeout_seconds
        if not rewriting:
            await send({"type": "http.response.start", "status": conn.status, "headers": out})
            if conn.complete_in_buffer():  # the usual small answer: one message
                await send({"type": "http.response.body", "body": await conn.chunk(timeout)
                            or b""})
                return
            while (piece := await conn.chunk(timeout)) is not None:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        # The body changes length (and loses its encoding): sent chunked.
        out = [(k, v) for k, v in out if k not in (b"content-length", b"content-encoding")]
        rw = self.rewriter.body(public or self._public(scope, host), encoding)
        await send({"type": "http.response.start", "status": conn.status, "headers": out})
        while (piece := await conn.chunk(timeout)) is not None:
            text = rw.feed(piece)
            if text:
                await send({"type": "http.response.body", "body": text, "more_body": True})
        await send({"type": "http.response.body", "body": rw.finish()})


async def _answer(send: Send, status: int, page: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _CALM})
    await send({"type": "http.response.body", "body": page})
