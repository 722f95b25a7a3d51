"""Run the shop surge and print its figures:

    .venv/bin/python -m tests.surge_shop.run                    # 300 parents, 40 places
    .venv/bin/python -m tests.surge_shop.run --compare          # and again without end_on
    .venv/bin/python -m tests.surge_shop.run --parents 600 --places 80 --json out.json

Redis is started here (embedded, a real redis-server), or SLUIS_REDIS_URL is used;
every process's log stays in the folder printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import redis

from gateway.store.embedded import EmbeddedRedis
from tests.surge_shop.parents import run_crowd
from tests.surge_shop.report import Report, build
from tests.surge_shop.stack import Plan, surge_stack

DEFAULT = Plan()


def surge(redis_url: str, folder: Path, plan: Plan) -> Report:
    """One surge on a fresh stack and a flushed Redis."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    with surge_stack(redis_url, folder, plan) as stack:
        result = asyncio.run(run_crowd(stack.gateway_url, plan))
        return build(result, stack.shop_url, stack.shop_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, default=DEFAULT.parents)
    parser.add_argument("--places", type=int, default=DEFAULT.places)
    parser.add_argument("--rate", type=int, default=DEFAULT.rate_per_minute,
                        help="rate_per_minute")
    parser.add_argument("--max-active", type=int, default=DEFAULT.max_active)
    parser.add_argument("--compare", action="store_true",
                        help="run the same surge again without end_on (slower: idle timeout)")
    parser.add_argument("--without-end-on", action="store_true",
                        help="only the surge without end_on")
    parser.add_argument("--folder", type=Path, help="keep logs here (default: a new tmp dir)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    plan = Plan(parents=args.parents, places=args.places, rate_per_minute=args.rate,
                max_active=args.max_active)
    plans = [replace(plan, end_on=not args.without_end_on)]
    if args.compare and not args.without_end_on:
        plans.append(replace(plan, end_on=False))
    folder = args.folder or Path(tempfile.mkdtemp(prefix="sluis-surge-shop-"))
    reports: list[Report] = []
    with ExitStack() as stack:
        url = os.environ.get("SLUIS_REDIS_URL") or stack.enter_context(
            EmbeddedRedis(folder / "redis")).url
        for plan in plans:
            name = "end-on" if plan.end_on else "timeouts-only"
            report = surge(url, folder / name, plan)
            reports.append(report)
            print(report.text(), flush=True)
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2))
    print(f"logs: {folder}")


if __name__ == "__main__":
    main()
