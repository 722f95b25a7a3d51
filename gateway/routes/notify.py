"""E-mail to parents near the front, the gateway's part (gateway/notify.py):

- `POST /_sluis/notify` (form: room, email, next; or forget=1): a waiting visitor
  leaves an address, or takes it back. JSON for the page's script, a small page of its
  own without scripting.
- `GET /_sluis/place?t=<token>`: the personal link of the message. It sets the visitor
  cookie of that place in this browser and leads to the page the visitor was on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import notify
from gateway.http import set_cookie
from gateway.i18n import language_of
from gateway.links import LINK_PATH, Links
from gateway.pages import Pages
from gateway.passes import VISITOR_COOKIE, Passes
from gateway.rooms import RoomConfig
from gateway.routing import Rooms
from gateway.store import Store, StoreUnavailable
from gateway.store.notify_store import NotifyStore, Signed

NOTIFY_PATH = "/_sluis/notify"
MAX_FORM_BYTES = 4096
# The visitor cookie a link sets lasts as long as the one the queue page hands out.
VISITOR_MAX_AGE = 86_400

# What each outcome says: (HTTP status, heading, sentence). English; translated from
# gateway/locales like the queue page.
OUTCOMES: dict[str, tuple[int, str, str]] = {
    "kept": (200, "We will e-mail you",
             "When you are near the front, we send you one message with a personal link. "
             "You may close this page now: your place is kept."),
    "forgotten": (200, "Your address is deleted",
                  "You will get no e-mail. Keep the page of the line open to keep your place."),
    "invalid_address": (422, "This e-mail address does not work",
                        "Check the address and try again."),
    "too_many": (429, "This address was given too often",
                 "Try again later, or keep the page of the line open."),
    "no_place": (409, "You do not have a place in the line yet",
                 "Go back to the line: it gives you a place first."),
    "closed": (409, "Registration is closed",
               "No more e-mail addresses are taken for this line."),
    "already_sent": (409, "Your message was already sent",
                     "Your personal link is in your mailbox."),
    "not_offered": (404, "No e-mail in this line",
                    "This line does not send e-mail. Keep its page open to keep your place."),
    "unavailable": (503, "One moment",
                    "The waiting room cannot take your address right now. "
                    "Try again in a few seconds."),
    "refused": (403, "This form could not be used",
                "Go back to the page of the line and try again there."),
    "link_expired": (410, "This link is no longer valid",
                     "It was good for a limited time. The page of the line tells you "
                     "where you stand now."),
    "link_bad": (404, "This link does not work",
                 "Check that the whole link was copied, or go to the page of the line."),
}

_SIGNED = {Signed.KEPT: "kept", Signed.FORGOTTEN: "forgotten", Signed.NO_PLACE: "no_place",
           Signed.CLOSED: "closed", Signed.ALREADY_SENT: "already_sent",
           Signed.ADDRESS_LIMIT: "too_many"}


class _Parts:
    """What these routes need, built once per app from its settings."""

    def __init__(self, request: Request) -> None:
        settings = request.app.state.settings
        self.rooms: Rooms = request.app.state.rooms
        self.passes = Passes(settings.secret_keys)
        self.links = Links(settings.secret_keys)
        self.secret = settings.secret_keys[-1]
        self.notices = NotifyStore(request.app.state.store)
        self.pages = Pages()


def _parts(request: Request) -> _Parts:
    parts: _Parts | None = getattr(request.app.state, "notify_parts", None)
    store: Store = request.app.state.store
    if parts is None or parts.notices.store is not store:
        parts = request.app.state.notify_parts = _Parts(request)
    return parts


def _answer(request: Request, parts: _Parts, room: RoomConfig, outcome: str, back: str,
            as_json: bool, **more: Any) -> Response:
    status, heading, sentence = OUTCOMES[outcome]
    lang = language_of(list(request.scope["headers"]))
    _ = parts.pages.catalogs.gettext(lang)
    headers = {"cache-control": "no-store"}
    if status == 503:
        headers["retry-after"] = "5"
    if as_json:
        return JSONResponse({"room": room.name, "result": outcome, "ok": status < 300,
                             "message": _(sentence), **more},
                            status_code=status, headers=headers)
    https = request.url.scheme == "https"
    body = parts.pages.notice(room, lang, _(heading), _(sentence), back)
    return Response(body, status_code=status, headers={
        k.decode(): v.decode() for k, v in parts.pages.headers(room, lang, https)
        if k not in (b"content-type",)} | headers, media_type="text/html; charset=utf-8")


def _same_origin(request: Request) -> bool:
    """A form sent from this site's own page: the browser says so (Sec-Fetch-Site, or
    an Origin naming this host). The visitor cookie is SameSite=Lax anyway."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


async def sign_up(request: Request) -> Response:
    parts = _parts(request)
    as_json = "application/json" in request.headers.get("accept", "")
    fallback = parts.rooms.rooms[0]
    size = request.headers.get("content-length")
    if size is None or not size.isdigit() or int(size) > MAX_FORM_BYTES:
        return _answer(request, parts, fallback, "refused", "/", as_json)
    form = await request.form(max_files=0, max_fields=8)
    def field(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    room = parts.rooms.by_name(field("room") or None) or fallback
    back = notify.safe_path(field("next"))
    if not _same_origin(request):
        return _answer(request, parts, room, "refused", back, as_json)
    if not room.notify.by_email:
        return _answer(request, parts, room, "not_offered", back, as_json)
    visitor = parts.passes.visitor_from_cookie(request.cookies.get(VISITOR_COOKIE))
    if visitor is None:
        return _answer(request, parts, room, "no_place", back, as_json)
    try:
        if field("forget") == "1":
            signed = await parts.notices.forget(room.name, visitor)
        else:
            address = notify.clean_address(field("email"))
            if address is None:
                return _answer(request, parts, room, "invalid_address", back, as_json)
            signup = notify.Signup(address=address, path=back,
                                   lang=language_of(list(request.scope["headers"])))
            signed = await parts.notices.sign_up(
                room.name, visitor, signup.encode(),
                notify.address_key(parts.secret, room.name, address),
                per_address=notify.SIGNUPS_PER_ADDRESS, window_ms=notify.ADDRESS_WINDOW_MS,
                max_keep_ms=notify.ADDRESS_MAX_KEEP_MS)
    except StoreUnavailable:
        return _answer(request, parts, room, "unavailable", back, as_json)
    return _answer(request, parts, room, _SIGNED[signed], back, as_json,
                   minutes=room.notify.minutes)


async def open_link(request: Request) -> Response:
    parts = _parts(request)
    link = parts.links.read(request.query_params.get("t"))
    room = parts.rooms.by_name(link.room) if link is not None else None
    if link is None or room is None or not room.notify.by_email:
        return _answer(request, parts, parts.rooms.rooms[0], "link_bad", "/", False)
    if not link.fresh(notify.link_max_age(room)):
        return _answer(request, parts, room, "link_expired", link.path, False)
    https = request.url.scheme == "https"
    return Response(status_code=303, headers={
        "location": quote(link.path, safe="/?&=%:@!$()*+,;~-._"),
        "cache-control": "no-store",
        # The token stays out of any Referer.
        "referrer-policy": "no-referrer",
        "set-cookie": set_cookie(VISITOR_COOKIE, parts.passes.visitor_cookie(link.visitor),
                                 max_age=VISITOR_MAX_AGE, secure=https).decode("latin-1"),
    })


routes = [
    Route(NOTIFY_PATH, sign_up, methods=["POST"]),
    Route(LINK_PATH, open_link, methods=["GET", "HEAD"]),
]
