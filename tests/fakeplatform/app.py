"""A fake hosted registration platform, standing in for the kind Sluis fronts unchanged.

It behaves like the real kind where it matters to the gateway: a login that sets a
session cookie for its own domain, absolute links and redirects to its own host name
(in HTML, CSS and gzip-compressed JavaScript), a basket ("winkelmandje") and a
checkout with limited places, and a capacity that degrades under concurrency: each
request is slower the more are in flight, and past FAKE_CAPACITY concurrent requests
it answers 500. `/_fake/...` is its control panel for tests, called directly.

Environment: FAKE_CAPACITY (default 30), FAKE_BASE_MS (5), FAKE_SLOWDOWN_MS (1, per
request in flight), FAKE_REQUIRE_SECRET ("Header-Name: value": refuse requests
without it, as an upstream that accepts the gateway alone would).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import itertools
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

SESSION_COOKIE = "kwsession"
ACTIVITIES = {"zwemmen-1": "Zwemmen zaterdag 10:00", "kamp-sport": "Sportkamp week 1"}


@dataclass
class Platform:
    capacity: int = 30
    base_ms: float = 5.0
    slowdown_ms: float = 1.0
    secret: tuple[bytes, bytes] | None = None
    places: dict[str, int] = field(default_factory=lambda: {a: 1000 for a in ACTIVITIES})
    sessions: dict[str, str] = field(default_factory=dict)
    baskets: dict[str, list[str]] = field(default_factory=dict)
    orders: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    order_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    failing: bool = False
    inflight: int = 0
    max_inflight: int = 0
    requests: int = 0
    errors: int = 0
    refused: int = 0
    admissions_seen: int = 0


def base(request: Request) -> str:
    """The platform's own address, as it writes it into every page."""
    return f"{request.url.scheme}://{request.headers['host']}"


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><title>{title}</title>"
                        f"</head><body><h1>{title}</h1>{body}</body></html>")


def user_of(request: Request, p: Platform) -> str | None:
    return p.sessions.get(request.cookies.get(SESSION_COOKIE, ""))


def create_app() -> ASGIApp:
    secret_text = os.environ.get("FAKE_REQUIRE_SECRET", "")
    name, _, value = secret_text.partition(":")
    p = Platform(capacity=int(os.environ.get("FAKE_CAPACITY", "30")),
                 base_ms=float(os.environ.get("FAKE_BASE_MS", "5")),
                 slowdown_ms=float(os.environ.get("FAKE_SLOWDOWN_MS", "1")),
                 secret=(name.strip().lower().encode(), value.strip().encode())
                 if secret_text else None)

    async def home(request: Request) -> Response:
        b = base(request)
        host = request.headers["host"]
        return page("Stad Zomerwerking", (
            f'<link rel="stylesheet" href="{b}/static/site.css">'
            f'<script src="{b}/static/app.js"></script>'
            f'<a id="login" href="{b}/login">Aanmelden</a> '
            f'<a id="activities" href="//{host}/activities">Activiteiten</a>'))

    async def login_form(request: Request) -> Response:
        return page("Aanmelden", f'<form method="post" action="{base(request)}/login">'
                                 '<input name="user"><input name="password" type="password">'
                                 '<button>Aanmelden</button></form>')

    async def login(request: Request) -> Response:
        form = await request.form()
        user = str(form.get("user", ""))
        if not user or form.get("password") != "geheim":
            return page("Aanmelden mislukt", "")
        token = secrets.token_urlsafe(16)
        p.sessions[token] = user
        response = RedirectResponse(f"{base(request)}/activities", status_code=303)
        # The real kind scopes its session cookie to its own (sub)domain.
        hostname = request.headers["host"].split(":")[0]
        response.set_cookie(SESSION_COOKIE, token, domain=hostname, path="/", httponly=True,
                            samesite="lax")
        return response

    async def activities(request: Request) -> Response:
        b = base(request)
        if user_of(request, p) is None:
            return RedirectResponse(f"{b}/login", status_code=303)
        rows = "".join(f'<form method="post" action="{b}/basket/add">'
                       f'<input type="hidden" name="activity" value="{key}">{label} '
                       f"({p.places[key]} vrij)<button>In mandje</button></form>"
                       for key, label in ACTIVITIES.items())
        return page("Activiteiten", rows + f'<a href="{b}/basket">Winkelmandje</a>')

    async def basket_add(request: Request) -> Response:
        user = user_of(request, p)
        if user is None:
            return RedirectResponse(f"{base(request)}/login", status_code=303)
        activity = str((await request.form()).get("activity", ""))
        if activity in ACTIVITIES:
            p.baskets.setdefault(user, []).append(activity)
        return RedirectResponse(f"{base(request)}/basket", status_code=303)

    async def basket(request: Request) -> Response:
        user = user_of(request, p)
        if user is None:
            return RedirectResponse(f"{base(request)}/login", status_code=303)
        items = "".join(f"<li>{ACTIVITIES[a]}</li>" for a in p.baskets.get(user, []))
        return page("Winkelmandje", f"<ul>{items}</ul><form method=post "
                                    f'action="{base(request)}/checkout"><button>Betalen</button>'
                                    "</form>")

    async def checkout(request: Request) -> Response:
        user = user_of(request, p)
        if user is None:
            return RedirectResponse(f"{base(request)}/login", status_code=303)
        items = p.baskets.pop(user, [])
        if not items or any(p.places[a] <= 0 for a in items):
            return page("Volzet", "")
        for a in items:
            p.places[a] -= 1
        order = next(p.order_ids)
        p.orders[order] = (user, items)
        return RedirectResponse(f"{base(request)}/orders/{order}", status_code=303)

    async def order(request: Request) -> Response:
        user = user_of(request, p)
        found = p.orders.get(int(request.path_params["order"]))
        if found is None or found[0] != user:
            return page("Niet gevonden", "")
        return page("Bevestigd", f"<p id=order>Bestelling {request.path_params['order']}</p>"
                                 f'<a href="{base(request)}/">Terug</a>')

    async def css(request: Request) -> Response:
        return Response(f"body{{background:url({base(request)}/static/bg.png)}}",
                        media_type="text/css")

    async def js(request: Request) -> Response:
        text = (f'const API = "{base(request)}/api";\n'
                f'const ESCAPED = "{base(request).replace("/", chr(92) + "/")}/api";\n'
                + "// padding\n" * 2000).encode()
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(gzip.compress(text), media_type="application/javascript",
                            headers={"content-encoding": "gzip", "vary": "accept-encoding"})
        return Response(text, media_type="application/javascript")

    async def big(request: Request) -> Response:
        size = int(request.query_params.get("bytes", str(20 * 1024 * 1024)))
        block = bytes(range(256)) * 256  # 64 KiB

        async def blocks() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                yield block[:left]
                left -= len(block)

        return StreamingResponse(blocks(), media_type="application/octet-stream",
                                 headers={"content-length": str(size)})

    async def upload(request: Request) -> Response:
        digest, n = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            n += len(chunk)
        return JSONResponse({"bytes": n, "sha256": digest.hexdigest()})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("ms", "200")) / 1000)
        return PlainTextResponse("traag")

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await ws.send_text(f"echo: {text}")

    async def stats(request: Request) -> Response:
        return JSONResponse({"inflight": p.inflight, "max_inflight": p.max_inflight,
                             "requests": p.requests, "errors": p.errors, "refused": p.refused,
                             "admissions_seen": p.admissions_seen, "orders": len(p.orders)})

    async def control(request: Request) -> Response:
        q = request.query_params
        if "failing" in q:
            p.failing = q["failing"] == "1"
        if q.get("reset") == "1":
            p.max_inflight = p.requests = p.errors = p.refused = p.admissions_seen = 0
        return await stats(request)

    inner = Starlette(routes=[
        Route("/", home), Route("/login", login_form), Route("/login", login, methods=["POST"]),
        Route("/activities", activities), Route("/basket/add", basket_add, methods=["POST"]),
        Route("/basket", basket), Route("/checkout", checkout, methods=["POST"]),
        Route("/orders/{order:int}", order), Route("/static/site.css", css),
        Route("/static/app.js", js), Route("/files/big", big),
        Route("/upload", upload, methods=["POST"]), Route("/slow", slow),
        WebSocketRoute("/ws/echo", echo),
        Route("/_fake/stats", stats), Route("/_fake/control", control, methods=["POST"]),
    ])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_fake/"):
            await inner(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if p.secret is not None and headers.get(p.secret[0]) != p.secret[1]:
            p.refused += 1
            await PlainTextResponse("gateway only", status_code=403)(scope, receive, send)
            return
        p.requests += 1
        p.admissions_seen += b"sluis-admission" in headers
        p.inflight += 1
        p.max_inflight = max(p.max_inflight, p.inflight)
        try:
            if p.failing or p.inflight > p.capacity:
                p.errors += 1
                await PlainTextResponse("Er ging iets mis", status_code=500)(scope, receive, send)
                return
            # Degrades under load: every request in flight makes each one slower.
            await asyncio.sleep((p.base_ms + p.slowdown_ms * p.inflight) / 1000)
            await inner(scope, receive, send)
        finally:
            p.inflight -= 1

    return app
