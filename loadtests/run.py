"""`python -m loadtests.run`: rehearse an opening and write the report.

Without --url it starts a local stack (Redis, booking engine, worker, gateway) on
127.0.0.1 with the room set for the rehearsal; with --url it runs against that Sluis
(SLUIS_ADMIN_TOKEN for the admin API; SLUIS_SECRET_KEYS to read the booking engine's
places for the oversold and lost checks). Locust runs headless on every core.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from loadtests import report
from loadtests.opening import Opening
from loadtests.stack import ROOT, RoomPlan, Sampler, engine_places, local_stack

log = logging.getLogger("sluis.loadtest")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__)
    p.add_argument("--url", default=os.environ.get("SLUIS_LOADTEST_URL", ""),
                   help="a running Sluis; default: start one on 127.0.0.1")
    p.add_argument("--room", default="zomerkampen")
    p.add_argument("--out", default="artifacts/loadtest", help="report folder")
    o = p.add_argument_group("the opening")
    d = Opening()
    o.add_argument("--visitors", type=int, default=d.visitors)
    o.add_argument("--prequeue-seconds", type=float, default=d.prequeue_seconds)
    o.add_argument("--prequeue-share", type=float, default=d.prequeue_share)
    o.add_argument("--spike-seconds", type=float, default=d.spike_seconds)
    o.add_argument("--spike-share", type=float, default=d.spike_share)
    o.add_argument("--tail-seconds", type=float, default=d.tail_seconds)
    o.add_argument("--drain-seconds", type=float, default=d.drain_seconds)
    r = p.add_argument_group("the room (local stack only)")
    plan = RoomPlan()
    r.add_argument("--rate", type=int, default=1800, help="rate_per_minute")
    r.add_argument("--max-active", type=int, default=plan.max_active)
    r.add_argument("--session-seconds", type=int, default=plan.session_seconds)
    r.add_argument("--grace-seconds", type=int, default=plan.grace_seconds)
    r.add_argument("--gateway-workers", type=int, default=2)
    r.add_argument("--engine", choices=("separate", "inprocess"), default="separate",
                   help="the booking engine as its own process behind the proxy, or inside "
                        "one gateway process as in `sluis demo`")
    r.add_argument("--rate-change", default="",
                   help="AT_SECONDS:RATE, the operator's mid-run change (e.g. 420:2400)")
    g = p.add_argument_group("Locust")
    g.add_argument("--processes", type=int, default=-1, help="Locust processes (-1: a core each)")
    g.add_argument("--no-register", action="store_true", help="admitted parents do not register")
    g.add_argument("--scarce", action="store_true",
                   help="parents race for the sessions with the fewest places left")
    g.add_argument("--lead-seconds", type=float, default=10.0,
                   help="time for Locust to start before the curve begins")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    records_dir = out / "records"
    for old in records_dir.glob("visitors-*.jsonl"):
        old.unlink()
    opening = Opening(visitors=args.visitors, prequeue_seconds=args.prequeue_seconds,
                      prequeue_share=args.prequeue_share, spike_seconds=args.spike_seconds,
                      spike_share=args.spike_share, tail_seconds=args.tail_seconds,
                      drain_seconds=args.drain_seconds)
    with ExitStack() as stack:
        if args.url:
            url = args.url.rstrip("/")
            token = os.environ.get("SLUIS_ADMIN_TOKEN", "")
            keys = tuple(k for k in os.environ.get("SLUIS_SECRET_KEYS", "").split(",") if k)
        else:
            plan = RoomPlan(room=args.room, rate_per_minute=args.rate,
                            max_active=args.max_active, session_seconds=args.session_seconds,
                            grace_seconds=args.grace_seconds)
            local = stack.enter_context(local_stack(out / "stack", plan, args.gateway_workers,
                                                    engine=args.engine))
            url, token, keys = local.url, local.admin_token, local.secret_keys
        # The curve runs on the wall clock from `start`, whenever Locust's processes are
        # up, so that the opening the room announces and the spike coincide.
        start = float(round(time.time() + args.lead_seconds))
        opens_at = start + opening.opens_after
        if opening.prequeue_seconds:
            _set(url, token, args.room, {"opens_at": _iso(opens_at)})
        settings = _get(url, token, args.room)
        sampler = Sampler(url, token, args.room)
        sampler.start()
        command = locust_command(url, args, records_dir, out / "locust", start)
        log.info("locust starting: %s", " ".join(command))
        env = dict(os.environ, SLUIS_ADMIN_TOKEN=token, PYTHONPATH=str(ROOT))
        with (out / "locust.log").open("wb") as fh:
            code = subprocess.Popen(command, cwd=ROOT, env=env, stdout=fh,
                                    stderr=subprocess.STDOUT).wait()
        sampler.halt.set()
        sampler.join()
        engine = engine_places(url, args.room, keys, token) if keys else None
        draw = httpx.get(f"{url}/_sluis/draw", params={"room": args.room},
                         trust_env=False).json()
    rate_changes = []
    if args.rate_change:
        at, _, rate = args.rate_change.partition(":")
        rate_changes.append((float(at), int(rate)))
    result = report.build(
        records=report.read_records(records_dir), samples=sampler.samples,
        stats=report.read_locust_stats(out / "locust"),
        history=report.read_locust_history(out / "locust"),
        failures=report.read_locust_failures(out / "locust"), engine=engine, draw=draw,
        start=start,
        opens_at=max(opens_at, start), settings=settings, rate_changes=rate_changes,
        run={"start": start, "opens_at": opens_at, "visitors": opening.visitors,
             "curve": [[s.count, s.seconds] for s in opening.segments()],
             "url": url, "locust_exit": code, "command": " ".join(sys.argv)})
    (out / "report.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (out / "report.html").write_text(report.html(result), encoding="utf-8")
    print(summary(result))
    print(f"report: {out / 'report.html'}")
    return 0 if all(result["verdict"].values()) else 1


def locust_command(url: str, args: argparse.Namespace, records: Path, prefix: Path,
                   start: float) -> list[str]:
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"),
               "--headless", "--host", url, "--csv", str(prefix), "--csv-full-history",
               "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
               "--records-dir", str(records), "--room", args.room, "--start-at", str(start),
               "--visitors", str(args.visitors),
               "--prequeue-seconds", str(args.prequeue_seconds),
               "--prequeue-share", str(args.prequeue_share),
               "--spike-seconds", str(args.spike_seconds),
               "--spike-share", str(args.spike_share),
               "--tail-seconds", str(args.tail_seconds),
               "--drain-seconds", str(args.drain_seconds)]
    if args.processes != 1:
        command += ["--processes", str(args.processes)]
    if args.rate_change:
        command += ["--rate-change", args.rate_change]
    if args.no_register:
        command += ["--register", "false"]
    if args.scarce:
        command += ["--scarce", "true"]
    return command


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _get(url: str, token: str, room: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/_sluis/admin/api/rooms/{room}",
                  headers={"authorization": f"Bearer {token}"}, trust_env=False)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return {k: data[k] for k in ("rate_per_minute", "max_active", "session_seconds",
                                 "grace_seconds", "opens_at")}


def _set(url: str, token: str, room: str, changes: dict[str, Any]) -> None:
    r = httpx.patch(f"{url}/_sluis/admin/api/rooms/{room}", json=changes,
                    headers={"authorization": f"Bearer {token}"}, trust_env=False)
    r.raise_for_status()


def summary(o: dict[str, Any]) -> str:
    v = o["visitors"]
    lines = [f"visitors {v['total']:,}, admitted {v['admitted']:,}, registered "
             f"{v['registered']:,}, still waiting {v['still_waiting_at_end']:,}"]
    for e in o["endpoints"]:
        lines.append(f"  {e['name']:<22} {e['requests']:>8,} req {e['failures']:>6,} fail "
                     f"{e['rps']:>8} rps  p50 {e['p50_ms']} ms  p99 {e['p99_ms']} ms")
    lines.append(f"time to admission: {o['time_to_admission']}")
    lines.append(f"fairness: {json.dumps(o['fairness'])}")
    lines.append(f"eta: {json.dumps(o['eta_accuracy'])}")
    lines.append(f"backend: {json.dumps(o['backend'])}")
    if "places" in o:
        p = o["places"]
        lines.append(f"places: oversold {p['oversold']['places']}, lost {p['lost']['places']},"
                     f" 201s {p['parents_201']}, booked {p['booked_total']}/"
                     f"{p['capacity_total']}")
    lines.append(f"verdict: {json.dumps(o['verdict'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
