"""What the leading worker records beside admitting: the dashboard's samples of each
room's figures, and adaptive admission's decisions (audited like an operator's)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway import lottery
from gateway.rooms import RoomConfig
from gateway.store import RoomView, Store
from queue_worker.adaptive import decide
from queue_worker.breaker import Health, health

log = logging.getLogger("sluis.worker")

SAMPLE_SECONDS = 10.0
HEALTH_WINDOW_SECONDS = 10
ADAPTIVE_ACTOR = "adaptive"


@dataclass
class Observer:
    room: RoomConfig
    sample_seconds: float = SAMPLE_SECONDS
    sample_at_ms: int = 0
    adapt_at_ms: int = 0
    last_decision: str = ""

    async def after_tick(self, store: Store, worker: str, view: RoomView, *, waiting: int,
                         measured: tuple[float, float, float] | None) -> None:
        now = view.now_ms
        bounds = self.room.adaptive
        due_sample = now >= self.sample_at_ms
        due_adapt = bounds.enabled and now >= self.adapt_at_ms
        if not (due_sample or due_adapt):
            return
        name = self.room.name
        last_second = now // 1000 - 1  # the current second is still being counted
        rate = view.settings.rate_per_minute
        if due_adapt:
            self.adapt_at_ms = now + bounds.interval_seconds * 1000
            window = health(await store.health(name, last_second, bounds.interval_seconds))
            step = decide(rate, window, bounds, waiting=waiting > 0)
            if step is not None:
                actor = f"{ADAPTIVE_ACTOR}: {step.reason}"
                await store.change_room(name, {"rate_per_minute": str(step.rate)}, actor,
                                        lottery.new_seed())
                log.info("adaptive rate", extra={"room": name, "old": rate, "new": step.rate,
                                                 "reason": step.reason})
                self.last_decision = f"{rate} -> {step.rate}: {step.reason}"
                rate = step.rate
        if due_sample:
            self.sample_at_ms = now + int(self.sample_seconds * 1000)
            h = health(await store.health(name, last_second, HEALTH_WINDOW_SECONDS))
            await store.record_sample(name, worker, sample_of(view, rate, h, measured,
                                                              self.last_decision))


def sample_of(view: RoomView, rate: int, h: Health,
              measured: tuple[float, float, float] | None, decision: str) -> dict[str, Any]:
    s = view.settings
    return {
        "waiting": view.queued + view.prequeued,
        "queued": view.queued,
        "prequeued": view.prequeued,
        "active": view.active,
        "admitted_total": view.counters.get("admitted_total", 0),
        "rate": rate,
        "measured": round(measured[0], 2) if measured else None,
        "p95_ms": h.p95_ms,
        "error_rate": round(h.error_rate, 4),
        "answers": h.requests,
        "breaker": view.breaker_open,
        "paused": s.paused,
        "adaptive": decision,
    }
