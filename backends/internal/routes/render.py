"""Renders a page with what every template needs: language, formatting, URLs, headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from backends.internal.context import context_of, path_for
from backends.internal.i18n import (
    LANG_COOKIE,
    LANGUAGE_NAMES,
    LANGUAGES,
    Formatter,
    Translate,
    choose_language,
)

LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
# Pages show personal data (names, baskets): never cached, never framed elsewhere.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def language(request: Request) -> str:
    return choose_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def translator(request: Request) -> Translate:
    return context_of(request).catalogs.translator(language(request))


def cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") or "/"


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _language_links(request: Request, current: str) -> list[dict[str, Any]]:
    links = []
    for code in LANGUAGES:
        query = dict(request.query_params)
        query["lang"] = code
        links.append(
            {
                "code": code,
                "name": LANGUAGE_NAMES[code],
                # Query-only links keep whatever path (and prefix) the page was served under.
                "href": "?" + urlencode(query),
                "current": code == current,
            }
        )
    return links


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Response:
    ctx = context_of(request)
    lang = language(request)
    translate = ctx.catalogs.translator(lang)
    values.update(
        lang=lang,
        _=translate,
        fmt=Formatter(lang, ctx.settings.timezone),
        url=lambda name, **params: path_for(request, name, **params),
        static=lambda name: path_for(request, "static", path=name),
        languages=_language_links(request, lang),
        site_name=ctx.settings.site_name or translate("Summer camps and swimming"),
    )
    response = ctx.templates.TemplateResponse(
        request, template, values, status_code=status, headers={**PAGE_HEADERS, **(headers or {})}
    )
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=LANG_COOKIE_MAX_AGE,
            path=cookie_path(request),
            secure=secure(request),
            httponly=True,
            samesite="lax",
        )
    return response
