"""GET /_sluis/metrics: Prometheus text format."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from gateway import metrics
from gateway.store import Store, StoreUnavailable


async def scrape(request: Request) -> Response:
    store: Store = request.app.state.store
    rows = []
    try:
        for room in request.app.state.rooms.rooms:
            view = await store.view(room.name)
            rows.append(metrics.RoomRow(
                room=room.name, waiting=view.queued + view.prequeued, active=view.active,
                rate_per_minute=view.settings.rate_per_minute, counters=view.counters,
                inventory=view.inventory_remaining if room.inventory else None))
    except StoreUnavailable:
        metrics.REDIS_ERRORS.inc()
        rows = []
    metrics.ROOM_FIGURES.rows = rows
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
