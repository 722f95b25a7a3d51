"""GET /_sluis/metrics: Prometheus text format, for clients from SLUIS_METRICS_NETWORKS
(the machine itself and private networks unless set) and, when SLUIS_METRICS_TOKEN is
set, only with `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import metrics
from gateway.http import Network, client_address, parse_networks
from gateway.settings import Settings
from gateway.store import Store, StoreUnavailable

_REFUSED = {"cache-control": "no-store"}


@dataclass(frozen=True, slots=True)
class Access:
    networks: list[Network]
    trusted: list[Network]
    token: bytes | None

    @classmethod
    def of(cls, settings: Settings) -> Access:
        return cls(parse_networks(settings.metrics_networks),
                   parse_networks(settings.trusted_proxies),
                   settings.metrics_token.encode() if settings.metrics_token else None)

    def refusal(self, request: Request) -> Response | None:
        """None when the request may read the metrics, else the answer that refuses it."""
        client = request.client
        address = client_address((client.host, client.port) if client else None,
                                 request.scope["headers"], self.trusted)
        if not address or not _within(address, self.networks):
            return JSONResponse({"error": "forbidden"}, status_code=403, headers=_REFUSED)
        if self.token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode(), self.token):
                return JSONResponse({"error": "unauthorized"}, status_code=401, headers={
                    **_REFUSED, "www-authenticate": 'Bearer realm="sluis-metrics"'})
        return None


def _within(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def _access(request: Request) -> Access:
    access: Access | None = getattr(request.app.state, "metrics_access", None)
    if access is None:
        access = request.app.state.metrics_access = Access.of(request.app.state.settings)
    return access


async def scrape(request: Request) -> Response:
    refused = _access(request).refusal(request)
    if refused is not None:
        return refused
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
