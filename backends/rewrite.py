"""Rewriting the upstream's own addresses into the gateway's, in headers and bodies (no I/O).

A hosted site writes absolute links, redirects and cookie domains for its own host
name. Behind Sluis the visitor must stay on the city's address, or the next click
would go straight to the upstream and around the queue. Bodies are rewritten as they
stream, a chunk at a time, holding back only as many bytes as a match can span.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

# Types whose bodies can carry absolute links; everything else streams untouched.
TEXT_TYPES = (b"text/html", b"text/css", b"text/javascript", b"application/javascript",
              b"application/x-javascript", b"application/json", b"application/ld+json",
              b"application/manifest+json", b"application/xhtml+xml", b"application/xml",
              b"text/xml", b"image/svg+xml")
# Encodings the proxy can undo to rewrite; it asks the upstream for no others.
DECODABLE = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS,
             b"deflate": zlib.MAX_WBITS}


class Rewriter:
    """The upstream's origin (and base path) as seen in its pages, mapped to the public one."""

    def __init__(self, upstream: str, cookie_domain: str | None = None) -> None:
        parts = urlsplit(upstream)
        host = (parts.hostname or "").encode()
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        port_re = rb"(?::" + str(port).encode() + rb")" + (rb"?" if port == default else b"")
        self.base = parts.path.rstrip("/").encode()
        base_re = b"(?:" + re.escape(self.base) + b")?" if self.base else b""
        # scheme-relative (//host), plain (https://host) and JSON-escaped (https:\/\/host)
        self.pattern = re.compile(
            rb"(?P<scheme>https?:)?(?P<slashes>\\?/\\?/)" + re.escape(host) + port_re + base_re
            + rb"(?![A-Za-z0-9_.:-])", re.IGNORECASE)
        # The longest match plus the one character the look-ahead needs.
        self.span = len(b"https:\\/\\/") + len(host) + 6 + len(self.base) + 1
        self.cookie_domain = cookie_domain.encode() if cookie_domain else None

    def replacer(self, public: bytes) -> Callable[[re.Match[bytes]], bytes]:
        """`public` is scheme://host[:port] of the gateway as the visitor sees it."""
        scheme, _, netloc = public.partition(b"://")

        def replace(m: re.Match[bytes]) -> bytes:
            slashes = m.group("slashes")
            if m.group("scheme") is None:
                return slashes + netloc
            return scheme + b":" + slashes + netloc

        return replace

    def url(self, value: bytes, public: bytes) -> bytes:
        """A Location, Content-Location or Refresh value."""
        if self.base and value.startswith(self.base + b"/"):
            return value[len(self.base):]
        return self.pattern.sub(self.replacer(public), value)

    def set_cookie(self, value: bytes) -> bytes:
        """Drops (or replaces) Domain so the cookie belongs to the gateway's host, and
        strips the upstream's base path from Path."""
        parts = value.split(b";")
        out = [parts[0]]
        for attr in parts[1:]:
            name = attr.strip().split(b"=", 1)[0].lower()
            if name == b"domain":
                if self.cookie_domain:
                    out.append(b" Domain=" + self.cookie_domain)
                continue
            if name == b"path" and self.base:
                path = attr.strip()[5:]
                if path == self.base or path.startswith(self.base + b"/"):
                    attr = b" Path=" + (path[len(self.base):] or b"/")
            out.append(attr)
        return b";".join(out)

    def body(self, public: bytes, encoding: bytes | None) -> BodyRewriter:
        return BodyRewriter(self, public, encoding)


class BodyRewriter:
    """Rewrites a body as it streams; feed() chunks in order, then finish()."""

    def __init__(self, rewriter: Rewriter, public: bytes, encoding: bytes | None) -> None:
        self.pattern = rewriter.pattern
        self.span = rewriter.span
        self.replace = rewriter.replacer(public)
        self.carry = b""
        wbits = DECODABLE.get(encoding or b"")
        self.decoder = zlib.decompressobj(wbits) if wbits else None

    def feed(self, chunk: bytes) -> bytes:
        if self.decoder is None:
            return self._emit(self.carry + chunk)
        out: list[bytes] = []
        while True:
            # Bounded, so that a small compressed chunk cannot expand without limit.
            plain = self.decoder.decompress(chunk, 1 << 20)
            out.append(self._emit(self.carry + plain))
            chunk = self.decoder.unconsumed_tail
            if not chunk:
                return b"".join(out)

    def finish(self) -> bytes:
        tail = self.carry
        if self.decoder is not None:
            tail += self.decoder.flush()
        self.carry = b""
        return self.pattern.sub(self.replace, tail)

    def _emit(self, buf: bytes) -> bytes:
        """Rewrites every match that starts where it cannot run past the end of `buf`;
        keeps the rest (at most `span` bytes, or up to the end of the last match)."""
        safe = len(buf) - self.span
        if safe <= 0:
            self.carry = buf
            return b""
        out: list[bytes] = []
        pos = 0
        for m in self.pattern.finditer(buf):
            if m.start() >= safe:
                break
            out += [buf[pos:m.start()], self.replace(m)]
            pos = m.end()
        cut = max(safe, pos)
        out.append(buf[pos:cut])
        self.carry = buf[cut:]
        return b"".join(out)


def rewritable(content_type: bytes | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(b";", 1)[0].strip().lower()
    return mime in TEXT_TYPES
