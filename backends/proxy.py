"""`proxy`: forward admitted requests to an upstream base URL, streaming both ways.

The visitor stays on the gateway's address: redirects, cookies and absolute links
that name the upstream are rewritten to the gateway (backends/rewrite.py). Protection
is strong only when the upstream accepts the gateway's traffic alone (an allow-list,
or the secret header this proxy adds); see docs/backends.md.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from backends.base import HOP_BY_HOP, Receive, Scope, Send
from backends.config import BackendConfig
from backends.rewrite import ASKED, Rewriter, decodable, rewritable
from backends.upstream import (
    Connection,
    Origin,
    Pool,
    UpstreamError,
    UpstreamTimeout,
    send_request,
)
from backends.websocket import Target, relay
from gateway.common.memo import Memo

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
# Headers a visitor's Connection header may not name away: the gateway's own proof of
# admission goes to the upstream whatever the visitor asks.
_KEPT = _OWN | {b"sluis-admission"}
# Answer headers that name the upstream's address (rewritten with rewrite_headers).
_REWRITTEN = frozenset({b"location", b"content-location", b"refresh", b"set-cookie", b"link",
                        b"content-security-policy", b"content-security-policy-report-only"})
# Answer headers not passed on: hop-by-hop ones, and Date, which the gateway's server
# writes itself (two Date headers would be an invalid answer).
_DROP = HOP_BY_HOP | {b"date"}
_BODYLESS = (b"GET", b"HEAD", b"DELETE", b"OPTIONS", b"TRACE")
# A textual answer up to this long is read whole before it is rewritten, so that it keeps
# a Content-Length; longer ones stream, chunked.
_WHOLE_BYTES = 256 * 1024
# A Host the proxy may name the gateway by: a DNS name or IPv4 address, or an IPv6
# literal, and an optional port.
_HOST = re.compile(rb"(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])"
                   rb"(?::[0-9]{1,5})?")
# Seconds between two warnings about answers the proxy could not decode to rewrite.
_TELL_EVERY = 60.0


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
        self.rewriter = Rewriter(config.upstream, config.cookie_domain, config.upstream_origin)
        self.secret = ((config.secret_header.lower().encode(), config.secret_value.encode())
                       if config.secret_header and config.secret_value else None)
        self.sockets = Target(self.origin, self.base_path, self.secret,
                              config.connect_timeout_seconds)
        self.public = config.public_url.encode() if config.public_url else None
        # public_url as Referer and Origin values start with it, lower-case.
        self._public_prefix: bytes | None = None
        self._public_origin: bytes | None = None
        if config.public_url:
            public = urlsplit(config.public_url.lower())
            self._public_prefix = config.public_url.lower().encode()
            self._public_origin = f"{public.scheme}://{public.netloc}".encode()
        # Request-head lines that are the same for every request, by the visitor's scheme.
        self._upstream_host = b"host: " + self.origin.netloc + b"\r\n"
        self._proto_lines = {scheme: self._proto_line(scheme) for scheme in ("http", "https")}
        # The origin the upstream believes is its own, by the visitor's scheme: Origin and
        # Referer naming the gateway are sent naming it (see _own_origin).
        self._own = {s: self._own_origin(s) for s in ("http", "https")}
        maps_origin = not config.preserve_host or config.upstream_origin is not None
        # Request headers the head builder looks at; all others are copied as they are.
        self._special = _OWN | {b"x-forwarded-for"} | (
            {b"accept-encoding"} if config.rewrite_bodies else set()) | (
            {self.secret[0]} if self.secret else set()) | (
            {b"origin", b"referer"} if maps_origin else set())
        self._rewritable: Memo[bytes, bool] = Memo(_SEEN_LIMIT)
        self._undecodable_told: Memo[bytes, float] = Memo(_SEEN_LIMIT)

    @classmethod
    def to(cls, upstream: str) -> ProxyBackend:
        return cls(BackendConfig(kind="proxy", upstream=upstream))

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        self.pool.close()

    def _public(self, scope: Scope, host: bytes | None) -> bytes:
        """The gateway's address as the visitor sees it: `public_url`, else the scheme and
        the visitor's Host when it is a host name or address (with a port), never text
        that would be written into a Location or a page as it came."""
        if self.public is not None:
            return self.public
        scheme: str = scope.get("scheme", "http")
        if host is None or not _HOST.fullmatch(host):
            host = self.origin.netloc
        return scheme.encode() + b"://" + host

    def _own_origin(self, scheme: str) -> bytes:
        """The upstream's idea of its own origin: `upstream_origin` when set; else its own
        host with https when it is reached over https, or the visitor's scheme, which the
        proxy passes on in X-Forwarded-Proto (a site behind a TLS proxy believes it)."""
        if self.config.upstream_origin:
            return self.config.upstream_origin.encode()
        believed = "https" if self.origin.scheme == "https" else scheme
        return believed.encode() + b"://" + self.origin.netloc

    def _to_upstream(self, lines: list[bytes], origin_at: int, referer_at: int, scheme: str,
                     host: bytes | None) -> None:
        """Origin and Referer naming the gateway, made to name the upstream's own origin
        (in place in `lines`): a site that checks them against the Host it was sent (as
        Django's CSRF protection does) would refuse every form otherwise. Other sites'
        origins, and `null`, pass unchanged."""
        if self._public_prefix is not None:
            prefix, public_origin = self._public_prefix, self._public_origin
        elif host:
            prefix = public_origin = scheme.encode() + b"://" + host.lower()
        else:
            return
        own = self._own.get(scheme) or self._own_origin(scheme)
        if origin_at >= 0 and lines[origin_at + 2].lower() == public_origin:
            lines[origin_at + 2] = own
        if referer_at >= 0:
            value, n = lines[referer_at + 2], len(prefix)
            if value[:n].lower() == prefix and (len(value) == n or value[n] in b"/?#"):
                lines[referer_at + 2] = own + self.base_path + (value[n:] or b"/")

    def _proto_line(self, scheme: str) -> bytes:
        """X-Forwarded-Proto, and the upstream's secret header when one is set."""
        secret = b"%s: %s\r\n" % self.secret if self.secret else b""
        return b"x-forwarded-proto: " + scheme.encode() + b"\r\n" + secret

    def _request_head(self, scope: Scope, method: bytes) -> tuple[bytes, bytes | None, bool,
                                                                  bool]:
        """(the request head for the upstream, the visitor's Host, has a body, chunked)."""
        query: bytes = scope.get("query_string", b"")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        lines = [method, b" ", self.base_path, raw_path, b"?" if query else b"", query,
                 b" HTTP/1.1\r\n"]
        host = length = forwarded_for = None
        chunked = False
        named: frozenset[bytes] | None = None
        special = self._special
        origin_at = referer_at = -1
        for k, v in scope["headers"]:
            if k not in special:
                lines += (k, b": ", v, b"\r\n")
                continue
            if k in _OWN:
                if k == b"host":
                    host = v
                elif k == b"content-length":
                    length = v
                elif k == b"transfer-encoding":
                    chunked = b"chunked" in v.lower()
                elif k == b"connection":
                    tokens = _named(v, _KEPT)
                    if tokens:
                        named = tokens if named is None else named | tokens
                continue
            if k == b"x-forwarded-for":
                forwarded_for = v
                continue
            if k == b"accept-encoding":
                v = _decodable(v)
            elif k == b"origin":
                origin_at = len(lines)
            elif k == b"referer":
                referer_at = len(lines)
            else:
                continue  # the secret header: only the gateway may present it
            lines += (k, b": ", v, b"\r\n")
        scheme: str = scope.get("scheme", "http")
        if origin_at >= 0 or referer_at >= 0:
            self._to_upstream(lines, origin_at, referer_at, scheme, host)
        if named is not None:
            # Headers the visitor's Connection header names are hop-by-hop too.
            kept = lines[:7]
            for i in range(7, len(lines), 4):
                if lines[i] not in named:
                    kept += lines[i:i + 4]
            lines = kept
        client = (scope.get("client") or ("", 0))[0].encode()
        lines += (b"host: " + host + b"\r\n" if self.config.preserve_host and host
                  else self._upstream_host,
                  b"x-forwarded-for: ", forwarded_for + b", " + client if forwarded_for
                  else client, b"\r\n",
                  self._proto_lines.get(scheme) or self._proto_line(scheme))
        if host:
            lines += (b"x-forwarded-host: ", host, b"\r\n")
        if length is not None and not chunked:
            lines += (b"content-length: ", length, b"\r\n")
        elif chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        elif method not in _BODYLESS:
            lines.append(b"content-length: 0\r\n")
        lines.append(b"\r\n")
        return b"".join(lines), host, chunked or (length is not None and length != b"0"), chunked

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if not self.config.websockets:
                await send({"type": "websocket.close", "code": 1008})
                return
            await relay(self.sockets, scope, receive, send)
            return
        method = scope["method"].encode()
        head, host, has_body, chunked = self._request_head(scope, method)
        try:
            conn = await send_request(
                self.pool, head, _request_body(receive) if has_body else None,
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

    def _tell_undecodable(self, encoding: bytes, content_type: bytes) -> None:
        """An answer to rewrite in an encoding the proxy cannot read, although it asked for
        gzip or deflate alone: passed on as it is (a page with a few links to the upstream
        beats no page), and said in the log once a minute per encoding."""
        now = time.monotonic()
        if now - self._undecodable_told.get(encoding, -_TELL_EVERY) < _TELL_EVERY:
            return
        self._undecodable_told.put(encoding, now)
        log.warning("upstream answered in an encoding the proxy cannot decode; passed on "
                    "without rewriting", extra={"upstream": self.config.upstream,
                                                "content_encoding": encoding.decode("latin-1"),
                                                "content_type": content_type.decode("latin-1")})

    def _is_rewritable(self, content_type: bytes) -> bool:
        known = self._rewritable.get(content_type)
        if known is None:
            known = self._rewritable.put(content_type, rewritable(content_type))
        return known

    async def _respond(self, conn: Connection, scope: Scope, host: bytes | None,
                       send: Send) -> None:
        cfg = self.config
        public = None
        out: list[tuple[bytes, bytes]] = []
        content_type = encoding = None
        named: frozenset[bytes] | None = None
        rewrite_headers = cfg.rewrite_headers
        for k, v in conn.headers:
            if k in _DROP:
                if k == b"connection":
                    tokens = _named(v, _DROP)
                    if tokens:
                        named = tokens if named is None else named | tokens
                continue
            if k == b"content-type":
                content_type = v
            elif k == b"content-encoding":
                encoding = v.strip().lower()
            elif rewrite_headers and k in _REWRITTEN:
                public = public or self._public(scope, host)
                v = self.rewriter.header(k, v, public)
            out.append((k, v))
        if named is not None:
            out = [(k, v) for k, v in out if k not in named]
        rewriting = (cfg.rewrite_bodies and content_type is not None
                     and self._is_rewritable(content_type)
                     and scope["method"] != "HEAD" and conn.status not in (204, 304))
        if rewriting and not decodable(encoding):
            rewriting = False
            self._tell_undecodable(encoding or b"", content_type or b"")
        timeout = cfg.read_timeout_seconds
        if rewriting and (encoding is None or encoding == b"identity"):
            body = conn.whole_body()
            if body is None:
                body = await _small_body(conn, out, timeout)
            if body is not None:  # the usual small answer: rewritten whole, with a length
                text = self.rewriter.text(body, public or self._public(scope, host))
                if text is not body:
                    out = [(k, v) for k, v in out if k != b"content-length"]
                    out.append((b"content-length", b"%d" % len(text)))
                await send({"type": "http.response.start", "status": conn.status,
                            "headers": out})
                await send({"type": "http.response.body", "body": text})
                return
        if not rewriting:
            start = {"type": "http.response.start", "status": conn.status, "headers": out}
            body = conn.whole_body()
            if body is not None:  # the usual small answer, all here: one body message
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(start)
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


# Header values seen again and again (every browser sends one of a few), parsed once;
# short ones only, a few hundred at most.
_SEEN_LIMIT = 256
_named_seen: Memo[tuple[bytes, frozenset[bytes]], frozenset[bytes]] = Memo(_SEEN_LIMIT)
_decodable_seen: Memo[bytes, bytes] = Memo(_SEEN_LIMIT)


def _named(connection: bytes, known: frozenset[bytes]) -> frozenset[bytes]:
    """The header names a Connection header lists, but for those in `known`."""
    found = _named_seen.get((connection, known))
    if found is None:
        found = frozenset(t.strip().lower() for t in connection.split(b",")) - known
        if len(connection) <= _SEEN_LIMIT:
            _named_seen.put((connection, known), found)
    return found


def _decodable(accept_encoding: bytes) -> bytes:
    """Accept-Encoding narrowed to the encodings the proxy can undo to rewrite a page."""
    found = _decodable_seen.get(accept_encoding)
    if found is None:
        found = b", ".join(e for e in (p.strip() for p in accept_encoding.split(b","))
                           if e.split(b";")[0].strip().lower() in ASKED) or b"identity"
        if len(accept_encoding) <= _SEEN_LIMIT:
            _decodable_seen.put(accept_encoding, found)
    return found


async def _small_body(conn: Connection, headers: list[tuple[bytes, bytes]], wait_s: float
                      ) -> bytes | None:
    """The whole body of an answer whose Content-Length says it is small, else None (and
    nothing read)."""
    length = next((v for k, v in headers if k == b"content-length"), b"")
    if not length.isdigit() or int(length) > _WHOLE_BYTES:
        return None
    pieces = []
    while (piece := await conn.chunk(wait_s)) is not None:
        pieces.append(piece)
    return b"".join(pieces)


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _answer(send: Send, status: int, page: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _CALM})
    await send({"type": "http.response.body", "body": page})
