"""`sluis`: the command line. A thin wrapper: each command builds Settings once and runs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from typing import Any

import httpx

from gateway import logs
from gateway.settings import Settings, SettingsError


@contextlib.contextmanager
def redis_for(settings: Settings) -> Iterator[Settings]:
    """Settings with a Redis URL: the configured one, a running embedded one, or a new one."""
    if settings.redis_url:
        yield settings
        return
    from dataclasses import replace

    from gateway.store.embedded import EmbeddedRedis, running_url

    url = running_url(settings.data_dir / "redis")
    if url:
        yield replace(settings, redis_url=url)
        return
    with EmbeddedRedis(settings.data_dir / "redis") as server:
        os.environ["SLUIS_REDIS_URL"] = server.url  # for uvicorn's worker processes
        yield replace(settings, redis_url=server.url)


def _uvicorn_config(app: Any, host: str, port: int, **kw: Any) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, loop="uvloop", http="httptools",
                          access_log=False, log_config=None, lifespan="on",
                          proxy_headers=False, server_header=False,
                          timeout_graceful_shutdown=10, **kw)


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    with redis_for(settings) as s:
        if args.workers > 1:
            # Each uvicorn worker process builds its own app from the environment, and
            # counts into shared files so that any of them answers a scrape for all.
            metrics_dir = s.data_dir / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            uvicorn.run("gateway.app:app_from_env", factory=True, host=args.host,
                        port=args.port or s.port, workers=args.workers, loop="uvloop",
                        http="httptools", access_log=False, log_config=None,
                        proxy_headers=False, server_header=False, timeout_graceful_shutdown=10)
            return 0
        from gateway.app import create_app

        server = uvicorn.Server(_uvicorn_config(create_app(s), args.host, args.port or s.port))
        server.run()
    return 0


async def _run_worker(settings: Settings) -> None:
    from gateway.store import Store
    from gateway.store.connect import client_from_url
    from queue_worker.worker import Worker

    assert settings.redis_url
    store = Store(client_from_url(settings.redis_url, timeout=settings.redis_timeout_seconds))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Worker(store, settings.rooms, settings.worker_tick_seconds,
                     database_url=settings.booking_database_url).run(stop)
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
    uvicorn.Server(_uvicorn_config(app, args.host, args.port)).run()
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.demo import run_demo

    return run_demo(settings, host=args.host, port=args.port or settings.port)


def cmd_rehearse(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import rehearse

    return rehearse.run(args)


def cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    base = args.url.rstrip("/") + "/_sluis/admin/api"
    headers = {"authorization": f"Bearer {settings.admin_token}",
               # Who, for the audit trail beside the address the change came from.
               "x-sluis-actor": os.environ.get("SLUIS_ACTOR") or os.environ.get("USER", "")}
    room = args.room
    with httpx.Client(headers=headers, timeout=10, trust_env=False) as client:
        if args.action == "status":
            r = client.get(f"{base}/rooms/{room}" if room else f"{base}/rooms")
        elif args.action == "drain":
            r = client.post(f"{base}/rooms/{room or 'default'}/drain")
        else:
            body: dict[str, Any]
            if args.action == "pause":
                body = {"paused": True}
            elif args.action == "resume":
                body = {"paused": False}
            elif args.action == "open":
                body = {"opens_at": args.at}
            elif args.action == "set":
                body = {}
                for pair in args.pairs:
                    key, sep, value = pair.partition("=")
                    if not sep:
                        print(f"sluis admin set: expected name=value, got {pair!r}",
                              file=sys.stderr)
                        return 2
                    body[key] = _typed(value)
            else:
                print(f"sluis admin {args.action}: not available yet", file=sys.stderr)
                return 2
            r = client.patch(f"{base}/rooms/{room or 'default'}", json=body)
    print(r.text)
    return 0 if r.is_success else 1


def _typed(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    if value in ("null", ""):
        return None
    with contextlib.suppress(ValueError):
        return int(value)
    return value


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
    a = sub.add_parser("admin", help="the admin API from a terminal")
    a.add_argument("action", choices=["status", "set", "pause", "resume", "open", "drain"])
    a.add_argument("pairs", nargs="*", help="for set: name=value ...")
    a.add_argument("--room", default=None)
    a.add_argument("--at", default=None, help="for open: ISO time, or empty for now")
    a.add_argument("--url", default=os.environ.get("SLUIS_URL", "http://127.0.0.1:8000"))
    a.set_defaults(run=cmd_admin)
    from gateway.rehearse import add_arguments

    r = sub.add_parser("rehearse", help="predict an opening from an arrival curve, no server")
    add_arguments(r)
    r.set_defaults(run=cmd_rehearse)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(os.environ.get("SLUIS_LOG_LEVEL", "INFO"))
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"sluis: {exc}", file=sys.stderr)
        return 2
    result: int = args.run(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
