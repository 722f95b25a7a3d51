"""The ceiling: a bare Starlette app, served by the same uvicorn settings as the gateway."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


app = Starlette(routes=[Route("/{path:path}", ping, methods=["GET", "POST"])])
