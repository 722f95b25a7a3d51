"""The operators' dashboard (/_sluis/admin/): live figures and charts per room, controls
whose every change is shown for confirmation (old → new) before it is written, and the
audit trail. Server-rendered; the one script (static/admin.js) only refreshes figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.admin_auth import (
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Operator,
    Refusal,
    cookie_header,
)
from gateway.charts import per_minute, room_charts
from gateway.pace import per_minute_text, seconds_text
from gateway.rooms import RoomConfig, RoomSettingsError, iso_from_ms, validate_changes
from gateway.routes.admin_api import apply, audit_entries, auth_of, room_json, room_of
from gateway.store import Store, StoreUnavailable, UnfairChange

HOME = "/_sluis/admin/"
NO_STORE = {"cache-control": "no-store"}
# What a change did, said once on the dashboard it redirects to (signed, short-lived).
DONE_COOKIE = "sluis_admin_done"
DONE_SECONDS = 60
ACTIONS = ("settings", "pause", "resume", "opening", "closing", "drain")
NUMBERS = ("rate_per_minute", "max_active", "session_seconds", "idle_seconds")
# The dashboard's forms are a few short fields, urlencoded. Anything else, or more, is
# refused before it is read: no multipart parser, no spooling to disk.
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 8 * 1024
MAX_FORM_FIELDS = 32


def _env() -> Environment:
    return Environment(loader=PackageLoader("gateway", "templates"),
                       autoescape=select_autoescape(["html"]), auto_reload=False)


_ENV = _env()


def _page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _ENV.get_template(f"admin/{name}").render(**values)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def home(request: Request) -> Response:
    auth = auth_of(request)
    who = auth.check(request)
    if not isinstance(who, Operator) or not who.via_session:
        return _login_page(request)
    store: Store = request.app.state.store
    try:
        rooms = [await _figures(store, r) for r in request.app.state.rooms.rooms]
        audit = await audit_entries(request, store, 30)
    except StoreUnavailable:
        return _page("unavailable.html", 503)
    done = _notes(request).read(request.cookies.get(DONE_COOKIE))
    response = _page("dashboard.html", who=who, rooms=rooms, done=done,
                     audit=audit_rows(audit, request.app.state.rooms.rooms))
    if request.cookies.get(DONE_COOKIE):
        # Said once: a reload of the dashboard does not repeat it.
        response.headers.append("set-cookie", cookie_header(DONE_COOKIE, "", max_age=0,
                                                            secure=_secure(request)))
    return response


class Notes:
    """The one-line report of a change, carried to the next dashboard page in a signed
    cookie rather than the URL, so that reloading the dashboard does not repeat it."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        self._signer = URLSafeTimedSerializer(list(secret_keys), salt="sluis-admin-done")

    def cookie(self, text: str) -> str:
        return self._signer.dumps(text[:400])

    def read(self, value: str | None) -> str:
        if not value:
            return ""
        try:
            text = self._signer.loads(value, max_age=DONE_SECONDS)
        except (BadSignature, ValueError, TypeError):
            return ""
        return text if isinstance(text, str) else ""


def _notes(request: Request) -> Notes:
    notes: Notes | None = getattr(request.app.state, "dashboard_notes", None)
    if notes is None:
        notes = request.app.state.dashboard_notes = Notes(
            request.app.state.settings.secret_keys)
    return notes


def _login_page(request: Request, error: str = "", status: int = 200) -> Response:
    cookie, nonce = auth_of(request).new_login()
    response = _page("login.html", status, nonce=nonce, error=error)
    response.headers.append("set-cookie", cookie_header(
        LOGIN_COOKIE, cookie, max_age=LOGIN_SECONDS, secure=_secure(request)))
    return response


def _too_large(status: int, text: str) -> Response:
    response = _page("message.html", status, title="Not accepted", text=text)
    response.headers["connection"] = "close"  # the rest of the body is not read
    return response


async def _small_form(request: Request) -> dict[str, str] | Response:
    """The request's urlencoded form, read only up to MAX_FORM_BYTES; an answer (413, 415)
    for anything else."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != FORM_TYPE:
        return _too_large(415, "This form is sent urlencoded. Nothing was changed.")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return _too_large(413, "This form is too large. Nothing was changed.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return _too_large(413, "This form is too large. Nothing was changed.")
    try:
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                           max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        return _too_large(413, "This form has too many fields. Nothing was changed.")
    return dict(fields)


async def login(request: Request) -> Response:
    auth = auth_of(request)
    if not request.cookies.get(LOGIN_COOKIE):  # no sign-in form was given: nothing read
        return _login_page(request, "The sign-in form expired. Please try again.", 403)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    nonce, token, name = (str(form.get(k, "")) for k in ("nonce", "token", "name"))
    if not auth.login_ok(request.cookies.get(LOGIN_COOKIE), nonce):
        return _login_page(request, "The sign-in form expired. Please try again.", 403)
    if not token or not auth.token_ok(token):
        return _login_page(request, "That is not the admin token.", 401)
    value, _ = auth.new_session(name)
    response = RedirectResponse(HOME, status_code=303, headers=NO_STORE)
    secure = _secure(request)
    response.headers.append("set-cookie", cookie_header(
        SESSION_COOKIE, value, max_age=SESSION_SECONDS, secure=secure))
    response.headers.append("set-cookie", cookie_header(LOGIN_COOKIE, "", max_age=0,
                                                        secure=secure))
    return response


async def logout(request: Request) -> Response:
    auth = auth_of(request)
    if auth.check(request) is Refusal.UNAUTHENTICATED:  # nothing read
        return _refused(Refusal.UNAUTHENTICATED)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    who = auth.check(request, form_csrf=form.get("csrf", ""))
    if isinstance(who, Operator):
        response = RedirectResponse(HOME, status_code=303, headers=NO_STORE)
        response.headers.append("set-cookie", cookie_header(
            SESSION_COOKIE, "", max_age=0, secure=_secure(request)))
        return response
    return _refused(who)


def _refused(why: Refusal | Operator) -> Response:
    if why is Refusal.FORBIDDEN:
        return _page("message.html", 403, title="Refused",
                     text="This form is not from your dashboard session (CSRF token missing "
                          "or wrong). Nothing was changed.")
    return RedirectResponse(HOME, status_code=303, headers=NO_STORE)


async def figures(request: Request) -> Response:
    """One room's live figures and charts (the fragment admin.js refreshes)."""
    who = auth_of(request).check(request)
    room = room_of(request)
    if not isinstance(who, Operator) or not who.via_session:
        return Response(status_code=401, headers=NO_STORE)
    if room is None:
        return Response(status_code=404, headers=NO_STORE)
    try:
        data = await _figures(request.app.state.store, room)
    except StoreUnavailable:
        return Response(status_code=503, headers=NO_STORE)
    html = _ENV.get_template("admin/figures.html").render(r=data)
    return HTMLResponse(html, headers=NO_STORE)


async def _figures(store: Store, room: RoomConfig) -> dict[str, Any]:
    data = await room_json(store, room)
    view_now = await store.view(room.name)
    samples = await store.series(room.name, view_now.now_ms - 3_600_000)
    last = samples[-1] if samples else {}
    actual = [v for v in per_minute(samples[-7:]) if v is not None]
    data.update(
        now_ms=view_now.now_ms,
        charts=room_charts(samples, view_now.now_ms, room.tz),
        samples=len(samples),
        actual_per_minute=round(sum(actual) / len(actual)) if actual else None,
        last_wait_s=last.get("last_wait_s"),
        p95_ms=last.get("p95_ms"),
        error_rate=last.get("error_rate"),
        answers=last.get("answers", 0),
        adaptive_decision=last.get("adaptive", ""),
        held_words=held_words(data),
        session_words=session_words(data),
        pace_text=per_minute_text(data["effective_rate_per_minute"]),
        pace_label=PACE_LABELS[data["pace_set_by"]],
        session_text=seconds_text(data["typical_session_seconds"]),
        idle_text=seconds_text(data["idle_seconds"]),
        opens_local=_local(view_now.settings.opens_at_ms, room),
        closes_local=_local(view_now.settings.closes_at_ms, room),
        timezone=room.timezone,
    )
    return data


PACE_LABELS = {"rate": "set by the rate", "max_active": "set by max active",
               "paused": "held: paused", "breaker": "held: breaker open",
               "sold_out": "held: sold out", "not_open": "held: not open yet",
               "closed": "held: closed"}


def held_words(r: dict[str, Any]) -> str:
    """What keeps the head of the line waiting right now, in plain words."""
    why = r["line_held_by"]
    if why is None:
        return ("Passthrough: nobody is queued." if r["mode"] == "passthrough"
                else "Nobody is waiting.")
    if why == "max_active" and r["max_active"] == 0:
        return "Max active is 0: nobody is admitted."
    if why == "rate" and r["rate_per_minute"] == 0:
        return "The rate is 0: nobody is admitted."
    if why == "max_active":
        return (f"Every slot is taken ({r['active']:,} of {r['max_active']:,}): the next in "
                "line goes in when a session ends.")
    if why == "rate":
        return (f"The rate: slots are free, and the line moves at the configured "
                f"{r['rate_per_minute']:,} a minute.")
    return {
        "paused": "Paused: nobody is admitted until the room is resumed.",
        "breaker": "The backend breaker is open: admissions wait until the backend "
                   "answers well again.",
        "sold_out": "Sold out: the inventory source reports no places left; admission "
                    "has stopped.",
        "not_open": f"Not open yet: arrivals wait in the pre-queue until {r['opens_at']}.",
        "closed": "Closed: no new places, and nobody is left in line.",
    }[why]


def session_words(r: dict[str, Any]) -> str:
    """The typical session the pace rests on, and where it comes from."""
    typical = seconds_text(r["typical_session_seconds"])
    if r["typical_session_measured"]:
        n = r["sessions_measured_total"]
        return f"{typical}, the mean of {n:,} ended session{'s' if n != 1 else ''}"
    return f"{typical}, the longest a session may last (assumed until sessions end)"


def _local(ms: int, room: RoomConfig) -> str:
    """A time for a datetime-local field, in the room's own time zone."""
    iso = iso_from_ms(ms, room.tz)
    return iso[:16] if iso else ""


# -- one set of words for a change: the confirm step, the audit trail, the report after --

LABELS = {"rate_per_minute": "Rate", "max_active": "Max active",
          "session_seconds": "Longest session", "idle_seconds": "Idle limit",
          "grace_seconds": "Grace for a silent visitor", "paused": "Paused",
          "closed": "Closed", "opens_at": "Opening", "closes_at": "Closing",
          "active": "Active sessions", "breaker_open": "Breaker", "sold_out": "Sold out"}
_FLAGS = {"paused": ("no", "yes"), "closed": ("no", "yes"), "sold_out": ("no", "yes"),
          "breaker_open": ("closed", "open")}
_MOMENTS = ("opens_at", "closes_at")


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    return None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else None


def moment_words(value: Any, tz: ZoneInfo, seconds: bool = False) -> str | None:
    """A moment (milliseconds, or an ISO time) in the room's zone; None for none."""
    ms = _whole(value)
    if ms is not None:
        if ms <= 0:
            return None
        moment = datetime.fromtimestamp(ms / 1000, tz)
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        moment = moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def value_words(field: str, value: Any, tz: ZoneInfo) -> str:
    """One setting's value as an operator reads it, whether it comes from the admin API
    (True, an ISO time), from Redis ("1", milliseconds) or from an audit entry."""
    if field in _FLAGS:
        truth = _truth(value)
        return str(value) if truth is None else _FLAGS[field][truth]
    if value is False or value == "":
        return "—"  # not set before (the room's first definition)
    if field in _MOMENTS:
        return (None if value is None else moment_words(value, tz)) or "none"
    if value is None:
        return "—"
    n = _whole(value)
    if n is None:
        return str(value)
    if field == "rate_per_minute":
        return f"{n:,} a minute"
    if field == "idle_seconds" and n == 0:
        return "off"
    if field.endswith("_seconds"):
        return seconds_text(n)
    return f"{n:,}"


def change_rows(changes: Any, tz: ZoneInfo, first: bool = False) -> list[tuple[str, str, str]]:
    """[field, old, new] triples as (label, old, new) in words. `first`: the room's first
    definition, where an old value of false means there was none yet."""
    rows = []
    for change in changes if isinstance(changes, list) else []:
        if not isinstance(change, list | tuple) or len(change) != 3:
            continue
        field, old, new = str(change[0]), change[1], change[2]
        was = "—" if first and old is False else value_words(field, old, tz)
        rows.append((LABELS.get(field, field.replace("_", " ")), was,
                     value_words(field, new, tz)))
    return rows


def rows_text(rows: list[tuple[str, str, str]]) -> str:
    return "; ".join(f"{label}: {old} → {new}" for label, old, new in rows)


def what_words(entry: dict[str, Any]) -> str:
    """What an audit entry records, in words."""
    mode = entry.get("mode")
    reason = str(entry.get("reason") or "")
    if mode == "change":
        return "changed"
    if mode == "define":
        return "set from the rooms file"
    if mode == "drain":
        return "ended every session"
    if mode in ("trip", "reset"):
        what = "breaker opened" if mode == "trip" else "breaker closed"
        return f"{what}: {reason}" if reason else what
    if mode == "inventory":
        places = entry.get("places_left")
        source = entry.get("source") or "inventory"
        left = ("places left unknown" if places is None
                else f"{places:,} place{'s' if places != 1 else ''} left")
        return f"inventory source ({source}): {left}"
    return str(mode or "")


def audit_rows(entries: list[dict[str, Any]], rooms: tuple[RoomConfig, ...]
               ) -> list[dict[str, Any]]:
    """The audit trail as the dashboard shows it: times in each room's own zone."""
    by_name = {r.name: r for r in rooms}
    out = []
    for e in entries:
        room = by_name.get(str(e.get("room")))
        tz = room.tz if room is not None else ZoneInfo("UTC")
        at = str(e.get("at", ""))
        out.append({"at": at, "at_local": moment_words(at, tz, seconds=True) if at else "",
                    "room": e.get("room"), "actor": e.get("actor", ""),
                    "what": what_words(e),
                    "changes": change_rows(e.get("changes"), tz, e.get("mode") == "define")})
    return out


def _proposed(action: str, form: Any, room: RoomConfig) -> dict[str, Any]:
    """The operator's form as a change to validate."""
    if action == "pause":
        return {"paused": True}
    if action == "resume":
        return {"paused": False}
    if action in ("opening", "closing"):
        field = "opens_at" if action == "opening" else "closes_at"
        value = str(form.get(field, "")).strip()
        if not value:
            return {field: None}
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return {field: value}  # validate_changes names what is wrong
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=room.tz)
        return {field: moment.isoformat()}
    out: dict[str, Any] = {}
    for name in NUMBERS:
        raw = str(form.get(name, "")).strip()
        if raw:
            out[name] = int(raw) if raw.lstrip("-").isdigit() else raw
    return out


async def change(request: Request) -> Response:
    auth = auth_of(request)
    # Only a signed-in operator's body is read; the CSRF token is checked before any of
    # the rest of the form is looked at.
    if auth.session(request.cookies.get(SESSION_COOKIE)) is None:
        return _refused(Refusal.UNAUTHENTICATED)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    who = auth.check(request, form_csrf=form.get("csrf", ""))
    if not isinstance(who, Operator) or not who.via_session:
        return _refused(who)
    room = room_of(request)
    action = str(form.get("action", ""))
    if room is None or action not in ACTIONS:
        return _page("message.html", 404, title="Unknown", text="No such room or action.")
    store: Store = request.app.state.store
    current = await room_json(store, room)
    confirmed = form.get("confirm") == "1"
    if action == "drain":
        if not confirmed:
            rows = change_rows([["active", current["active"], 0]], room.tz)
            return _page("confirm.html", who=who, room=room, action=action, rows=rows,
                         hidden={})
        ended = await store.drain(room.name, who.actor)
        said = rows_text(change_rows([["active", ended, 0]], room.tz))
        return _done(request, room, f"Ended every session in {room.title}: {said}.")
    proposed = _proposed(action, form, room)
    try:
        typed = validate_changes(proposed)
    except RoomSettingsError as exc:
        return _page("message.html", 422, title="Not changed",
                     text="; ".join(f"{k}: {v}" for k, v in exc.reasons.items()))
    after = {k: (iso_from_ms(int(v), room.tz) if k in ("opens_at", "closes_at") else v)
             for k, v in typed.items()}
    differ = [[k, current.get(k), v] for k, v in after.items() if current.get(k) != v]
    if not differ:
        return _done(request, room, f"Nothing changed in {room.title}: the values were "
                     "already so.")
    if not confirmed:
        hidden = {k: ("" if v is None else str(v)) for k, v in proposed.items()}
        return _page("confirm.html", who=who, room=room, action=action,
                     rows=change_rows(differ, room.tz), hidden=hidden)
    try:
        changed = await apply(store, room, typed, who.actor)
    except UnfairChange as exc:
        return _page("message.html", 422, title="Not changed", text=str(exc))
    # The words of the audit entry just written: what was, not what the form assumed.
    said = rows_text(change_rows(changed, room.tz))
    return _done(request, room, f"Changed in {room.title}: {said}." if said else
                 f"Nothing changed in {room.title}: the values were already so.")


def _done(request: Request, room: RoomConfig, text: str) -> Response:
    response = RedirectResponse(f"{HOME}#room-{quote(room.name)}", status_code=303,
                                headers=NO_STORE)
    response.headers.append("set-cookie", cookie_header(
        DONE_COOKIE, _notes(request).cookie(text),
        max_age=DONE_SECONDS, secure=_secure(request)))
    return response


routes = [
    # The gate resolves "/_sluis/admin/" to "/_sluis/admin": both are the dashboard.
    Route("/_sluis/admin", home, methods=["GET", "HEAD"]),
    Route(HOME, home, methods=["GET", "HEAD"]),
    Route(HOME + "login", login, methods=["POST"]),
    Route(HOME + "logout", logout, methods=["POST"]),
    Route(HOME + "rooms/{room}/figures", figures, methods=["GET"]),
    Route(HOME + "rooms/{room}", change, methods=["POST"]),
]
