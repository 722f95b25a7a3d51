"""Who is asking the admin API or the dashboard: a bearer token, or a signed-in operator.

Programs send `Authorization: Bearer <admin token>` (compared in constant time).
Operators sign in once on the dashboard with the same token and a name for the audit;
they then carry an HttpOnly, SameSite=Strict session cookie, signed with the
gateway's keys and bound to the admin token (a new token signs everyone out). Every
change made with the cookie must also carry the session's CSRF token, in a form field
or the `X-CSRF-Token` header. A token never travels in a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

SESSION_COOKIE = "sluis_admin"
LOGIN_COOKIE = "sluis_admin_login"
COOKIE_PATH = "/_sluis/admin"
SESSION_SECONDS = 12 * 3600
LOGIN_SECONDS = 1800
CSRF_HEADER = "x-csrf-token"
ACTOR_HEADER = "x-sluis-actor"
_NAME = re.compile(r"[^\w .@'-]+")
SAFE_METHODS = ("GET", "HEAD")


class Refusal(Enum):
    UNAUTHENTICATED = 401  # no credentials, or wrong ones
    FORBIDDEN = 403        # a signed-in operator's change without the CSRF token


@dataclass(frozen=True, slots=True)
class Operator:
    actor: str       # written to the audit trail
    csrf: str        # "" for bearer-token callers, who need none
    via_session: bool


def clean_name(value: str | None) -> str:
    """A name for the audit trail: letters, digits, spaces and a few marks, at most 64."""
    return _NAME.sub("", value or "").strip()[:64]


class AdminAuth:
    def __init__(self, admin_token: str, secret_keys: tuple[str, ...]) -> None:
        self._token = admin_token.encode()
        # Sessions are bound to the token: replacing it ends every session.
        binding = hashlib.sha256(b"sluis-admin-session:" + self._token).hexdigest()[:16]
        self._binding = binding
        self._sessions = URLSafeTimedSerializer(list(secret_keys), salt="sluis-admin-session")
        self._logins = URLSafeTimedSerializer(list(secret_keys), salt="sluis-admin-login")

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.strip().encode(), self._token)

    # -- sessions ------------------------------------------------------------------

    def new_session(self, name: str) -> tuple[str, str]:
        """(cookie value, CSRF token) for an operator who just signed in."""
        csrf = secrets.token_urlsafe(24)
        value = self._sessions.dumps({"n": clean_name(name) or "operator", "c": csrf,
                                      "b": self._binding})
        return value, csrf

    def session(self, value: str | None) -> tuple[str, str] | None:
        """(name, CSRF token) of a valid session cookie; a bad one is no session."""
        if not value:
            return None
        try:
            data = self._sessions.loads(value, max_age=SESSION_SECONDS)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or not hmac.compare_digest(
                str(data.get("b", "")), self._binding):
            return None
        return str(data.get("n", "operator")), str(data.get("c", ""))

    def new_login(self) -> tuple[str, str]:
        """(cookie value, form nonce) for the sign-in form: its own CSRF guard."""
        nonce = secrets.token_urlsafe(18)
        return self._logins.dumps(nonce), nonce

    def login_ok(self, cookie: str | None, nonce: str) -> bool:
        if not cookie or not nonce:
            return False
        try:
            expected = self._logins.loads(cookie, max_age=LOGIN_SECONDS)
        except (BadSignature, ValueError, TypeError):
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, nonce)

    # -- a request -------------------------------------------------------------------

    def check(self, request: Request, form_csrf: str | None = None) -> Operator | Refusal:
        """Who makes this request, or why it is refused."""
        where = request.client.host if request.client else "unknown"
        given = request.headers.get("authorization")
        if given is not None:
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not token or not self.token_ok(token):
                return Refusal.UNAUTHENTICATED
            name = clean_name(request.headers.get(ACTOR_HEADER))
            actor = f"{name} (admin-api@{where})" if name else f"admin-api@{where}"
            return Operator(actor=actor, csrf="", via_session=False)
        found = self.session(request.cookies.get(SESSION_COOKIE))
        if found is None:
            return Refusal.UNAUTHENTICATED
        name, csrf = found
        if request.method not in SAFE_METHODS:
            sent = form_csrf if form_csrf is not None else request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent.encode(), csrf.encode()):
                return Refusal.FORBIDDEN
        return Operator(actor=f"{name} (dashboard@{where})", csrf=csrf, via_session=True)


def cookie_header(name: str, value: str, *, max_age: int, secure: bool) -> str:
    parts = [f"{name}={value}", f"Path={COOKIE_PATH}", f"Max-Age={max_age}", "HttpOnly",
             "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
