"""The background task that releases lapsed holds and offers, so places return on their own."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from backends.internal.booking import Booking
from backends.internal.context import Clock

log = logging.getLogger("sluis.internal.sweeper")


async def sweep_forever(booking: Booking, clock: Clock, every_seconds: float) -> None:
    """Runs until cancelled; a failed round is logged and tried again next time."""
    while True:
        try:
            await booking.release_expired(clock())
        except (SQLAlchemyError, OSError) as exc:
            log.warning("sweep failed", extra={"error": str(exc)})
        await asyncio.sleep(every_seconds)
