"""`sluis`: the command line. A thin wrapper: each command builds Settings once and runs."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys

from gateway import admin_cli, logs
from gateway.rooms import RoomSettingsError
from gateway.server import redis_for, uvicorn_config
from gateway.settings import Settings, SettingsError


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    with redis_for(settings) as s:
        if args.workers > 1:
            # Each uvicorn worker process builds its own Settings and app from the
            # environment it inherits (gateway.app.app_from_env): the Redis chosen here,
            # and shared files to count into, so that any of them answers a scrape for all.
            assert s.redis_url
            metrics_dir = s.data_dir / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["SLUIS_REDIS_URL"] = s.redis_url
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            from gateway.server import Limits, uvicorn_options

            uvicorn.run("gateway.app:app_from_env", factory=True, host=args.host,
                        port=args.port or s.port, workers=args.workers, loop="uvloop",
                        access_log=False, log_config=None, proxy_headers=False,
                        server_header=False, timeout_graceful_shutdown=10,
                        **uvicorn_options(Limits.of(s)))
            return 0
        from gateway.app import create_app

        server = uvicorn.Server(uvicorn_config(create_app(s), args.host, args.port or s.port))
        server.run()
    return 0


async def _run_worker(settings: Settings) -> None:
    from gateway.store import Store
    from gateway.store.connect import client_from_url
    from queue_worker.mailer import mailer_for
    from queue_worker.worker import Worker

    assert settings.redis_url
    store = Store(client_from_url(settings.redis_url, timeout=settings.redis_timeout_seconds))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Worker(store, settings.rooms, settings.worker_tick_seconds,
                     database_url=settings.booking_database_url,
                     mailer=mailer_for(settings.mail, settings.rooms,
                                       settings.secret_keys)).run(stop)
    finally:
        await store.close()


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import uvloop

    with redis_for(settings) as s:
        uvloop.run(_run_worker(s))
    return 0


def cmd_backend(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from backends.internal.app import create_app
    from backends.internal.settings import InternalSettings

    app = create_app(InternalSettings.from_env())
    uvicorn.Server(uvicorn_config(app, args.host, args.port)).run()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.demo import run_demo

    return run_demo(settings, host=args.host, port=args.port or settings.port)


def cmd_rehearse(args: argparse.Namespace, settings: Settings) -> int:
    from queue_worker import rehearse

    return rehearse.run(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sluis", description="A virtual waiting room.")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gateway", help="the gateway alone")
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--port", type=int, default=0)
    g.add_argument("--workers", type=int, default=1)
    g.set_defaults(run=cmd_gateway)
    w = sub.add_parser("worker", help="the admission worker alone")
    w.set_defaults(run=cmd_worker)
    b = sub.add_parser("backend", help="the internal booking engine alone")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--port", type=int, default=8001)
    b.set_defaults(run=cmd_backend)
    d = sub.add_parser("demo", help="embedded Redis, worker, booking engine and gateway")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=0)
    d.set_defaults(run=cmd_demo)
    a = sub.add_parser("admin", help="the admin API from a terminal (tables; --json)",
                       description=admin_cli.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    admin_cli.add_arguments(a)
    from queue_worker.rehearse import add_arguments

    r = sub.add_parser("rehearse", help="predict an opening from an arrival curve, no server")
    add_arguments(r)
    r.set_defaults(run=cmd_rehearse)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extras = p.parse_known_args(argv)
    if args.command == "admin":
        # Options may come in any order: `set --room r rate_per_minute=30` leaves the
        # pairs after the option to here.
        pairs = [e for e in extras if "=" in e and not e.startswith("-")]
        if len(pairs) != len(extras):
            p.error(f"unrecognized arguments: {' '.join(e for e in extras if e not in pairs)}")
        args.pairs = [*args.pairs, *pairs]
        logs.configure(os.environ.get("SLUIS_LOG_LEVEL", "WARNING"))
        # No settings are read: a question to a running gateway creates nothing here.
        return admin_cli.run(args)
    if extras:
        p.error(f"unrecognized arguments: {' '.join(extras)}")
    logs.configure(os.environ.get("SLUIS_LOG_LEVEL", "INFO"))
    try:
        settings = Settings.from_env(demo=args.command == "demo")
    except (SettingsError, RoomSettingsError) as exc:
        # A mistake in the environment or the rooms file: every reason, no traceback.
        print(f"sluis: {exc}", file=sys.stderr)
        return 2
    result: int = args.run(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
