"""Small, fast pieces of HTTP for the pure-ASGI gate: cookies, headers, responses."""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Iterable, Sequence

import orjson

from gateway.types import Send

RESERVED_PREFIX = "/_sluis"
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
                   trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str | None:
    """The visitor's address: the peer, or, when the peer is a trusted proxy, the
    right-most address in X-Forwarded-For that is not itself a trusted proxy."""
    peer = client[0] if client else None
    if not peer or not trusted or not _in(peer, trusted):
        return peer
    forwarded = header(scope_headers, b"x-forwarded-for")
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


def _in(addr: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def parse_networks(items: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


