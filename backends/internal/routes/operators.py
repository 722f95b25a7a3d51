"""Operators' pages: registrations per session, waiting lists, cancel, mark paid, CSV in and out.

An operator is whoever presents the admin token: as `Authorization: Bearer` (scripts)
or through the sign-in form, which leaves a signed session cookie (people).
Cookie-borne form posts carry a CSRF token; bearer requests need none, since
browsers never attach that header by themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from backends.internal import catalogue
from backends.internal.booking import NotFound, WrongState
from backends.internal.context import context_of, path_for
from backends.internal.csv_export import export_csv
from backends.internal.csv_import import ImportFailed, import_csv
from backends.internal.limits import UPLOAD_LIMIT
from backends.internal.routes.render import page, secure, translator
from backends.internal.security import OPERATOR_COOKIE, OPERATOR_MAX_AGE, token_matches
from backends.internal.states import COUNTED, Status

log = logging.getLogger("sluis.internal.operators")


@dataclass(frozen=True, slots=True)
class Operator:
    session_nonce: str | None  # None when signed in by bearer token


def _admin_cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + "/admin"


def operator_of(request: Request) -> Operator | None:
    ctx = context_of(request)
    token = ctx.settings.admin_token
    if token is None:
        return None
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(presented.strip(), token):
        return Operator(None)
    nonce = ctx.signing.operator_from(request.cookies.get(OPERATOR_COOKIE), token)
    return Operator(nonce) if nonce else None


def _unauthorised(request: Request) -> Response:
    ctx = context_of(request)
    _ = translator(request)
    if ctx.settings.admin_token is None:
        message = _("Operator pages are off: set SLUIS_ADMIN_TOKEN to use them.")
        return page(request, "message.html", status=503, title=message, message=message)
    if request.method == "GET" and "authorization" not in request.headers:
        return RedirectResponse(path_for(request, "admin_login"), status_code=303)
    message = _("Sign in with the operator token.")
    return page(
        request,
        "message.html",
        status=401,
        title=message,
        message=message,
        headers={"WWW-Authenticate": 'Bearer realm="sluis"'},
    )


def _form_allowed(request: Request, operator: Operator, form: FormData) -> bool:
    if operator.session_nonce is None:
        return True
    return context_of(request).signing.csrf_ok(operator.session_nonce, str(form.get("csrf", "")))


def _csrf(request: Request, operator: Operator) -> str:
    if operator.session_nonce is None:
        return ""
    return context_of(request).signing.csrf_token(operator.session_nonce)


async def login_form(request: Request) -> Response:
    return page(request, "admin/login.html", error=False)


async def login(request: Request) -> Response:
    # No CSRF token here: signing in needs the token itself, which a forged form lacks.
    ctx = context_of(request)
    async with request.form(max_files=0, max_fields=5) as form:
        presented = str(form.get("token", ""))
    if ctx.settings.admin_token is None or not token_matches(presented, ctx.settings.admin_token):
        log.warning(
            "operator sign-in refused", extra={"client": getattr(request.client, "host", None)}
        )
        return page(request, "admin/login.html", status=401, error=True)
    response = RedirectResponse(path_for(request, "admin_home"), status_code=303)
    response.set_cookie(
        OPERATOR_COOKIE,
        ctx.signing.operator_cookie(ctx.settings.admin_token),
        max_age=OPERATOR_MAX_AGE,
        path=_admin_cookie_path(request),
        secure=secure(request),
        httponly=True,
        samesite="strict",
    )
    log.info("operator signed in")
    return response


async def logout(request: Request) -> Response:
    operator = operator_of(request)
    if operator is None:
        return _unauthorised(request)
    async with request.form(max_files=0, max_fields=5) as form:
        if not _form_allowed(request, operator, form):
            return page(request, "message.html", status=403, title="CSRF", message="CSRF")
    response = RedirectResponse(path_for(request, "admin_login"), status_code=303)
    response.delete_cookie(OPERATOR_COOKIE, path=_admin_cookie_path(request))
    return response


async def home(request: Request) -> Response:
    operator = operator_of(request)
    if operator is None:
        return _unauthorised(request)
    ctx = context_of(request)

    async def load(
        conn: AsyncConnection,
    ) -> tuple[list[catalogue.ActivityView], dict[int, dict[Status, int]], dict[int, int]]:
        return (
            await catalogue.list_activities(conn),
            await catalogue.counts_by_status(conn),
            await catalogue.paid_counts(conn),
        )

    found, counts, paid = await ctx.db.read(load)
    return page(
        request,
        "admin/home.html",
        activities=found,
        counts=counts,
        paid=paid,
        csrf=_csrf(request, operator),
    )


async def session_detail(request: Request, status: int = 200, notice: str = "") -> Response:
    operator = operator_of(request)
    if operator is None:
        return _unauthorised(request)
    ctx = context_of(request)
    session_id = int(request.path_params["session_id"])

    async def load(
        conn: AsyncConnection,
    ) -> tuple[
        tuple[catalogue.ActivityView, catalogue.SessionView] | None,
        list[catalogue.RegistrationView],
    ]:
        return (
            await catalogue.session_with_activity(conn, session_id),
            await catalogue.session_registrations(conn, session_id),
        )

    found, rows = await ctx.db.read(load)
    if found is None:
        message = translator(request)("This session does not exist.")
        return page(request, "message.html", status=404, title=message, message=message)
    activity, session = found
    return page(
        request,
        "admin/session.html",
        status=status,
        notice=notice,
        activity=activity,
        session=session,
        places=[r for r in rows if r.status in COUNTED],
        waiting=[r for r in rows if r.status is Status.WAITLISTED],
        ended=[r for r in rows if r.status in (Status.CANCELLED, Status.EXPIRED)],
        csrf=_csrf(request, operator),
    )


async def _act(request: Request, paid: bool) -> Response:
    operator = operator_of(request)
    if operator is None:
        return _unauthorised(request)
    ctx = context_of(request)
    _ = translator(request)
    async with request.form(max_files=0, max_fields=5) as form:
        allowed = _form_allowed(request, operator, form)
        back = str(form.get("session", ""))
    if not allowed:
        message = _("This form has expired. Please go back and try again.")
        return page(request, "message.html", status=403, title=message, message=message)
    registration_id = request.path_params["registration_id"]
    try:
        if paid:
            await ctx.booking.mark_paid(registration_id, ctx.clock())
        else:
            await ctx.booking.cancel(registration_id, ctx.clock())
    except NotFound:
        message = _("This registration does not exist.")
        return page(request, "message.html", status=404, title=message, message=message)
    except WrongState:
        if back.isdigit():
            request.path_params["session_id"] = back
            return await session_detail(request, 409, _("This is no longer possible."))
        message = _("This is no longer possible.")
        return page(request, "message.html", status=409, title=message, message=message)
    log.info(
        "operator action",
        extra={"registration": registration_id, "action": "paid" if paid else "cancel"},
    )
    if back.isdigit():
        return RedirectResponse(
            path_for(request, "admin_session", session_id=int(back)), status_code=303
        )
    return RedirectResponse(path_for(request, "admin_home"), status_code=303)


async def cancel(request: Request) -> Response:
    return await _act(request, paid=False)


async def mark_paid(request: Request) -> Response:
    return await _act(request, paid=True)


async def export(request: Request) -> Response:
    operator = operator_of(request)
    if operator is None:
        return _unauthorised(request)
    ctx = context_of(request)
    session_text = request.query_params.get("session", "")
    session_id = int(session_text) if session_text.isdigit() else None
    rows = await ctx.db.read(lambda conn: catalogue.session_registrations(conn, session_id))
    name = f"registrations-{session_id}.csv" if session_id else "registrations.csv"
    return Response(
        export_csv(rows, ctx.settings.timezone),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def import_form(request: Request) -> Response:
    operator = operator_of(request)
    if operator is None:
        return _unauthorised(request)
    return page(request, "admin/import.html", csrf=_csrf(request, operator), errors=[], result=None)


async def import_upload(request: Request) -> Response:
    operator = operator_of(request)
    if operator is None:
        return _unauthorised(request)
    ctx = context_of(request)
    _ = translator(request)
    async with request.form(max_files=1, max_fields=5, max_part_size=UPLOAD_LIMIT) as form:
        allowed = _form_allowed(request, operator, form)
        upload = form.get("file")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
    if not allowed:
        message = _("This form has expired. Please go back and try again.")
        return page(request, "message.html", status=403, title=message, message=message)
    now = ctx.clock()
    try:
        result = await ctx.db.write(lambda conn: import_csv(conn, data, ctx.settings.timezone, now))
    except ImportFailed as exc:
        return page(
            request,
            "admin/import.html",
            status=422,
            csrf=_csrf(request, operator),
            errors=[str(e) for e in exc.errors],
            result=None,
        )
    log.info(
        "programme imported",
        extra={"activities": result.activities_created, "sessions": result.sessions_created},
    )
    return page(
        request, "admin/import.html", csrf=_csrf(request, operator), errors=[], result=result
    )
