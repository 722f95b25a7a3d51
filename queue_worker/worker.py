"""The admission worker: one leads each room through a lease; each tick it admits
by the policy, publishes the draw at opening and sweeps out the departed.

Several workers may run; one holds each room's lease and renews it every tick.
When it dies, the lease lapses and another worker leads within LEASE_MS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field

from gateway import lottery
from gateway.eta import turnover_summary
from gateway.rooms import RoomConfig
from gateway.store import NotLeader, RoomView, Store, StoreUnavailable
from queue_worker.breaker import decide, health
from queue_worker.inventory import Poller
from queue_worker.mailer import Mailer
from queue_worker.notify import Notifier
from queue_worker.observe import SAMPLE_SECONDS, Observer
from queue_worker.policy import plan
from queue_worker.rates import MeasuredRate

log = logging.getLogger("sluis.worker")

LEASE_MS = 3000
TURNOVER_EVERY_MS = 1000
SWEEP_PER_TICK = 2000


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class RoomTicker:
    room: RoomConfig
    rate: MeasuredRate = field(default_factory=MeasuredRate)
    sweep_at: int = 0
    last_plan_ms: int | None = None
    defined: bool = False
    observer: Observer | None = None
    inventory: Poller | None = None
    turnover_at_ms: int = 0
    turnover_active: int = -1
    notifier: Notifier | None = None


class Worker:
    def __init__(self, store: Store, rooms: tuple[RoomConfig, ...], tick_seconds: float = 0.5,
                 worker_id: str | None = None, sample_seconds: float = SAMPLE_SECONDS,
                 database_url: str | None = None, mailer: Mailer | None = None) -> None:
        self.store = store
        self.tick_seconds = tick_seconds
        self.id = worker_id or new_worker_id()
        # database_url: the internal booking engine's, for rooms whose inventory it is.
        self.rooms = {r.name: RoomTicker(r, observer=Observer(r, sample_seconds),
                                         inventory=Poller(r.name, r.inventory, database_url)
                                         if r.inventory and r.inventory.polled else None)
                      for r in rooms}
        # E-mail to parents near the front, in the rooms that offer it (notify.py).
        self.mailer = mailer
        for ticker in self.rooms.values():
            if mailer is not None and ticker.room.notify.by_email:
                ticker.notifier = Notifier(ticker.room, mailer)
        self.leading: set[str] = set()
        self.admitted_total = 0

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"worker": self.id, "rooms": list(self.rooms)})
        if self.mailer is not None:
            self.mailer.start()
        while not stop.is_set():
            started = time.monotonic()
            await self.tick()
            delay = max(0.0, self.tick_seconds - (time.monotonic() - started))
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
        await self.release()
        for ticker in self.rooms.values():
            if ticker.inventory is not None:
                await ticker.inventory.close()
        if self.mailer is not None:
            await self.mailer.close()
        log.info("worker stopped", extra={"worker": self.id})

    async def tick(self) -> None:
        for name, ticker in self.rooms.items():
            try:
                if not ticker.defined:
                    # Settings an operator changed are kept; only missing ones are written.
                    await self.store.define_room(ticker.room, lottery.new_seed())
                    ticker.defined = True
                if await self.store.lead(name, self.id, LEASE_MS):
                    if name not in self.leading:
                        log.info("leading room", extra={"room": name, "worker": self.id})
                        self.leading.add(name)
                        ticker.last_plan_ms = None
                    await self.tick_room(ticker)
                else:
                    self.leading.discard(name)
            except StoreUnavailable as exc:
                log.warning("redis unavailable", extra={"room": name, "error": str(exc)})
            except NotLeader as exc:
                log.info("skipped a tick", extra={"room": name, "reason": str(exc)})

    async def tick_room(self, ticker: RoomTicker) -> int:
        name = ticker.room.name
        view = await self.store.view(name)
        s = view.settings
        opened = s.opens_at_ms <= view.now_ms
        if s.opens_at_ms and opened:
            drawn = await self.store.draw(name)
            if drawn >= 0:
                log.info("pre-queue drawn and published", extra={"room": name, "count": drawn})
        await self.check_inventory(ticker)
        held = await self.check_breaker(ticker, view)
        waiting = view.queued + view.prequeued
        credit_at = int(view.credit_at) if view.credit_at else None
        p = plan(now_ms=view.now_ms, credit=view.credit, credit_at_ms=credit_at,
                 rate_per_minute=s.rate_per_minute, max_active=s.max_active, active=view.active,
                 waiting=waiting, paused=s.paused or held, open_=opened)
        # A few more candidates than places, for those who left and are dropped on the way.
        candidates = (await self.store.head(name, p.want + max(10, p.want // 2))
                      if p.want else [])
        result = await self.store.admit(
            name, self.id, candidates, want=p.want, credit=p.credit, cap=p.cap,
            expected_at=view.credit_at, plan_at=view.now_ms, measured=ticker.rate.per_minute())
        admitted = len(result.admitted)
        if credit_at is not None:
            ticker.rate.record(view.now_ms, view.now_ms - credit_at, admitted,
                               saturated=waiting > admitted and not s.paused and not held
                               and opened)
        self.admitted_total += admitted
        stretch = await self.store.stretch(name, ticker.sweep_at, SWEEP_PER_TICK)
        removed, _ = await self.store.expire(name, stretch)
        # Walk on from where this stretch ended (ranks shift by what was removed);
        # start over at the front once the end of the line was reached.
        ticker.sweep_at = (ticker.sweep_at + len(stretch) - removed
                           if len(stretch) == SWEEP_PER_TICK else 0)
        await self.sum_up_sessions(ticker, view, waiting)
        if ticker.observer is not None:
            # The dashboard's samples and adaptive admission, each at its own pace.
            await ticker.observer.after_tick(self.store, self.id, view, waiting=waiting,
                                             measured=ticker.rate.per_minute())
        if ticker.notifier is not None:
            await ticker.notifier.after_tick(self.store, self.id, view, ticker.rate.per_minute())
        if admitted or removed or result.stale_dropped:
            log.debug("tick", extra={"room": name, "admitted": admitted,
                                     "stale": removed + result.stale_dropped})
        return admitted

    async def sum_up_sessions(self, ticker: RoomTicker, view: RoomView, waiting: int) -> None:
        """While people wait, once a second and whenever the number of live sessions
        changed: their summary, from which the status answers estimate a turn that needs
        a session to end (gateway/eta.py)."""
        fresh = view.now_ms - ticker.turnover_at_ms < TURNOVER_EVERY_MS
        if not waiting or (fresh and view.active == ticker.turnover_active):
            return
        ticker.turnover_at_ms, ticker.turnover_active = view.now_ms, view.active
        name = ticker.room.name
        starts = await self.store.session_starts(name)
        await self.store.set_turnover(name, turnover_summary(starts, view.mean_session_seconds))

    async def check_inventory(self, ticker: RoomTicker) -> None:
        """Record the figure of a finished fetch of the room's places left, and start the
        next fetch when one is due (fetches run beside the tick, never inside it). The
        admit script itself holds admissions while the figure is 0."""
        poller = ticker.inventory
        if poller is None:
            return
        left = poller.take()
        if left is not None:
            name = ticker.room.name
            if await self.store.set_inventory(name, left, poller.config.source,
                                              hold_ms=poller.config.hold_ms, worker=self.id):
                log.warning("sold out: admissions stop" if left <= 0
                            else "places are back: admissions resume",
                            extra={"room": name, "places_left": left})
        poller.poll()

    async def check_breaker(self, ticker: RoomTicker, view: RoomView) -> bool:
        """Open or close the room's backend breaker from the last window of answers;
        True while it holds admissions."""
        bounds = ticker.room.backend.breaker
        if not bounds.enabled and not view.breaker_open:
            return False
        name = ticker.room.name
        # The current second is still being counted: the window ends at the last whole one.
        totals = await self.store.health(name, view.now_ms // 1000 - 1, bounds.window_seconds)
        d = decide(is_open=view.breaker_open, open_since_ms=view.breaker_since_ms,
                   now_ms=view.now_ms, window=health(totals), bounds=bounds)
        if d.changed and await self.store.set_breaker(name, self.id, d.open, d.reason):
            if d.open:
                log.warning("backend breaker opened: admissions paused",
                            extra={"room": name, "reason": d.reason})
            else:
                log.info("backend breaker closed: admissions resume",
                         extra={"room": name, "reason": d.reason})
        return d.open

    async def release(self) -> None:
        for name in list(self.leading):
            try:
                await self.store.lead(name, self.id, 0)
            except StoreUnavailable:
                pass
        self.leading.clear()
