"""Rewriting the upstream's own addresses into the gateway's, in headers and bodies (no I/O).

A hosted site writes absolute links, redirects, cookie domains and security policies
for its own host name. Behind Sluis the visitor must stay on the city's address, or
the next click would go straight to the upstream and around the queue. Bodies are
rewritten as they stream, a chunk at a time, holding back only as many bytes as a
match can span.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol
from urllib.parse import urlsplit

try:  # optional: decodes upstreams that answer in br whatever they were asked for
    import brotli
except ImportError:  # pragma: no cover - brotli is in the usual environment
    brotli = None

# Types whose bodies can carry absolute links (besides any text/* and +json/+xml type).
_TEXT_APPLICATION = frozenset({
    b"application/json", b"application/javascript", b"application/x-javascript",
    b"application/ecmascript", b"application/xml", b"application/x-ndjson"})
# Encodings the proxy asks the upstream for when it rewrites (the standard library's).
ASKED = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS,
         b"deflate": zlib.MAX_WBITS}
# Decoded output per step: a small compressed chunk must not expand without bound.
_STEP = 1 << 20
# brotli before 1.2 cannot bound its output per call; it is not used then.
_BROTLI = brotli is not None and hasattr(brotli.Decompressor(), "can_accept_more_data")


def decodable(encoding: bytes | None) -> bool:
    """True when a body in this Content-Encoding (lower-case) can be read to rewrite it."""
    return (encoding is None or encoding == b"identity" or encoding in ASKED
            or (encoding == b"br" and _BROTLI))


def rewritable(content_type: bytes | None) -> bool:
    """Every textual type: text/*, JSON, JavaScript, XML and the +json/+xml families."""
    if not content_type:
        return False
    mime = content_type.split(b";", 1)[0].strip().lower()
    return (mime.startswith(b"text/") or mime in _TEXT_APPLICATION
            or mime.endswith((b"+json", b"+xml")))


def _netloc(host: str, port: int, default: int) -> bytes:
    return (host if port == default else f"{host}:{port}").encode()


class Rewriter:
    """The upstream's origin (and base path) as seen in its pages, mapped to the public one.

    `own_origin` is the origin the upstream believes is its own when that is not the
    address the proxy reaches it at (the `upstream_origin` room setting); its host is
    rewritten as well.
    """

    def __init__(self, upstream: str, cookie_domain: str | None = None,
                 own_origin: str | None = None) -> None:
        names: list[tuple[bytes, bytes]] = []  # (host, port pattern)
        for url in (upstream, own_origin):
            if not url:
                continue
            parts = urlsplit(url)
            default = 443 if parts.scheme == "https" else 80
            port = parts.port or default
            port_re = rb"(?::" + str(port).encode() + rb")" + (b"?" if port == default else b"")
            names.append(((parts.hostname or "").encode(), port_re))
        self.hosts = tuple(dict.fromkeys(host for host, _ in names))
        self.base = urlsplit(upstream).path.rstrip("/").encode()
        base_re = b"(?:" + re.escape(self.base) + b")?" if self.base else b""
        either = b"|".join(re.escape(host) + port_re for host, port_re in names)
        # scheme-relative (//host), plain (https://host) and JSON-escaped (https:\/\/host)
        self.pattern = re.compile(
            rb"(?P<scheme>https?:)?(?P<slashes>\\?/\\?/)(?:" + either + b")" + base_re
            + rb"(?![A-Za-z0-9_.:-])", re.IGNORECASE)
        # The longest match plus the one character the look-ahead needs.
        self.span = (len(b"https:\\/\\/") + max(len(h) for h in self.hosts) + 6
                     + len(self.base) + 1)
        # A CSP host-source without a scheme: `stad.kwandoo.be` or `stad.kwandoo.be:443`.
        self._bare_source = re.compile(
            rb"(?<![^\s;])(?:" + b"|".join(re.escape(h) for h in self.hosts)
            + rb")(?::(?:\d+|\*))?(?=[\s;/]|$)", re.IGNORECASE)
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

    def text(self, body: bytes, public: bytes) -> bytes:
        """A whole (small, plain) body at once; the same object when nothing names the
        upstream."""
        if self.pattern.search(body) is None:
            return body
        return self.pattern.sub(self.replacer(public), body)

    def header(self, name: bytes, value: bytes, public: bytes) -> bytes:
        """An answer header that can name the upstream (lower-case name)."""
        if name == b"set-cookie":
            return self.set_cookie(value)
        if name == b"link":
            return _LINK_TARGET.sub(lambda m: b"<" + self.url(m.group(1), public) + b">",
                                    value)
        if name == b"refresh":
            m = _REFRESH_URL.search(value)
            if m is None:  # `0;https://...`, without `url=`
                return self.pattern.sub(self.replacer(public), value)
            return value[:m.end()] + self.url(value[m.end():], public)
        if name.startswith(b"content-security-policy"):
            return self.csp(value, public)
        return self.url(value, public)  # Location, Content-Location

    def url(self, value: bytes, public: bytes) -> bytes:
        """A URL: absolute ones naming the upstream, and paths under its base path."""
        base = self.base
        if base and value.startswith(base) and (len(value) == len(base)
                                                or value[len(base)] in b"/?#"):
            rest = value[len(base):]
            return rest if rest.startswith(b"/") else b"/" + rest
        return self.pattern.sub(self.replacer(public), value)

    def csp(self, value: bytes, public: bytes) -> bytes:
        """A Content-Security-Policy: a source naming the upstream names the gateway."""
        value = self.pattern.sub(self.replacer(public), value)
        netloc = public.partition(b"://")[2].split(b"/", 1)[0]
        return self._bare_source.sub(lambda _: netloc, value)

    def names_upstream(self, domain: bytes) -> bool:
        """True when a cookie Domain is the upstream's host or one of its parent domains."""
        domain = domain.strip().lstrip(b".").lower()
        return bool(domain) and any(host == domain or host.endswith(b"." + domain)
                                    for host in self.hosts)

    def set_cookie(self, value: bytes) -> bytes:
        """A Domain naming the upstream (or a parent of it) is dropped, so the cookie
        belongs to the gateway's host, or replaced by `cookie_domain`; any other Domain
        was written for another name (the public one, when the upstream knows it) and
        stays. The upstream's base path is taken off Path."""
        parts = value.split(b";")
        out = [parts[0]]
        for attr in parts[1:]:
            name, _, given = attr.strip().partition(b"=")
            name = name.lower()
            if name == b"domain" and self.names_upstream(given):
                if self.cookie_domain:
                    out.append(b" Domain=" + self.cookie_domain)
                continue
            if name == b"path" and self.base:
                if given == self.base or given.startswith(self.base + b"/"):
                    attr = b" Path=" + (given[len(self.base):] or b"/")
            out.append(attr)
        return b";".join(out)

    def body(self, public: bytes, encoding: bytes | None) -> BodyRewriter:
        return BodyRewriter(self, public, encoding)


_LINK_TARGET = re.compile(rb"<([^>]*)>")
_REFRESH_URL = re.compile(rb"url\s*=\s*['\"]?", re.IGNORECASE)


class _Decoder(Protocol):
    def pieces(self, chunk: bytes) -> Iterable[bytes]: ...

    def flush(self) -> bytes: ...


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self.inflate = zlib.decompressobj(wbits)

    def pieces(self, chunk: bytes) -> Iterator[bytes]:
        while True:
            yield self.inflate.decompress(chunk, _STEP)
            chunk = self.inflate.unconsumed_tail
            if not chunk:
                return

    def flush(self) -> bytes:
        return self.inflate.flush()


class _Brotli:
    def __init__(self) -> None:
        self.inflate = brotli.Decompressor()

    def pieces(self, chunk: bytes) -> Iterator[bytes]:
        out: bytes = self.inflate.process(chunk, output_buffer_limit=_STEP)
        while True:
            yield out
            # Output short of the limit means the decoder stopped for want of input.
            if len(out) < _STEP and self.inflate.can_accept_more_data():
                return
            out = self.inflate.process(b"", output_buffer_limit=_STEP)
            if not out:
                return

    def flush(self) -> bytes:
        return b""


def _decoder(encoding: bytes | None) -> _Decoder | None:
    if encoding in ASKED:
        return _Zlib(ASKED[encoding])
    if encoding == b"br" and _BROTLI:
        return _Brotli()
    return None


class BodyRewriter:
    """Rewrites a body as it streams; feed() chunks in order, then finish()."""

    def __init__(self, rewriter: Rewriter, public: bytes, encoding: bytes | None) -> None:
        self.pattern = rewriter.pattern
        self.span = rewriter.span
        self.replace = rewriter.replacer(public)
        self.carry = b""
        self.decoder = _decoder(encoding)

    def feed(self, chunk: bytes) -> bytes:
        if self.decoder is None:
            return self._emit(self.carry + chunk)
        return b"".join([self._emit(self.carry + plain)
                         for plain in self.decoder.pieces(chunk)])

    def finish(self) -> bytes:
        tail = self.carry
        if self.decoder is not None:
            tail += self.decoder.flush()
        self.carry = b""
        return self.pattern.sub(self.replace, tail)

    def _emit(self, buf: bytes) -> bytes:
        """Rewrites every match that starts where it cannot run past the end of `buf`;
        keeps the rest (at most `span` bytes, or up to the end of the last match). No
        match spans a line end, so a chunk that ends a line is sent whole: server-sent
        events and streamed lines are not held back."""
        n = len(buf)
        safe = max(n - self.span, buf.rfind(b"\n", max(0, n - self.span)) + 1)
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
