"""The booking engine as an ASGI app: routes, middleware order and the lifespan.

The lifespan builds the engine, migrates, optionally loads the demo, and starts
the sweeper. Mounted inside another app, run its lifespan from the host's:
``async with app.router.lifespan_context(app): ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from backends.admission import AdmissionCodec
from backends.internal.admission import AdmissionGate
from backends.internal.booking import Booking, Policy
from backends.internal.context import Clock, Context, utc_now
from backends.internal.db import Database, make_engine
from backends.internal.demo import load_demo_data
from backends.internal.i18n import Catalogs
from backends.internal.limits import BodyLimit
from backends.internal.migrate import upgrade
from backends.internal.routes import api, health, operators, parents
from backends.internal.security import Signing
from backends.internal.settings import InternalSettings
from backends.internal.sweeper import sweep_forever

log = logging.getLogger("sluis.internal.app")

HERE = Path(__file__).parent


def _routes() -> list[Route | Mount]:
    return [
        Route("/", parents.home, name="home"),
        Route("/sessions/{session_id:int}", parents.session_form, name="session"),
        Route(
            "/sessions/{session_id:int}",
            parents.session_register,
            methods=["POST"],
            name="session_register",
        ),
        Route("/basket", parents.basket_page, name="basket"),
        Route("/basket/remove", parents.basket_remove, methods=["POST"], name="basket_remove"),
        Route("/basket/checkout", parents.checkout, methods=["POST"], name="checkout"),
        Route("/basket/done", parents.done, name="done"),
        Route("/registrations/{registration_id}", parents.registration_page, name="registration"),
        Route(
            "/registrations/{registration_id}/accept",
            parents.accept_offer,
            methods=["POST"],
            name="accept_offer",
        ),
        Route(
            "/registrations/{registration_id}/cancel",
            parents.cancel_registration,
            methods=["POST"],
            name="cancel_registration",
        ),
        Route("/api/activities", api.list_activities, name="api_activities"),
        Route(
            "/api/registrations",
            api.create_registration,
            methods=["POST"],
            name="api_create_registration",
        ),
        Route(
            "/api/registrations/{registration_id}",
            api.get_registration,
            name="api_registration",
        ),
        Route(
            "/api/registrations/{registration_id}/confirm",
            api.confirm_registration,
            methods=["POST"],
            name="api_confirm_registration",
        ),
        Route(
            "/api/registrations/{registration_id}/cancel",
            api.cancel_registration,
            methods=["POST"],
            name="api_cancel_registration",
        ),
        Route("/healthz", health.healthz, name="healthz"),
        # Operators' routes stay flat (no Mount) so one root path serves every URL.
        Route("/admin/", operators.home, name="admin_home"),
        Route("/admin/login", operators.login_form, name="admin_login"),
        Route("/admin/login", operators.login, methods=["POST"], name="admin_login_post"),
        Route("/admin/logout", operators.logout, methods=["POST"], name="admin_logout"),
        Route("/admin/sessions/{session_id:int}", operators.session_detail, name="admin_session"),
        Route(
            "/admin/registrations/{registration_id}/cancel",
            operators.cancel,
            methods=["POST"],
            name="admin_cancel",
        ),
        Route(
            "/admin/registrations/{registration_id}/paid",
            operators.mark_paid,
            methods=["POST"],
            name="admin_paid",
        ),
        Route("/admin/export.csv", operators.export, name="admin_export"),
        Route("/admin/import", operators.import_form, name="admin_import"),
        Route("/admin/import", operators.import_upload, methods=["POST"], name="admin_import_post"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def create_app(settings: InternalSettings, *, clock: Clock = utc_now) -> Starlette:
    """The engine's app. `clock` exists so tests can move time; production keeps the default."""
    templates = Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )
    catalogs = Catalogs()
    signing = Signing(settings.secret_keys)
    codec = AdmissionCodec(settings.secret_keys) if settings.require_admission else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, settings.pool_size)
        sweeper: asyncio.Task[None] | None = None
        try:
            await upgrade(engine)
            if settings.demo_data:
                await load_demo_data(engine)
            db = Database(engine)
            booking = Booking(
                db,
                Policy(
                    hold_for=timedelta(minutes=settings.hold_minutes),
                    offer_for=timedelta(hours=settings.offer_hours),
                    resident_postcodes=settings.resident_postcodes,
                ),
            )
            app.state.booking_context = Context(
                settings=settings,
                db=db,
                booking=booking,
                templates=templates,
                catalogs=catalogs,
                signing=signing,
                clock=clock,
            )
            sweeper = asyncio.create_task(
                sweep_forever(booking, clock, settings.sweep_seconds), name="sluis-sweeper"
            )
            log.info(
                "booking engine started",
                extra={"database": engine.dialect.name, "admission": codec is not None},
            )
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await engine.dispose()

    return Starlette(
        routes=_routes(),
        middleware=[Middleware(BodyLimit), Middleware(AdmissionGate, codec=codec)],
        lifespan=lifespan,
    )
