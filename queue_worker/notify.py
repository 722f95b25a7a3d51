"""The leading worker's part of e-mail to parents near the front: every few seconds it
works out how far back "near" reaches (gateway/notify.py: due_position), lets the
store take the due sign-ups out and keep the other places (lua/notify_pass.lua), and
hands the messages to the mailer, which sends them beside the tick."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from gateway.notify import Signup, due_position
from gateway.rooms import RoomConfig
from gateway.store import RoomView, Store
from gateway.store.notify_store import NotifyStore
from queue_worker.mailer import Mailer

log = logging.getLogger("sluis.worker")

# Seconds between passes; a place is kept well within any grace period (30 s at least).
PASS_SECONDS = 2.0
# Visitors who signed up, looked at per pass; a longer list is walked a stretch a pass.
PER_PASS = 1000


@dataclass
class Notifier:
    room: RoomConfig
    mailer: Mailer
    pass_seconds: float = PASS_SECONDS
    _next_at: float = 0.0
    _cursor: int = 0
    _notices: NotifyStore | None = field(default=None, repr=False)

    async def after_tick(self, store: Store, worker: str, view: RoomView,
                         measured: tuple[float, float, float] | None) -> int:
        """One pass when one is due; the number of messages handed to the mailer."""
        now = time.monotonic()
        if now < self._next_at:
            return 0
        self._next_at = now + self.pass_seconds
        if self._notices is None or self._notices.store is not store:
            self._notices = NotifyStore(store)
        name = self.room.name
        visitors = await self._notices.watched(name, self._cursor, PER_PASS)
        if not visitors and self._cursor:
            self._cursor = 0
            visitors = await self._notices.watched(name, 0, PER_PASS)
        result = await self._notices.run_pass(
            name, worker, visitors, due_position=self.due(view, measured),
            hold_ms=self.room.notify.hold_ms, per_minute=self.room.notify.per_minute)
        self._cursor = (self._cursor + len(visitors) - result.ended
                        if len(visitors) == PER_PASS else 0)
        now_s = view.now_ms // 1000
        for due in result.due:
            signup = Signup.decode(due.signup)
            if signup is None:
                continue
            self.mailer.submit(name, self.mailer.letters.write(self.room, due.visitor, signup,
                                                              due.turn, now_s))
        if result.due or result.ended or result.cleared:
            log.debug("notify pass", extra={"room": name, "due": len(result.due),
                                            "ended": result.ended, "kept": result.kept})
        return len(result.due)

    def due(self, view: RoomView, measured: tuple[float, float, float] | None) -> int:
        """The last position near enough for its message; 0 while nothing moves (paused,
        held by the breaker or sold out, before the opening)."""
        s = view.settings
        if s.paused or view.breaker_open or view.sold_out or s.opens_at_ms > view.now_ms:
            return 0
        mean, low, high = measured if measured else (None, None, None)
        return due_position(self.room.notify.minutes * 60, view.queued + view.prequeued,
                            s.rate_per_minute, mean, low, high, s.max_active,
                            s.session_seconds)
