"""WebSocket pass-through for the proxy: one upstream socket per admitted visitor's socket.

A WebSocket is long-lived, so it does not hold one of the room's in-flight places;
the admission was checked once, when it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from backends.base import Receive, Scope, Send
from backends.upstream import Origin

log = logging.getLogger("sluis.backend.websocket")

# Handshake headers the client library writes itself.
_HANDSHAKE = {b"host", b"upgrade", b"connection", b"sec-websocket-key",
              b"sec-websocket-version", b"sec-websocket-extensions", b"sec-websocket-protocol",
              b"content-length", b"transfer-encoding"}


@dataclass(frozen=True, slots=True)
class Target:
    """Where a proxied room's sockets go (built once by the proxy)."""

    origin: Origin
    base_path: bytes
    secret: tuple[bytes, bytes] | None  # the upstream's secret header, name and value
    connect_timeout_seconds: float


async def relay(proxy: Target, scope: Scope, receive: Receive, send: Send) -> None:
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    ws_scheme = "wss" if proxy.origin.scheme == "https" else "ws"
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    url = (f"{ws_scheme}://{proxy.origin.netloc.decode()}{proxy.base_path.decode()}{path}"
           + (f"?{query}" if query else ""))
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
               if k not in _HANDSHAKE and (proxy.secret is None or k != proxy.secret[0])]
    if proxy.secret:
        headers.append((proxy.secret[0].decode(), proxy.secret[1].decode()))
    try:
        upstream = await connect(
            url, additional_headers=headers, subprotocols=scope.get("subprotocols") or None,
            open_timeout=proxy.connect_timeout_seconds, ping_interval=None,
            compression=None, proxy=None, user_agent_header=None, max_size=4 * 1024 * 1024)
    except (OSError, TimeoutError, WebSocketException) as exc:
        log.warning("upstream websocket refused", extra={"error": str(exc)})
        await send({"type": "websocket.close", "code": 1011})
        return
    await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
    down = asyncio.create_task(_downstream(upstream, send))
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])
    except ConnectionClosed:
        pass
    finally:
        await upstream.close()
        down.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await down


async def _downstream(upstream: ClientConnection, send: Send) -> None:
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
        code = upstream.close_code or 1000
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else 1011
    await send({"type": "websocket.close", "code": code})
