"""Signed cookies, CSRF tokens and the operators' token check. No I/O.

Cookies hold opaque ids only. A bad or foreign signature is treated as "no
cookie", never as an error.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence

from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger("sluis.internal.security")

BASKET_COOKIE = "sluis_basket"
OPERATOR_COOKIE = "sluis_operator"
BASKET_MAX_AGE = 7 * 24 * 3600
OPERATOR_MAX_AGE = 12 * 3600


def token_matches(presented: str | None, expected: str | None) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def _fingerprint(token: str) -> str:
    return hashlib.sha256(b"sluis.internal.operator:" + token.encode()).hexdigest()[:16]


class Signing:
    """Everything the engine signs, with one key list (newest last: the newest signs)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            # Standalone without a gateway: baskets then last as long as this process.
            log.warning("no SLUIS_SECRET_KEYS: signing with a key that dies with this process")
            keys = [secrets.token_urlsafe(32)]
        self._keys = [k.encode() for k in keys]
        self._basket = URLSafeTimedSerializer(list(keys), salt="sluis.internal.basket")
        self._operator = URLSafeTimedSerializer(list(keys), salt="sluis.internal.operator")

    def basket_cookie(self, basket: str) -> str:
        return self._basket.dumps(basket)

    def basket_from(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            value = self._basket.loads(cookie, max_age=BASKET_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        return value if isinstance(value, str) and 16 <= len(value) <= 32 else None

    def operator_cookie(self, admin_token: str) -> str:
        return self._operator.dumps(
            {"n": secrets.token_urlsafe(16), "t": _fingerprint(admin_token)}
        )

    def operator_from(self, cookie: str | None, admin_token: str | None) -> str | None:
        """The operator session's nonce, if the cookie is ours, fresh, and for today's token."""
        if not cookie or not admin_token:
            return None
        try:
            value = self._operator.loads(cookie, max_age=OPERATOR_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(value, dict) or not isinstance(value.get("n"), str):
            return None
        # A changed admin token ends every session signed in with the old one.
        if not hmac.compare_digest(str(value.get("t")), _fingerprint(admin_token)):
            return None
        return str(value["n"])

    def csrf_token(self, bound_to: str) -> str:
        """A form token bound to one basket or operator session."""
        return hmac.new(self._keys[-1], b"csrf:" + bound_to.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, bound_to: str | None, token: str | None) -> bool:
        if not bound_to or not token:
            return False
        return any(
            hmac.compare_digest(
                hmac.new(key, b"csrf:" + bound_to.encode(), hashlib.sha256).hexdigest(), token
            )
            for key in self._keys
        )


def new_basket_id() -> str:
    return secrets.token_urlsafe(18)
