"""Parents as browsers: each keeps its cookies, asks the queue page for JSON and asks
again when the answer says to, and once let in reads the event, opens the order form
and sends it with the form's CSRF token and the `Origin` and `Referer` a browser
sends, then follows the redirect to the confirmation. One process, asyncio + httpx.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.surge_shop.stack import ADMIN_TOKEN, ROOM, Plan

THANKS = "Thank you for your order"
SOLD_OUT = "Sold out"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
QUEUE_PAGE = 'id="sluis"'  # the gateway's own pages (queue, busy, unavailable)
BROWSER = {
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0 Safari/537.36",
    "accept-language": "en-GB,en;q=0.9,nl;q=0.8",
}
PAGE = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"accept": "application/json"}
POST_TRIES = 3


@dataclass
class Parent:
    index: int
    arrive_after: float
    arrived_at: float | None = None
    queued_at: float | None = None      # the first answer that showed a place in line
    admitted_at: float | None = None    # the first answer from the shop
    ordered_at: float | None = None
    order_path: str | None = None
    confirmed: bool = False             # the confirmation page said thank you
    sold_out_at: float | None = None    # first told "sold out" (status or shop page)
    sold_out_by: str | None = None      # "status" | "shop"
    outcome: str = "waiting"            # ordered | sold_out | closed | failed | waiting
    last_state: str | None = None
    waiting_list: Any = None            # what the status offered when sold out
    polls: int = 0
    forbidden: int = 0                  # 403 answers seen
    server_errors: int = 0              # 5xx answers seen
    transport_errors: int = 0
    sent_back: int = 0                  # in the shop, then the queue page again
    places_lost: int = 0                # a held place forgotten by the gateway

    @property
    def done(self) -> bool:
        return self.outcome != "waiting"


@dataclass
class Sample:
    t: float
    room: dict[str, Any]


@dataclass
class Surge:
    plan: Plan
    parents: list[Parent]
    samples: list[Sample]
    started_at: float
    ended_at: float
    stalled: bool
    requests: int
    final_status: dict[int, dict[str, Any]] = field(default_factory=dict)


class Crowd:
    def __init__(self, base_url: str, plan: Plan) -> None:
        self.base_url = base_url
        self.plan = plan
        self.parents = [Parent(i, plan.arrive_over_seconds * i / max(1, plan.parents - 1))
                        for i in range(plan.parents)]
        self.rng = random.Random(plan.seed)
        self.requests = 0
        self.last_progress = time.time()
        self.samples: list[Sample] = []

    def progressed(self) -> None:
        """A parent has an order, or was told the room is sold out or closed. Admissions
        and failures are not progress: parents let in to a shop that refuses them would
        keep a run going for as long as the line."""
        self.last_progress = time.time()

    @property
    def stall_seconds(self) -> float:
        """Long enough for a slot to come free by itself (idle or session timeout) and
        the next parent to finish, however slow the machine."""
        plan = self.plan
        session = min(plan.idle_seconds, plan.session_seconds) if plan.idle_seconds \
            else plan.session_seconds
        return max(plan.stall_seconds, 2 * session, plan.arrive_over_seconds + 10)

    async def request(self, client: httpx.AsyncClient, p: Parent, method: str, url: str,
                      **kwargs: Any) -> httpx.Response | None:
        self.requests += 1
        try:
            r = await client.request(method, url, **kwargs)
        except httpx.HTTPError:
            p.transport_errors += 1
            return None
        if r.status_code == 403:
            p.forbidden += 1
        elif r.status_code >= 500:
            p.server_errors += 1
        return r

    async def think(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.plan.think_seconds))

    def told_sold_out(self, p: Parent, by: str, body: dict[str, Any] | None = None) -> None:
        p.sold_out_at = time.time()
        p.sold_out_by = by
        p.outcome = "sold_out"
        if body is not None:
            p.waiting_list = body.get("waiting_list")
        self.progressed()

    # -- in line ------------------------------------------------------------------

    async def parent(self, p: Parent, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(p.arrive_after)
        p.arrived_at = time.time()
        held = False
        wait = 0.0
        while not p.done:
            await asyncio.sleep(wait)
            r = await self.request(client, p, "GET", "/", headers=JSON)
            p.polls += 1
            if r is None:
                wait = 1.0
                continue
            if r.status_code != 200:  # 429, a calm 503: the answer says when to ask again
                wait = float(_json(r).get("poll_after_seconds") or 2)
                continue
            body = _json(r)
            if "state" not in body or "room" not in body:
                # Not the gateway's answer: the shop's first page. It is our turn.
                if p.admitted_at is None:
                    p.admitted_at = time.time()
                await self.shop(p, client, r)
                wait = 0.0
                continue
            state = str(body["state"])
            p.last_state = state
            if state == "sold_out":
                self.told_sold_out(p, "status", body)
                return
            if state == "closed":
                p.outcome = "closed"
                self.progressed()
                return
            if state in ("queued", "paused", "prequeue", "admitted"):
                if p.queued_at is None:
                    p.queued_at = time.time()
                held = True
            elif state == "none" and held:
                p.places_lost += 1
                held = False
            # As the queue page does: never sooner than a second.
            wait = 0.0 if state == "admitted" else max(1.0, float(body.get(
                "poll_after_seconds") or 5))

    # -- in the shop --------------------------------------------------------------

    async def shop(self, p: Parent, client: httpx.AsyncClient, first: httpx.Response) -> None:
        """From the event page to an order or "sold out"; returns with `p.outcome`
        still "waiting" when the gateway sent the parent back to the line."""
        if SOLD_OUT in first.text:
            self.told_sold_out(p, "shop")
            return
        for _ in range(POST_TRIES):
            await self.think()
            form = await self.request(client, p, "GET", "/buy", headers={
                **PAGE, "referer": self.base_url + "/"})
            if form is None or form.status_code >= 500:
                await asyncio.sleep(1.0)
                continue
            if QUEUE_PAGE in form.text:
                p.sent_back += 1
                return
            if SOLD_OUT in form.text:
                self.told_sold_out(p, "shop")
                return
            token = CSRF_FIELD.search(form.text)
            if token is None:
                await asyncio.sleep(1.0)
                continue
            await self.think()
            answer = await self.request(client, p, "POST", "/buy", headers={
                **PAGE, "origin": self.base_url, "referer": self.base_url + "/buy"},
                data={"csrfmiddlewaretoken": token.group(1), "name": f"Parent {p.index}",
                      "email": f"parent{p.index}@example.org"})
            if answer is None or answer.status_code == 403 or answer.status_code >= 500:
                await asyncio.sleep(1.0)
                continue
            if answer.is_redirect:
                # The place is taken: the confirmation page is the shop's thanks for it.
                where = answer.headers["location"]
                done = await self.request(client, p, "GET", where, headers={
                    **PAGE, "referer": self.base_url + "/buy"})
                p.confirmed = done is not None and THANKS in done.text
                p.order_path = httpx.URL(where).path
                p.ordered_at = time.time()
                p.outcome = "ordered"
                self.progressed()
                return
            if QUEUE_PAGE in answer.text:
                p.sent_back += 1
                return
            if SOLD_OUT in answer.text:
                self.told_sold_out(p, "shop")
                return
        # Not progress: a shop that refuses everyone would otherwise keep the run going.
        p.outcome = "failed"

    # -- the run ------------------------------------------------------------------

    async def sample(self, client: httpx.AsyncClient, halt: asyncio.Event) -> None:
        """The room from the admin API twice a second."""
        headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        while not halt.is_set():
            try:
                r = await client.get(f"/_sluis/admin/api/rooms/{ROOM}", headers=headers)
                if r.status_code == 200:
                    self.samples.append(Sample(time.time(), r.json()))
            except httpx.HTTPError:
                pass
            try:
                await asyncio.wait_for(halt.wait(), 0.5)
            except TimeoutError:
                pass

    async def run(self) -> Surge:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
        transport = httpx.AsyncHTTPTransport(limits=limits)
        clients = [httpx.AsyncClient(base_url=self.base_url, transport=transport,
                                     headers=BROWSER, timeout=30.0, trust_env=False)
                   for _ in self.parents]
        admin = httpx.AsyncClient(base_url=self.base_url, timeout=10.0, trust_env=False)
        halt = asyncio.Event()
        started = time.time()
        self.last_progress = started
        sampler = asyncio.create_task(self.sample(admin, halt))
        tasks = [asyncio.create_task(self.parent(p, c)) for p, c in zip(self.parents, clients,
                                                                        strict=True)]
        stalled = False
        while not all(t.done() for t in tasks):
            if time.time() - self.last_progress > self.stall_seconds:
                stalled = True
                break
            await asyncio.sleep(0.2)
        ended = time.time()
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        crashed = [r for r in results if isinstance(r, Exception)
                   and not isinstance(r, asyncio.CancelledError)]
        if crashed:
            raise crashed[0]
        final: dict[int, dict[str, Any]] = {}
        for p, c in zip(self.parents, clients, strict=True):
            if not p.done:
                try:
                    r = await c.get(f"/_sluis/status?room={ROOM}", headers=JSON)
                    final[p.index] = _json(r)
                except httpx.HTTPError:
                    final[p.index] = {}
        halt.set()
        await sampler
        for c in clients:
            await c.aclose()
        await admin.aclose()
        await transport.aclose()
        return Surge(self.plan, self.parents, self.samples, started, ended, stalled,
                     self.requests, final)


def _json(r: httpx.Response) -> dict[str, Any]:
    if "application/json" not in r.headers.get("content-type", ""):
        return {}
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def run_crowd(base_url: str, plan: Plan) -> Surge:
    return await Crowd(base_url, plan).run()
