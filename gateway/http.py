"""Small, fast pieces of HTTP for the pure-ASGI gate: cookies, headers, responses."""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Iterable, Sequence

import orjson

from gateway.types import Scope, Send

RESERVED_PREFIX = "/_sluis"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Headers = list[tuple[bytes, bytes]]

NO_STORE: Headers = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
JSON_TYPE = (b"content-type", b"application/json")
HTML_TYPE = (b"content-type", b"text/html; charset=utf-8")


def header(scope_headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in scope_headers:
        if key == name:
            return value
    return None


def cookies(scope_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's cookies; a malformed cookie header yields what can be read of it."""
    out: dict[str, str] = {}
    for key, value in scope_headers:
        if key != b"cookie":
            continue
        for chunk in value.decode("latin-1").split(";"):
            name, sep, val = chunk.strip().partition("=")
            if sep and name and name not in out:
                out[name] = val.strip().strip('"')
    return out


def wants_json(scope_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    accept = header(scope_headers, b"accept") or b""
    return b"application/json" in accept and b"text/html" not in accept


def canonical_path(path: str) -> str:
    """The path with `//` and dot segments resolved, for deciding what it names."""
    if path.startswith("/") and "//" not in path and "/." not in path and (
            path == "/" or not path.endswith("/")):
        return path  # already canonical: the common case, without normpath's work
    if not path.startswith("/"):
        path = "/" + path
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


def is_reserved(path: str) -> bool:
    return path == RESERVED_PREFIX or path.startswith(RESERVED_PREFIX + "/")


def set_cookie(name: str, value: str, *, max_age: int, secure: bool, path: str = "/") -> bytes:
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


def clear_cookie(name: str, *, secure: bool) -> bytes:
    return set_cookie(name, "", max_age=0, secure=secure)


async def respond(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]],
                  head_only: bool = False) -> None:
    all_headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head_only else body})


async def respond_json(send: Send, status: int, data: object,
                       headers: Sequence[tuple[bytes, bytes]] = (), head_only: bool = False
                       ) -> None:
    await respond(send, status, orjson.dumps(data), [JSON_TYPE, *NO_STORE, *headers], head_only)


def client_address(client: tuple[str, int] | None, scope_headers: Iterable[tuple[bytes, bytes]],
                   trusted: Sequence[Network]) -> str | None:
    """The visitor's address: the peer, or, when the peer is a trusted proxy, the
    right-most address in X-Forwarded-For that is not itself a trusted proxy.

    Every X-Forwarded-For line counts, in order: a balancer that appends its own line
    (HAProxy's `option forwardfor`) leaves the visitor's forged one in front of it."""
    peer = client[0] if client else None
    if not peer or not trusted or not _in(peer, trusted):
        return peer
    forwarded = b",".join(v for k, v in scope_headers if k == b"x-forwarded-for")
    if not forwarded:
        return peer
    for hop in reversed(forwarded.decode("latin-1").split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if not _in(hop, trusted):
            return hop
    return peer


# More header bytes than any browser sends (cookies are capped near 4 KB each), far
# fewer than a server could be made to hold per request.
MAX_HEADER_BYTES = 32 * 1024
MAX_TARGET_BYTES = 16 * 1024


def oversized(scope: Scope) -> bool:
    """True when the request's headers or its target are larger than any real visitor's."""
    if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > MAX_TARGET_BYTES:
        return True
    return sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEADER_BYTES


def behind_tls(scope: Scope, trusted: Sequence[Network]
               ) -> Scope:
    """The scope as the visitor made it: `https` when a trusted proxy that ended TLS says
    so in X-Forwarded-Proto, so that cookies get `Secure` and pages HSTS behind it."""
    if not trusted or scope.get("scheme") in ("https", "wss"):
        return scope
    client = scope.get("client")
    if not client or not _in(client[0], trusted):
        return scope
    proto = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-proto")
    # The right-most value is the one the nearest proxy, a trusted one, wrote.
    if proto.rsplit(b",", 1)[-1].strip().lower() != b"https":
        return scope
    return dict(scope, scheme="https" if scope["type"] == "http" else "wss")


def _in(addr: str, nets: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def parse_networks(items: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


