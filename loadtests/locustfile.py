"""Locust users for an opening: parents, refreshers, tab hoarders, abandoners, bots and
one operator, arriving along `loadtests.opening.Opening`.

Run through `python -m loadtests.run` (which starts a local stack and writes the
report), or alone against a running Sluis:

    SLUIS_ADMIN_TOKEN=... locust -f loadtests/locustfile.py --headless --processes -1 \
        --host http://127.0.0.1:8000 --visitors 2000 --records-dir out/

Every parent variant keeps its cookies, obeys `poll_after_seconds` (the refresher
does not: it reloads every 2–5 s), and once admitted registers one child through the
booking engine's JSON API. Per visitor, one JSON line records join time, the ETA
shown at join, the last moment still waiting, the first moment admitted and the
registration, for the report; bots and the operator write a line each too, so that the
report can check that every user Locust started is accounted for.
"""

from __future__ import annotations

import json
import os
import random
import string
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.lock import Semaphore
from locust import FastHttpUser, LoadTestShape, constant, events, task

from gateway.lottery import ticket
from loadtests.opening import Opening

STATUS = "/_sluis/status?room={room}"
JOIN_PATH = "/api/activities"
JSON = {"accept": "application/json"}
HTML = {"accept": "text/html"}
WAITING = ("prequeue", "queued", "paused")

_records: list[dict[str, Any]] = []
_tokens: list[str] = []  # admission tokens seen by parents, for the bots to replay
_breaches: list[str] = []


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    g = parser.add_argument_group("Sluis opening")
    g.add_argument("--visitors", type=int, default=20_000,
                   help="everyone who arrives, all behaviours together")
    g.add_argument("--prequeue-seconds", type=float, default=300)
    g.add_argument("--prequeue-share", type=float, default=0.10)
    g.add_argument("--spike-seconds", type=float, default=60)
    g.add_argument("--spike-share", type=float, default=0.70)
    g.add_argument("--tail-seconds", type=float, default=600)
    g.add_argument("--drain-seconds", type=float, default=600)
    g.add_argument("--room", default="zomerkampen")
    g.add_argument("--start-at", type=float, default=0.0,
                   help="epoch seconds at which the curve begins (default: when the run does)")
    g.add_argument("--stop-at", type=float, default=0.0,
                   help="epoch seconds at which to stop, even before the curve's end "
                        "(a rehearsal cut short on purpose; the report says so)")
    g.add_argument("--records-dir", default="",
                   help="where each Locust process writes its visitors' JSON lines")
    g.add_argument("--rate-change", default="",
                   help="AT_SECONDS:RATE, the operator's change of rate_per_minute")
    g.add_argument("--scarce", default="false",
                   help="true: parents go for the sessions with the fewest places left, so "
                        "that many race for the last ones")
    g.add_argument("--register", default="true",
                   help="false: admitted parents do not register (gateway-only runs)")


def opening_of(options: Any) -> Opening:
    return Opening(visitors=options.visitors, prequeue_seconds=options.prequeue_seconds,
                   prequeue_share=options.prequeue_share, spike_seconds=options.spike_seconds,
                   spike_share=options.spike_share, tail_seconds=options.tail_seconds,
                   drain_seconds=options.drain_seconds)


@events.test_stop.add_listener
def _write_records(environment: Any, **_: Any) -> None:
    folder = getattr(environment.parsed_options, "records_dir", "")
    if not folder or environment.runner is None or type(environment.runner).__name__ == \
            "MasterRunner":
        return
    path = Path(folder) / f"visitors-{os.getpid()}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Whole or not at all: the report counts files, and a half-written one would pass
    # for a process whose visitors are all there.
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as fh:
        for record in _records:
            fh.write(json.dumps(record) + "\n")
        for breach in _breaches:
            fh.write(json.dumps({"kind": "breach", "what": breach}) + "\n")
    partial.replace(path)


def _address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _name() -> str:
    return random.choice(string.ascii_uppercase) + "".join(
        random.choices(string.ascii_lowercase, k=random.randint(5, 9)))


class Visitor(FastHttpUser):
    """A parent: joins, waits as told, registers once admitted, then stays idle."""

    abstract = True
    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        self.room = self.environment.parsed_options.room
        self.register_after = self.environment.parsed_options.register != "false"
        self.address = _address()
        self.rec: dict[str, Any] = {"kind": type(self).__name__.lower(), "polls": 0}
        _records.append(self.rec)
        self.registered = Semaphore()

    def headers(self, accept: dict[str, str] = JSON) -> dict[str, str]:
        return {**accept, "x-forwarded-for": self.address}

    # -- the steps --------------------------------------------------------------------

    def arrive(self) -> bool:
        """The first request: the queue page's answer hands out the visitor cookie, and
        the place comes with the next request that brings it back (as a browser does)."""
        with self.client.get(JOIN_PATH, headers=self.headers(), name="arrive",
                             catch_response=True) as r:
            body = _json(r)
            if r.status_code != 200 or body is None or body.get("state") != "none":
                r.failure(f"arrival answered {r.status_code}")
                self.rec["join_error"] = r.status_code
                return False
            return True

    def join(self) -> dict[str, Any] | None:
        """Takes the place; answers the queue JSON, or the site when let in at once."""
        if not self.arrive():
            return None
        self.rec["join_sent"] = time.time()
        with self.client.get(JOIN_PATH, headers=self.headers(), name="join",
                             catch_response=True) as r:
            self.rec["join_done"] = time.time()
            for cookie in self.client.cookiejar:
                if cookie.name == "sluis_visitor":
                    # The public draw ticket of this visitor (the cookie is `id.signature`).
                    self.rec["ticket"] = ticket(cookie.value.rsplit(".", 1)[0])
            body = _json(r)
            if r.status_code != 200 or body is None:
                r.failure(f"join answered {r.status_code}")
                self.rec["join_error"] = r.status_code
                return None
            if "state" not in body:  # forwarded: admitted at once
                self.rec.update(join_state="admitted", admitted_at=self.rec["join_done"])
                self.keep_token()
                return body
            self.rec.update(join_state=body["state"], join_position=body.get("position"),
                            eta=body.get("eta_seconds"), eta_low=body.get("eta_low_seconds"),
                            eta_high=body.get("eta_high_seconds"))
            self.rec["last_waiting_at"] = self.rec["join_sent"]
            return body

    def status(self) -> dict[str, Any] | None:
        sent = time.time()
        with self.client.get(STATUS.format(room=self.room), headers=self.headers(),
                             name="status", catch_response=True) as r:
            seen = time.time()
            body = _json(r)
            if r.status_code != 200 or body is None or "state" not in body:
                r.failure(f"status answered {r.status_code}")
                return None
            self.observe(body, sent, seen)
            return body

    def observe(self, body: dict[str, Any], sent: float, seen: float) -> None:
        # Bounds that hold whatever the network did: still waiting when the question was
        # sent, already admitted when the answer came back.
        self.rec["polls"] += 1
        state = body["state"]
        if state in WAITING:
            self.rec["last_waiting_at"] = max(sent, self.rec.get("last_waiting_at", 0.0))
            if state == "queued" and self.rec.get("drawn_position") is None and \
                    self.rec.get("join_state") == "prequeue":
                self.rec["drawn_position"] = body.get("position")
                self.rec["drawn_seen_at"] = seen
        elif state == "admitted" and "admitted_at" not in self.rec:
            self.rec["admitted_at"] = seen
            self.keep_token()

    def keep_token(self) -> None:
        for cookie in self.client.cookiejar:
            if cookie.name == "sluis_admission" and len(_tokens) < 200:
                _tokens.append(cookie.value)

    def wait_for_turn(self, body: dict[str, Any] | None) -> bool:
        """Ask again as told until admitted. False when the state went away."""
        while "admitted_at" not in self.rec:
            delay = (body or {}).get("poll_after_seconds") or 5
            gevent.sleep(float(delay))
            body = self.status()
            if body is not None and body["state"] in ("none", "closed"):
                self.rec["lost_place_at"] = time.time()
                return False
        return True

    def register(self) -> None:
        if not self.register_after:
            return
        with self.registered:
            if "registration_status" in self.rec:
                return
            self.rec["registration_status"] = "started"
            r = self.client.get(JOIN_PATH, headers=self.headers(), name="api/activities")
            body = _json(r)
            if body is None or "activities" not in body:
                self.rec["registration_status"] = f"no_activities_{r.status_code}"
                return
            options = [(a, s) for a in body["activities"] for s in a["sessions"]
                       if s["available"] > 0]
            random.shuffle(options)
            if self.environment.parsed_options.scarce == "true":
                options = sorted(options, key=lambda o: o[1]["available"])[:3]
                random.shuffle(options)
            if not options:
                self.rec["registration_status"] = "sold_out"
                return
            for activity, session in options[:5]:
                rule = activity["age_rule"]
                year = random.randint(rule["born_from_year"], rule["born_to_year"])
                born = f"{year}-0{random.randint(1, 9)}-1{random.randint(0, 9)}"
                payload = {
                    "session_id": session["id"],
                    "child": {"first_name": _name(), "last_name": _name(),
                              "birth_date": born},
                    "household": {"email": f"{_name().lower()}{random.randint(0, 10**9)}"
                                  "@example.be", "postcode": "9990"},
                    "confirm": True,
                }
                with self.client.post("/api/registrations", json=payload,
                                      headers=self.headers(), name="api/registrations",
                                      catch_response=True) as reg:
                    answer = _json(reg) or {}
                    if reg.status_code == 201:
                        self.rec.update(registration_status=answer.get("status"),
                                        registration_id=answer.get("id"),
                                        session_id=session["id"], registered_at=time.time())
                        return
                    if reg.status_code == 409:
                        reg.success()  # full: a parent tries another session
                        self.rec["full_tries"] = self.rec.get("full_tries", 0) + 1
                        continue
                    reg.failure(f"registration answered {reg.status_code}")
                    self.rec["registration_status"] = f"error_{reg.status_code}"
                    return
            self.rec["registration_status"] = "full"

    def idle(self) -> None:
        """Done: stay as a user (so the shape's count holds) without sending anything."""
        while True:
            gevent.sleep(3600)


class Parent(Visitor):
    weight = 80

    @task
    def opening(self) -> None:
        body = self.join()
        if body is not None and ("admitted_at" in self.rec or self.wait_for_turn(body)):
            self.register()
        self.idle()


class Abandoner(Visitor):
    """Gives up after a while and closes the tab: the place lapses after the grace."""

    weight = 5

    @task
    def opening(self) -> None:
        patience = random.uniform(20, 120)
        body = self.join()
        deadline = time.time() + patience
        while body is not None and "admitted_at" not in self.rec and time.time() < deadline:
            gevent.sleep(float(body.get("poll_after_seconds") or 5))
            body = self.status() or body
        if "admitted_at" in self.rec:
            self.register()
        else:
            self.rec["abandoned_at"] = time.time()
        self.idle()


class Refresher(Visitor):
    """Reloads the page every 2–5 s whatever it is told."""

    weight = 6

    @task
    def opening(self) -> None:
        if self.join() is None:
            self.idle()
        while "admitted_at" not in self.rec:
            gevent.sleep(random.uniform(2, 5))
            sent = time.time()
            with self.client.get("/", headers=self.headers(HTML), name="reload",
                                 catch_response=True) as r:
                seen = time.time()
                if r.status_code != 200:
                    r.failure(f"reload answered {r.status_code}")
                    continue
                self.rec["polls"] += 1
                if any(c.name == "sluis_admission" for c in self.client.cookiejar):
                    self.rec["admitted_at"] = seen
                else:
                    self.rec["last_waiting_at"] = sent
        self.register()
        self.idle()


class TabHoarder(Visitor):
    """Opens several tabs that share one cookie jar: still one place in line."""

    weight = 4
    concurrency = 8

    @task
    def opening(self) -> None:
        body = self.join()
        if body is None:
            self.idle()
        tabs = random.randint(3, 8)
        self.rec["tabs"] = tabs

        def tab() -> None:
            if self.wait_for_turn(body):
                self.register()

        gevent.joinall([gevent.spawn(tab) for _ in range(tabs)])
        self.idle()


class Bot(FastHttpUser):
    """No cookies: mass joins from one address, forged and replayed admission tokens.
    Nothing it sends may reach the booking engine."""

    weight = 5
    wait_time = constant(0.5)
    network_timeout = 30.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        self.address = f"192.0.2.{random.randint(1, 4)}"  # a few addresses, many joins
        _records.append({"kind": "bot"})

    def forged(self, token: str, name: str) -> None:
        self.client.cookiejar.clear()
        headers = {**JSON, "x-forwarded-for": self.address, "cookie": f"sluis_admission={token}"}
        with self.client.get(JOIN_PATH, headers=headers, name=name, catch_response=True) as r:
            body = self.note_place(r)
            # Reaching the engine is fine only on an admission the gateway just issued (an
            # idle room lets a newcomer pass); never on the forged or replayed token itself.
            issued = any(c.name == "sluis_admission" for c in self.client.cookiejar)
            if body is not None and "activities" in body and not issued:
                _breaches.append(f"{name} reached the booking engine")
                r.failure("a forged or replayed token reached the booking engine")
            elif r.status_code in (200, 429):
                r.success()

    def note_place(self, r: Any) -> dict[str, Any] | None:
        """A bot's request without a visitor cookie gets the cookie and no place; should
        one ever get a place it never comes back to, it is recorded, for the simulator's
        comparison (it would hold a slot if admitted in time)."""
        body = _json(r)
        if body is not None and body.get("state") in WAITING:
            _records.append({"kind": "silent", "join_sent": time.time(),
                             "join_state": body["state"]})
        return body

    @task(6)
    def mass_join(self) -> None:
        self.client.cookiejar.clear()
        with self.client.get(JOIN_PATH, headers={**JSON, "x-forwarded-for": self.address},
                             name="bot join", catch_response=True) as r:
            self.note_place(r)
            if r.status_code in (200, 429):
                r.success()  # 429 is the per-address limit doing its work

    @task(2)
    def forged_token(self) -> None:
        self.forged("eyJyIjoiem9tZXJrYW1wZW4ifQ.forged.signature", "bot forged token")

    @task(2)
    def replayed_token(self) -> None:
        if _tokens:
            self.forged(random.choice(_tokens), "bot replayed token")


class Operator(FastHttpUser):
    """Watches the room and changes the rate once, mid-run, through the admin API."""

    fixed_count = 1
    wait_time = constant(5)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        _records.append({"kind": "operator"})
        self.room = options.room
        self.started = options.start_at or time.time()
        token = os.environ.get("SLUIS_ADMIN_TOKEN", "")
        self.auth = {"authorization": f"Bearer {token}", **JSON}
        at, _, rate = options.rate_change.partition(":")
        self.change = (float(at), int(rate)) if rate else None

    @task
    def watch(self) -> None:
        self.client.get(f"/_sluis/admin/api/rooms/{self.room}", headers=self.auth,
                        name="admin room")
        if self.change and time.time() - self.started >= self.change[0]:
            rate = self.change[1]
            self.change = None
            self.client.patch(f"/_sluis/admin/api/rooms/{self.room}", headers=self.auth,
                              json={"rate_per_minute": rate}, name="admin PATCH rate")


class OpeningShape(LoadTestShape):
    """Users started along the opening curve; the run ends when the line had time to drain."""

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        opening = opening_of(options)
        t = time.time() - options.start_at if options.start_at else self.get_run_time()
        if t > opening.duration or (options.stop_at and time.time() >= options.stop_at):
            return None
        if t < 0:
            return 1, 1.0
        # +1: the operator, a fixed user beside the visitors.
        return opening.arrived_by(t) + 1, opening.spawn_rate(t)


def _json(response: Any) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content or b"null")
    except (ValueError, TypeError):
        return None
    return body if isinstance(body, dict) else None
