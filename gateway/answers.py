"""A visit's Outcome as the visitor gets it: the queue page (gateway/pages.py) or the
status JSON of the contract, chosen here once, with one body for each refusal."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.http import (
    JSON_TYPE,
    NO_STORE,
    Headers,
    cookies,
    respond,
    set_cookie,
)
from gateway.i18n import language_of
from gateway.pages import REFRESH_COOKIE, Pages, security_headers
from gateway.passes import ADMISSION_COOKIE, VISITOR_COOKIE
from gateway.rooms import RoomConfig
from gateway.standing import build, without_place
from gateway.types import Scope, Send
from gateway.visit import (
    Admitted,
    Arriving,
    Limited,
    Outcome,
    ProofRequired,
    SoldOut,
    Unavailable,
    Waiting,
)

VISITOR_MAX_AGE = 86_400
# When to ask again while Redis is away ("keep this page open").
RETRY_AFTER_UNAVAILABLE = 5
# What a visitor over the per-address join limit is told to wait: the limit's window.
LIMITED_RETRY = 60
_RETRY_UNAVAILABLE = (b"retry-after", str(RETRY_AFTER_UNAVAILABLE).encode())
_RETRY_LIMITED = (b"retry-after", str(LIMITED_RETRY).encode())
# The outcomes answered with the visitor's standing, and those without a place.
_STANDING = (Waiting, SoldOut, Admitted)
_NO_PLACE = (Arriving, ProofRequired)


class Answers:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    async def send(self, scope: Scope, send: Send, room: RoomConfig, outcome: Outcome,
                   as_json: bool, extra: Headers | None = None) -> None:
        """`extra`: headers for the answer (an ended admission's cleared cookie)."""
        status, body, headers = self.render(scope, room, outcome, as_json, extra)
        await respond(send, status, body, headers, scope["method"] == "HEAD")

    def render(self, scope: Scope, room: RoomConfig, outcome: Outcome, as_json: bool,
               extra: Headers | None = None) -> tuple[int, bytes, Headers]:
        """The answer's status, body and headers (without its length): the one place that
        chooses between the JSON and the page. A plain call, so that the status poll
        awaits nothing but the store and the send."""
        secure = scope.get("scheme") == "https"
        extra = [] if extra is None else extra
        status = 200
        data: dict[str, Any]
        if isinstance(outcome, _STANDING):
            if isinstance(outcome, Admitted) and outcome.token is not None:
                extra.append(admission_cookie(outcome.token, outcome.seconds, secure))
            # The language matters to the JSON only for the waiting-list text of a room
            # with an inventory source.
            lang, refresh = page_choices(scope) if room.inventory or not as_json else ("nl", True)
            here = build(room.name, room.tz, outcome.snap, outcome.place,
                         inventory=room.inventory, lang=lang)
            if as_json:
                return 200, orjson.dumps(here.as_json()), [
                    JSON_TYPE, *NO_STORE, *security_headers(secure, True), *extra]
            body = self.pages.queue(here, room, self_url(scope), lang, refresh)
        elif isinstance(outcome, _NO_PLACE):
            cookie = outcome.cookie if isinstance(outcome, Arriving) else None
            if cookie is not None:
                extra.append((b"set-cookie", set_cookie(
                    VISITOR_COOKIE, cookie, max_age=VISITOR_MAX_AGE, secure=secure)))
            if isinstance(outcome, ProofRequired):
                status = 403
            now_ms = int(time.time() * 1000)
            if as_json:
                if isinstance(outcome, ProofRequired):
                    data = {"room": room.name, "error": "proof_required"}
                else:
                    data = without_place(room.name, room.tz, now_ms, outcome.poll_after)
                if outcome.bits:
                    data["proof"] = {"challenge": outcome.challenge, "bits": outcome.bits}
                return status, orjson.dumps(data), [
                    JSON_TYPE, *NO_STORE, *security_headers(secure, True), *extra]
            lang, refresh = page_choices(scope)
            body = self.pages.arriving(room, self_url(scope), now_ms, lang, refresh,
                                       outcome.challenge, outcome.bits)
        else:
            status, retry = (429, _RETRY_LIMITED) if isinstance(outcome, Limited) else (
                503, _RETRY_UNAVAILABLE)
            if as_json:
                return status, orjson.dumps(refusal(room.name, outcome)), [
                    JSON_TYPE, *NO_STORE, *security_headers(secure, True), retry, *extra]
            lang, refresh = page_choices(scope)
            if isinstance(outcome, Limited):
                body = self.pages.limited(room, LIMITED_RETRY, self_url(scope), lang, refresh)
            else:
                body = self.pages.unavailable(room, RETRY_AFTER_UNAVAILABLE, self_url(scope),
                                              lang, refresh)
            extra.insert(0, retry)
        return status, body, [*self.pages.headers(room, lang, secure), *extra]


def refusal(room: str, outcome: Limited | Unavailable) -> dict[str, Any]:
    """The JSON of a 429 (over the per-address join limit) or a 503 (Redis away)."""
    if isinstance(outcome, Limited):
        return {"room": room, "error": "too_many_joins", "retry_after_seconds": LIMITED_RETRY,
                "poll_after_seconds": LIMITED_RETRY}
    return {"room": room, "error": "unavailable", "keep_page_open": True,
            "poll_after_seconds": RETRY_AFTER_UNAVAILABLE}


def admission_cookie(token: str, seconds: int, secure: bool) -> tuple[bytes, bytes]:
    return (b"set-cookie", set_cookie(ADMISSION_COOKIE, token, max_age=seconds, secure=secure))


def page_choices(scope: Scope) -> tuple[str, bool]:
    """The visitor's language and whether the page may refresh itself."""
    jar = cookies(scope["headers"])
    return language_of(scope["headers"], jar), jar.get(REFRESH_COOKIE) != "off"


def self_url(scope: Scope) -> str:
    """The page's own address, to reload it and to come back to it."""
    query: bytes = scope.get("query_string", b"")
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    # One leading slash only: "//host/x" in a link would leave the site.
    path = "/" + raw.decode("latin-1").lstrip("/")
    return path + ("?" + query.decode("latin-1") if query else "")
