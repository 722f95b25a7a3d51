"""GET /_sluis/prefs?lang=fr|refresh=off&next=/path: the visitor's choices on the queue
page (language, automatic updates), kept in cookies, then back to the page. Plain links,
so that the choices work without JavaScript."""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from gateway.http import NO_STORE, respond, set_cookie
from gateway.i18n import LANG_COOKIE, LANGUAGES
from gateway.pages import REFRESH_COOKIE, security_headers
from gateway.types import Receive, Scope, Send

PREFS_MAX_AGE = 365 * 86_400


def safe_next(value: str | None) -> str:
    """A path on this site to go back to; anything that could leave it becomes "/"."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 33 or c in "\\\"'<>" for c in value) or len(value) > 2048:
        return "/"
    return value


async def prefs(scope: Scope, receive: Receive, send: Send) -> None:
    https = scope.get("scheme") == "https"
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    headers = [*NO_STORE, *security_headers(https, beside_no_store=True)]
    if scope["method"] not in ("GET", "HEAD"):
        await respond(send, 405, b"", [*headers, (b"allow", b"GET, HEAD")])
        return
    lang = query.get("lang", [""])[0]
    if lang in LANGUAGES:
        headers.append((b"set-cookie", set_cookie(LANG_COOKIE, lang, max_age=PREFS_MAX_AGE,
                                                  secure=https)))
    refresh = query.get("refresh", [""])[0]
    if refresh in ("on", "off"):
        headers.append((b"set-cookie", set_cookie(REFRESH_COOKIE, refresh,
                                                  max_age=PREFS_MAX_AGE, secure=https)))
    target = safe_next(query.get("next", [None])[0])
    headers.append((b"location", quote(target, safe="/?&=%:@!$()*+,;~-._").encode()))
    await respond(send, 303, b"", headers)
