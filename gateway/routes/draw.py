"""GET /_sluis/draw?room=: the pre-queue draw, published so anyone can check it.

Before opening: the commitment sha256(seed). After: the seed and the drawn tickets
in order; `gateway.lottery.verify(seed, seed_sha256, tickets)` recomputes it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.store import Store, StoreUnavailable


async def published(request: Request) -> JSONResponse:
    rooms = request.app.state.rooms
    room = rooms.by_name(request.query_params.get("room"))
    if room is None:
        return JSONResponse({"error": "unknown_room"}, status_code=404)
    store: Store = request.app.state.store
    try:
        snap = await store.snapshot(room.name)
        tickets = await store.draw_tickets(room.name) if snap.seed else []
    except StoreUnavailable:
        return JSONResponse({"error": "unavailable"}, status_code=503,
                            headers={"retry-after": "5"})
    return JSONResponse({
        "room": room.name,
        "algorithm": "ticket = sha1(visitor)[:16]; order = ascending "
                     "int(sha1(seed + ':' + ticket)[:13], 16)",
        "seed_sha256": snap.seed_sha256,
        "seed": snap.seed,
        "tickets": tickets,
    }, headers={"cache-control": "no-store"})
