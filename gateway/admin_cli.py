"""`sluis admin`: the admin API from a terminal, answered as plain tables (`--json` for
scripts).

Where it looks, in this order, and never writing anything:
- the gateway: `--url`, else `SLUIS_URL`, else http://127.0.0.1:`SLUIS_PORT` (8000);
- the admin token: `SLUIS_ADMIN_TOKEN`, else the file `admin_token` in the data folder
  (`SLUIS_DATA_DIR`, else `.sluis` in the current folder), which `sluis demo` keeps;
- the room: `--room`, else the only room the gateway serves.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

ACTIONS = ("status", "set", "pause", "resume", "open", "drain")
# The room table's columns: (heading, field of the room JSON).
COLUMNS = (("room", "room"), ("state", "state"), ("rate/min", "rate_per_minute"),
           ("pace/min", "effective_rate_per_minute"), ("set by", "pace_set_by"),
           ("max active", "max_active"), ("active", "active"), ("waiting", "queued"),
           ("pre-queue", "prequeued"), ("admitted", "admitted_total"),
           ("places left", "inventory_remaining"))
# One room, field by field: (label, field).
FIELDS = (("state", "state"), ("rate per minute", "rate_per_minute"),
          ("effective pace per minute", "effective_rate_per_minute"),
          ("what sets the pace", "pace"), ("holding the line now", "line_held_by"),
          ("max active", "max_active"), ("active now", "active"),
          ("session seconds (longest)", "session_seconds"),
          ("idle seconds (0: no limit)", "idle_seconds"), ("paused", "paused"),
          ("opens at", "opens_at"), ("closes at", "closes_at"), ("waiting", "queued"),
          ("in the pre-queue", "prequeued"), ("joined", "joined_total"),
          ("admitted", "admitted_total"), ("places left", "inventory_remaining"),
          ("sold out", "sold_out"), ("leading worker", "leader"))


class AdminError(Exception):
    """A mistake the operator can mend; its text says how."""


def add_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("action", choices=ACTIONS)
    a.add_argument("pairs", nargs="*", help="for set: name=value ...")
    a.add_argument("--room", default=None, help="the room (default: the only one)")
    a.add_argument("--at", default=None, help="for open: ISO time, or empty for now")
    a.add_argument("--url", default=None, help="the gateway (default: SLUIS_URL, else "
                   "http://127.0.0.1:$SLUIS_PORT)")
    a.add_argument("--json", action="store_true", help="print the API's JSON as it came")


def gateway_url(args_url: str | None, env: Mapping[str, str]) -> str:
    if args_url:
        return args_url.rstrip("/")
    if env.get("SLUIS_URL"):
        return env["SLUIS_URL"].rstrip("/")
    return f"http://127.0.0.1:{env.get('SLUIS_PORT', '').strip() or '8000'}"


def admin_token(env: Mapping[str, str]) -> tuple[str, str]:
    """(the token, where it came from); read only, never created."""
    token = env.get("SLUIS_ADMIN_TOKEN", "").strip()
    if token:
        return token, "SLUIS_ADMIN_TOKEN"
    folder = Path(env.get("SLUIS_DATA_DIR", "").strip() or ".sluis")
    path = folder / "admin_token"
    try:
        token = path.read_text().strip()
    except OSError:
        token = ""
    if not token:
        raise AdminError(
            f"no admin token: set SLUIS_ADMIN_TOKEN, or run this where `sluis demo` runs "
            f"(it keeps {Path('.sluis') / 'admin_token'}), or point SLUIS_DATA_DIR at that "
            f"folder (looked for {path.resolve()})")
    return token, str(path)


def _typed(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    if value in ("null", ""):
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    heads = [h for h, _ in COLUMNS]
    body = [[_cell(r.get(f)) for _, f in COLUMNS] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(heads, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(line.rstrip() for line in lines)


def fields(room: Mapping[str, Any]) -> str:
    width = max(len(label) for label, _ in FIELDS)
    lines = [f"room {room.get('room')}"]
    lines += [f"  {label.ljust(width)}  {_cell(room.get(name))}" for label, name in FIELDS
              if name in room]
    return "\n".join(lines)


def changes(before: Mapping[str, Any], after: Mapping[str, Any], asked: Mapping[str, Any]
            ) -> str:
    out = [f"{name}: {_cell(before.get(name))} → {_cell(after.get(name))}" for name in asked
           if before.get(name) != after.get(name)]
    return "\n".join(out) or "nothing changed (the room already had these settings)"


def _refusal(r: httpx.Response, source: str, rooms: list[str] | None = None) -> str:
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 401:
        return f"the gateway refused the admin token from {source}"
    if r.status_code == 422 and isinstance(body.get("reasons"), dict):
        return "refused:\n" + "\n".join(f"  {k}: {v}" for k, v in body["reasons"].items())
    if body.get("error") == "unknown_room":
        listed = ", ".join(rooms or []) or "none"
        return f"no such room; the rooms are: {listed}"
    return f"the gateway answered {r.status_code}: {r.text.strip()[:300]}"


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        return _run(args, env)
    except AdminError as exc:
        print(f"sluis admin: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        url = gateway_url(args.url, env)
        print(f"sluis admin: cannot reach the gateway at {url} ({exc}); start it, or "
              "say where it is with --url or SLUIS_URL / SLUIS_PORT", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    body: dict[str, Any] = {}
    if args.action == "set":
        if not args.pairs:
            raise AdminError("set needs name=value pairs, e.g. rate_per_minute=30")
        for pair in args.pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise AdminError(f"expected name=value, got {pair!r}")
            body[key] = _typed(value)
    elif args.pairs:
        raise AdminError(f"{args.action} takes no name=value pairs")
    token, source = admin_token(env)
    base = gateway_url(args.url, env) + "/_sluis/admin/api"
    headers = {"authorization": f"Bearer {token}",
               # Who, for the audit trail beside the address the change came from.
               "x-sluis-actor": env.get("SLUIS_ACTOR") or env.get("USER", "")}
    with httpx.Client(headers=headers, timeout=10, trust_env=False) as client:
        listing = client.get(f"{base}/rooms")
        if not listing.is_success:
            raise AdminError(_refusal(listing, source))
        rooms = listing.json().get("rooms", [])
        names = [r["room"] for r in rooms]
        if args.action == "status" and args.room is None:
            print(orjson.dumps(listing.json()).decode() if args.json else table(rooms))
            return 0
        room = args.room
        if room is None:
            if len(names) != 1:
                raise AdminError(f"name the room with --room; the rooms are: {', '.join(names)}")
            room = names[0]
        if room not in names:
            raise AdminError(f"no room {room!r}; the rooms are: {', '.join(names) or 'none'}")
        before = next(r for r in rooms if r["room"] == room)
        if args.action == "status":
            print(orjson.dumps(before).decode() if args.json else fields(before))
            return 0
        if args.action == "drain":
            r = client.post(f"{base}/rooms/{room}/drain")
        else:
            if args.action == "pause":
                body = {"paused": True}
            elif args.action == "resume":
                body = {"paused": False}
            elif args.action == "open":
                body = {"opens_at": args.at}
            r = client.patch(f"{base}/rooms/{room}", json=body)
        if not r.is_success:
            print(r.text if args.json else f"sluis admin: {_refusal(r, source, names)}",
                  file=sys.stderr)
            return 1
        if args.json:
            print(r.text)
        elif args.action == "drain":
            print(f"{room}: {r.json().get('ended', 0)} live sessions ended")
        else:
            print(f"{room}: " + changes(before, r.json(), body))
        return 0
