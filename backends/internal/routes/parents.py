"""Parents' pages: the programme for a child's age, a session's form, the basket, checkout."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from backends.internal import catalogue
from backends.internal.booking import Full, NotFound, WrongState
from backends.internal.catalogue import RegistrationView
from backends.internal.context import context_of, path_for
from backends.internal.i18n import Translate
from backends.internal.routes.render import cookie_path, page, secure, translator
from backends.internal.security import BASKET_COOKIE, BASKET_MAX_AGE, new_basket_id
from backends.internal.states import Status
from backends.internal.validation import Invalid, Reason, parse_registration

FORM_FIELDS = ("first_name", "last_name", "birth_date", "email", "postcode")


def _basket(request: Request) -> str | None:
    return context_of(request).signing.basket_from(request.cookies.get(BASKET_COOKIE))


def _keep_basket(request: Request, response: Response, basket: str) -> None:
    response.set_cookie(
        BASKET_COOKIE,
        context_of(request).signing.basket_cookie(basket),
        max_age=BASKET_MAX_AGE,
        path=cookie_path(request),
        secure=secure(request),
        httponly=True,
        samesite="lax",
    )


def _see_other(request: Request, name: str, **params: Any) -> RedirectResponse:
    return RedirectResponse(path_for(request, name, **params), status_code=303)


def _refused(request: Request, status: int, message: str) -> Response:
    return page(request, "message.html", status=status, title=message, message=message)


async def _form(request: Request) -> FormData:
    async with request.form(max_files=0, max_fields=20) as form:
        return form


def reason_text(_: Translate, reason: Reason) -> str:
    texts = {
        "required": _("Please fill this in."),
        "too_long": _("This is too long."),
        "invalid_characters": _("Use letters, spaces, apostrophes and hyphens only."),
        "bad_format": _("Give the date as day, month and year."),
        "impossible_date": _("This date does not exist."),
        "in_future": _("A birth date cannot be in the future."),
        "implausible": _("This is not a child's birth date."),
        "age": _("This activity is not for a child born in this year."),
        "not_open": _("Registrations are not open yet."),
        "closed": _("Registrations are closed."),
        "already_registered": _("This child is already registered for this session."),
        "unknown_session": _("This session does not exist."),
    }
    if reason.code == "invalid" and reason.field.endswith("email"):
        return _("This is not an e-mail address.")
    if reason.code == "invalid" and reason.field.endswith("postcode"):
        return _("This is not a postcode. A Belgian postcode has four digits, for example 9000.")
    return texts.get(reason.code, _("Please check this."))


async def home(request: Request) -> Response:
    ctx = context_of(request)
    born_text = request.query_params.get("born", "")
    born = int(born_text) if born_text.isdigit() and len(born_text) == 4 else None
    kind = request.query_params.get("kind")
    kind = kind if kind in ("camp", "swim") else None
    found = await ctx.db.read(
        lambda conn: catalogue.list_activities(conn, born_year=born, kind=kind)
    )
    this_year = ctx.local_date(ctx.clock()).year
    return page(
        request,
        "home.html",
        activities=found,
        born=born,
        kind=kind,
        birth_years=list(range(this_year, this_year - 19, -1)),
        now=ctx.clock(),
    )


async def _session_page(
    request: Request,
    *,
    basket: str,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    general: list[str] | None = None,
    full: bool = False,
) -> Response:
    ctx = context_of(request)
    session_id = int(request.path_params["session_id"])
    found = await ctx.db.read(lambda conn: catalogue.session_with_activity(conn, session_id))
    if found is None:
        return _refused(request, 404, translator(request)("This session does not exist."))
    activity, session = found
    if values is None:
        # Fill in the household from the basket's last registration: one less thing to type.
        earlier = await ctx.db.read(lambda conn: catalogue.basket_registrations(conn, basket))
        values = {"email": earlier[-1].email, "postcode": earlier[-1].postcode} if earlier else {}
    response = page(
        request,
        "session.html",
        status=status,
        activity=activity,
        session=session,
        values=values,
        errors=errors or {},
        general=general or [],
        just_full=full,
        csrf=ctx.signing.csrf_token(basket),
        hold_minutes=ctx.settings.hold_minutes,
        resident_postcodes=sorted(ctx.settings.resident_postcodes),
    )
    return response


async def session_form(request: Request) -> Response:
    basket = _basket(request) or new_basket_id()
    response = await _session_page(request, basket=basket)
    _keep_basket(request, response, basket)
    return response


async def session_register(request: Request) -> Response:
    ctx = context_of(request)
    _ = translator(request)
    basket = _basket(request)
    form = await _form(request)
    if not ctx.signing.csrf_ok(basket, str(form.get("csrf", ""))):
        return _refused(request, 403, _("This form has expired. Please go back and try again."))
    assert basket is not None
    values = {f: str(form.get(f, "")) for f in FORM_FIELDS}
    values["social_tariff"] = "1" if form.get("social_tariff") == "1" else ""
    session_id = int(request.path_params["session_id"])
    payload = {
        "session_id": session_id,
        "child": {k: values[k] for k in ("first_name", "last_name", "birth_date")},
        "household": {k: values[k] for k in ("email", "postcode")},
        "social_tariff": form.get("social_tariff") == "1",
        "waitlist": form.get("waitlist") == "1",
    }
    now = ctx.clock()
    # The activity's birth years, so that a child of the wrong age is said with every
    # other mistake in the form, not after they are mended.
    terms = await ctx.booking.terms(session_id)
    born_years = (terms.age.born_from_year, terms.age.born_to_year) if terms else None
    try:
        req = parse_registration(payload, ctx.local_date(now), born_years)
        await ctx.booking.register(req, now, basket=basket)
    except Invalid as exc:
        errors: dict[str, str] = {}
        general: list[str] = []
        for reason in exc.reasons:
            field = reason.field.split(".")[-1]
            if field in FORM_FIELDS and field not in errors:
                errors[field] = reason_text(_, reason)
            else:
                general.append(reason_text(_, reason))
        return await _session_page(
            request, basket=basket, status=422, values=values, errors=errors, general=general
        )
    except Full:
        return await _session_page(request, basket=basket, status=409, values=values, full=True)
    return _see_other(request, "basket")


async def basket_page(request: Request) -> Response:
    ctx = context_of(request)
    basket = _basket(request) or new_basket_id()
    items = await ctx.db.read(lambda conn: catalogue.basket_registrations(conn, basket))
    now = ctx.clock()
    held = [i for i in items if i.status is Status.HELD and i.expires_at and i.expires_at > now]
    response = page(
        request,
        "basket.html",
        held=held,
        waiting=[i for i in items if i.status in (Status.WAITLISTED, Status.OFFERED)],
        confirmed=[i for i in items if i.status is Status.CONFIRMED],
        lapsed=request.query_params.get("lapsed") == "1",
        total_cents=sum(i.price_cents for i in held),
        csrf=ctx.signing.csrf_token(basket),
    )
    _keep_basket(request, response, basket)
    return response


async def basket_remove(request: Request) -> Response:
    ctx = context_of(request)
    basket = _basket(request)
    form = await _form(request)
    if not ctx.signing.csrf_ok(basket, str(form.get("csrf", ""))):
        return _refused(
            request,
            403,
            translator(request)("This form has expired. Please go back and try again."),
        )
    try:
        await ctx.booking.cancel(str(form.get("registration", "")), ctx.clock(), basket=basket)
    except (NotFound, WrongState):
        pass  # already gone: the basket page shows what is left
    return _see_other(request, "basket")


async def checkout(request: Request) -> Response:
    ctx = context_of(request)
    basket = _basket(request)
    form = await _form(request)
    if not ctx.signing.csrf_ok(basket, str(form.get("csrf", ""))):
        return _refused(
            request,
            403,
            translator(request)("This form has expired. Please go back and try again."),
        )
    assert basket is not None
    confirmed = await ctx.booking.checkout(basket, ctx.clock())
    if not confirmed:
        response = _see_other(request, "basket")
        response.headers["Location"] += "?lapsed=1"
        return response
    response = _see_other(request, "done")
    # Done: the visitor's slot in the gateway goes to the next parent in line.
    response.headers["Sluis-Session"] = "end"
    return response


async def done(request: Request) -> Response:
    ctx = context_of(request)
    basket = _basket(request)
    items: list[RegistrationView] = []
    if basket is not None:
        items = await ctx.db.read(lambda conn: catalogue.basket_registrations(conn, basket))
    return page(
        request,
        "done.html",
        confirmed=[i for i in items if i.status is Status.CONFIRMED],
        total_cents=sum(i.price_cents for i in items if i.status is Status.CONFIRMED),
    )


async def registration_page(request: Request, status: int = 200, notice: str = "") -> Response:
    ctx = context_of(request)
    registration_id = request.path_params["registration_id"]
    view = await ctx.db.read(lambda conn: catalogue.registration(conn, registration_id))
    if view is None:
        return _refused(request, 404, translator(request)("This registration does not exist."))
    return page(
        request,
        "registration.html",
        status=status,
        r=view,
        now=ctx.clock(),
        notice=notice,
        csrf=ctx.signing.csrf_token("registration:" + view.id),
    )


async def _registration_action(request: Request, accept: bool) -> Response:
    ctx = context_of(request)
    _ = translator(request)
    registration_id = request.path_params["registration_id"]
    form = await _form(request)
    if not ctx.signing.csrf_ok("registration:" + registration_id, str(form.get("csrf", ""))):
        return _refused(request, 403, _("This form has expired. Please go back and try again."))
    try:
        if accept:
            await ctx.booking.confirm(registration_id, ctx.clock())
        else:
            await ctx.booking.cancel(registration_id, ctx.clock())
    except NotFound:
        return _refused(request, 404, _("This registration does not exist."))
    except WrongState:
        return await registration_page(request, status=409, notice=_("This is no longer possible."))
    return _see_other(request, "registration", registration_id=registration_id)


async def accept_offer(request: Request) -> Response:
    return await _registration_action(request, accept=True)


async def cancel_registration(request: Request) -> Response:
    return await _registration_action(request, accept=False)
