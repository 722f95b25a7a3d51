"""`sluis demo`: embedded Redis, the admission worker, the internal booking engine with
sample camps, and the gateway, in one process on http://127.0.0.1:8000."""

from __future__ import annotations

import dataclasses
import logging
import os
import time

from gateway.rooms import LiveSettings, RoomConfig
from gateway.settings import Settings

log = logging.getLogger("sluis.demo")

# The demo's room: small numbers, so that a queue forms with a handful of browser tabs.
DEMO_ROOM = RoomConfig(
    name="zomerkampen",
    title="Zomerkampen 2027",
    initial=LiveSettings(rate_per_minute=6, max_active=3, session_seconds=300),
)


def run_demo(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.cli import _uvicorn_config, redis_for

    if not os.environ.get("SLUIS_CONFIG"):
        settings = dataclasses.replace(settings, rooms=(DEMO_ROOM,))
    os.environ.setdefault("SLUIS_INTERNAL_DEMO_DATA", "true")
    with redis_for(settings) as s:
        app = create_app(s, worker=True)
        base = f"http://{host}:{port}"
        banner = "\n".join([
            "",
            "  Sluis demo is starting",
            f"  Parents:        {base}/",
            f"  Admin API:      {base}/_sluis/admin/api/rooms",
            f"  Admin token:    {s.admin_token}",
            f"  Status (JSON):  {base}/_sluis/status?room={s.rooms[0].name}",
            f"  Metrics:        {base}/_sluis/metrics",
            f"  Data folder:    {s.data_dir}",
            "",
            "  A queue forms from the fourth browser at once (max 3 inside, 6 a minute).",
            f"  Try: SLUIS_ADMIN_TOKEN={s.admin_token} .venv/bin/sluis admin set "
            f"--room {s.rooms[0].name} rate_per_minute=30",
            "  Stop with Ctrl-C.",
            "",
        ])
        print(banner, flush=True)  # the one thing a person starting the demo must read
        started = time.monotonic()
        uvicorn.Server(_uvicorn_config(app, host, port)).run()
        log.info("demo stopped", extra={"ran_seconds": round(time.monotonic() - started)})
    return 0
