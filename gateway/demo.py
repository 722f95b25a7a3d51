"""`sluis demo`: embedded Redis, the admission worker, the internal booking engine with
sample camps, and the gateway, in one process on http://127.0.0.1:8000."""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from typing import Any

import uvicorn

from gateway.pace import seconds_text
from gateway.rooms import Branding, LiveSettings, RoomConfig, iso_from_ms
from gateway.settings import Settings
from gateway.store import Store, StoreUnavailable

log = logging.getLogger("sluis.demo")

# The booking engine's own name for the site, so that the waiting room in front of it
# carries the same name in every language (backends/internal/templates/base.html).
SITE_NAME = "Summer camps and swimming"


def demo_room(fixed: str | None = None) -> RoomConfig:
    """The demo's room: small numbers, so that a queue forms with a handful of browser
    tabs, named as the site behind it is named (`fixed`: SLUIS_INTERNAL_SITE_NAME)."""
    from backends.internal.i18n import LANGUAGES, Catalogs

    catalogs = Catalogs()
    titles = tuple((lang, fixed or catalogs.translator(lang)(SITE_NAME)) for lang in LANGUAGES)
    return RoomConfig(
        name="zomerkampen",
        title=dict(titles)["nl"],
        branding=Branding(titles=titles),
        initial=LiveSettings(rate_per_minute=6, max_active=3, session_seconds=300),
    )


def room_line(room: RoomConfig, s: LiveSettings, now_ms: int) -> str:
    """A room's live settings as they are in Redis now (an operator's change survives a
    restart, so the rooms file's numbers may no longer hold)."""
    parts = [f"at most {s.max_active:,} inside at once", f"{s.rate_per_minute:,} a minute",
             f"sessions up to {seconds_text(s.session_seconds)}"]
    if s.idle_seconds:
        parts.append(f"idle limit {seconds_text(s.idle_seconds)}")
    if s.paused:
        parts.append("PAUSED")
    if s.opens_at_ms > now_ms:
        parts.append(f"opens {iso_from_ms(s.opens_at_ms, room.tz)}")
    if s.closed or (s.closes_at_ms and s.closes_at_ms <= now_ms):
        parts.append("CLOSED")
    return f"  Room {room.name} now: {', '.join(parts)}."


async def banner(settings: Settings, store: Store, base: str) -> str:
    first = settings.rooms[0]
    rooms: list[str] = []
    live: LiveSettings | None = None
    try:
        for room in settings.rooms:
            view = await store.view(room.name)
            live = live or view.settings
            rooms.append(room_line(room, view.settings, view.now_ms))
    except StoreUnavailable:
        rooms = ["  Room settings: Redis did not answer; see the dashboard."]
    try_rate = 30 if live is None or live.rate_per_minute != 30 else 60
    lines = [
        "",
        "  Sluis demo is running",
        f"  Parents:        {base}/",
        f"  Dashboard:      {base}/_sluis/admin/   (sign in with the admin token)",
        f"  Admin API:      {base}/_sluis/admin/api/rooms",
        f"  Admin token:    {settings.admin_token}",
        f"  Status (JSON):  {base}/_sluis/status?room={first.name}",
        f"  Metrics:        {base}/_sluis/metrics",
        f"  Data folder:    {settings.data_dir}",
        "",
        *rooms,
    ]
    if live is not None:
        lines.append(f"  A queue forms once {live.max_active:,} are inside: open more browser "
                     "tabs than that.")
    lines += [
        f"  Try: SLUIS_ADMIN_TOKEN={settings.admin_token} .venv/bin/sluis admin set "
        f"--room {first.name} rate_per_minute={try_rate}",
        "  Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


class DemoServer(uvicorn.Server):
    """Says where everything is once the gateway listens, with the settings then live."""

    def __init__(self, config: uvicorn.Config, settings: Settings, store: Store,
                 base: str) -> None:
        super().__init__(config)
        self.settings, self.store, self.base = settings, store, base

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            text = await banner(self.settings, self.store, self.base)
            print(text, flush=True)  # the one thing a person starting the demo must read


def run_demo(settings: Settings, host: str, port: int) -> int:
    """`settings` as Settings.from_env(demo=True) reads them: the booking engine loads its
    sample camps unless SLUIS_INTERNAL_DEMO_DATA says otherwise."""
    from gateway.app import create_app
    from gateway.server import redis_for, uvicorn_config

    if settings.rooms_file is None:
        site_name = settings.internal.site_name if settings.internal else None
        settings = dataclasses.replace(settings, rooms=(demo_room(site_name),))
    with redis_for(settings) as s:
        app: Any = create_app(s, worker=True)
        started = time.monotonic()
        DemoServer(uvicorn_config(app, host, port), s, app.state.store,
                   f"http://{host}:{port}").run()
        log.info("demo stopped", extra={"ran_seconds": round(time.monotonic() - started)})
    return 0
