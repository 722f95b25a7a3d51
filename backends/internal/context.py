"""What every request handler needs, built once in the lifespan and kept on the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from backends.internal.booking import Booking
from backends.internal.db import Database
from backends.internal.i18n import Catalogs
from backends.internal.security import Signing
from backends.internal.settings import InternalSettings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Context:
    settings: InternalSettings
    db: Database
    booking: Booking
    templates: Jinja2Templates
    catalogs: Catalogs
    signing: Signing
    clock: Clock

    def local_date(self, moment: datetime) -> date:
        """The date in the city, which is what birth dates and "today" mean there."""
        return moment.astimezone(ZoneInfo(self.settings.timezone)).date()


def context_of(request: Request) -> Context:
    ctx = getattr(request.app.state, "booking_context", None)
    if not isinstance(ctx, Context):
        raise RuntimeError(
            "the booking engine has not started: run its lifespan "
            "(app.router.lifespan_context(app)) before serving requests"
        )
    return ctx


def path_for(request: Request, name: str, /, **params: object) -> str:
    """A URL path for one of the engine's own routes, right under whatever prefix it is mounted.

    `request.url_for` would ask the outermost router, which does not know these names
    when the gateway mounts the engine inside its own app.
    """
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return root + str(request.app.router.url_path_for(name, **params))
