"""Small, fast pieces of HTTP for the pure-ASGI gate: cookies, headers, responses."""

from __future__ import annotations

import ipaddress
import posixpath
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

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


# A path whose bytes are all plain (no %, backslash, ;, $, control or non-ASCII
# characters), whose segments are neither empty nor "." nor "..", and none of which ends
# in a dot: every server reads it the same way, as itself.
_PLAIN_SEGMENT = rb"\.?[A-Za-z0-9_~!&'()*+,=:@-]+(?:\.+[A-Za-z0-9_~!&'()*+,=:@-]+)*"
PLAIN_PATH = re.compile(rb"(?:/" + _PLAIN_SEGMENT + rb")*/?")
_U_ESCAPE = re.compile(r"%u([0-9a-fA-F]{4})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Reading:
    """How one kind of server turns a request's raw path into the resource it names."""

    split_encoded_slash: bool  # %2F (and %5C where a backslash separates) divides segments
    encoded_dots: bool  # %2e%2e is a parent segment, not a name
    rounds: int = 1  # percent-decoding passes (more than one: double decoding)
    backslash: bool = False  # a backslash separates segments, as / does
    parameters: bool = False  # ";..." is cut from every segment ("..;" is ".."), also %3b
    windows: bool = False  # trailing dots and spaces, "::$DATA", %uXXXX, NFKC letters
    # It can differ from the first reading only where the path holds one of these (in
    # lower case); empty: wherever.
    differs_on: tuple[str, ...] = ()


READINGS = (
    # uvicorn, nginx and the gateway's own routes: decode once, then resolve.
    Reading(split_encoded_slash=True, encoded_dots=True),
    # An encoded slash kept inside its segment (Apache's default, Node, Go).
    Reading(split_encoded_slash=False, encoded_dots=True, differs_on=("%2f",)),
    # RFC 3986 to the letter: %2e%2e is a name.
    Reading(split_encoded_slash=False, encoded_dots=False, differs_on=("%2f", "%2e")),
    # Java servlet containers and frameworks: path parameters dropped.
    Reading(split_encoded_slash=False, encoded_dots=True, parameters=True,
            differs_on=("%2f", ";", "%3b")),
    # Windows and IIS.
    Reading(split_encoded_slash=True, encoded_dots=True, rounds=3, backslash=True,
            windows=True),
)


def path_readings(raw: bytes) -> list[str] | None:
    """The distinct resources that common servers could take the raw path (without its
    query) to name, as decoded, dot-resolved paths; the first is the gateway's own
    reading. None when a reading yields a control character (a NUL cuts a path short
    in some servers). For a path that `PLAIN_PATH` matches, the path itself is the only
    reading: callers check that first, as it is the common case."""
    text = raw.decode("utf-8", "replace")
    lower = text.lower()
    out: list[str] = []
    for how in READINGS:
        if out and how.differs_on and not any(s in lower for s in how.differs_on):
            continue
        path = _read(text, how)
        if path is None:
            return None
        if path not in out:
            out.append(path)
    return out


def _read(text: str, how: Reading) -> str | None:
    if how.backslash:
        text = text.replace("\\", "/")
    raw = text.split("/")
    if how.parameters:
        raw = [s.partition(";")[0] for s in raw]
    # Each segment as (what decides whether it is "." or "..", its name).
    segments: list[tuple[str, str]]
    if how.split_encoded_slash:
        decoded = "/".join(raw)
        for _ in range(how.rounds):
            before = decoded
            decoded = _decode(decoded, how)
            if how.windows:
                if not decoded.isascii():
                    decoded = unicodedata.normalize("NFKC", decoded)
                decoded = decoded.replace("\\", "/")
            if decoded == before:
                break
        if _CONTROL.search(decoded):
            return None
        segments = [(s, s) for s in decoded.split("/")]
    else:
        names = [_decode(s, how) for s in raw]
        if how.parameters:  # and once more after decoding, as Spring's path helper does
            names = [n.partition(";")[0] for n in names]
        if _CONTROL.search("".join(names)):
            return None
        segments = list(zip(names if how.encoded_dots else raw, names, strict=True))
    resolved: list[str] = []
    for dot, name in segments:
        if how.windows:
            dot = name = name.partition("::$")[0].rstrip(" ")
            if name not in (".", ".."):
                dot = name = name.rstrip(". ")
        if dot == "..":
            if resolved:
                resolved.pop()
        elif dot not in ("", "."):
            resolved.append(name.replace("/", "%2F"))  # a slash inside a name stays one
    return "/" + "/".join(resolved)


def _decode(text: str, how: Reading) -> str:
    if how.windows and "%u" in text:
        text = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return unquote(text, errors="replace") if "%" in text else text


DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
_PORT = re.compile(r"[0-9]{1,5}")


def canonical_host(raw: bytes | None, scheme: str) -> tuple[str, int | None] | None:
    """The Host header in one spelling: (name in lower case without a trailing dot,
    port or None for the scheme's default). ("", None) without a Host; None for a Host
    that names no host (a bad character, an empty label, a bad port)."""
    if raw is None:
        return "", None
    text = raw.decode("latin-1").strip().lower()
    if not text:
        return "", None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            return None
        if not bracket:
            return None
        name = f"[{inside}]"
    else:
        name, colon, port = text.partition(":")
        rest = colon + port
        if name.endswith("."):
            name = name[:-1]
        if len(name) > 253 or not HOST_NAME.fullmatch(name):
            return None
    if not rest or rest == ":":
        return name, None
    if rest[0] != ":" or not _PORT.fullmatch(rest[1:]) or not 0 < int(rest[1:]) < 65536:
        return None
    port_number = int(rest[1:])
    return name, None if DEFAULT_PORTS.get(scheme) == port_number else port_number


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


