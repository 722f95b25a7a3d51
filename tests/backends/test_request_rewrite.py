"""The proxy between browsers and a shop that checks where forms come from and names itself
everywhere: Origin and Referer on the way in, every textual answer on the way out. Real
uvicorn gateway, real uvicorn shop (`shop_app` below), 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import brotli
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from backends.config import BackendConfig
from backends.proxy import ProxyBackend
from gateway.common.net import free_port
from gateway.roomfile import parse_backend
from gateway.store.embedded import EmbeddedRedis
from harness.processes import ROOT, start, stop, wait_http
from tests.backends.support import gateway

# The shop's canonical name, written into its pages whatever address it is reached at.
CANONICAL = "https://winkel.stad.example"


def _base(request: Request) -> str:
    """The shop's own address as it writes it (Django's build_absolute_uri): scheme from
    X-Forwarded-Proto, which it trusts, then the Host it was sent."""
    scheme = "https" if request.headers.get("x-forwarded-proto") == "https" else "http"
    return f"{scheme}://{request.headers['host']}{request.scope.get('root_path', '')}"


def shop_app() -> ASGIApp:
    async def seen(request: Request) -> Response:
        h = request.headers
        return PlainTextResponse("seen", headers={
            f"x-seen-{name}": h.get(name, "-")
            for name in ("host", "origin", "referer", "x-forwarded-proto")})

    async def form(request: Request) -> Response:
        # What Django's CSRF protection checks, with SECURE_PROXY_SSL_HEADER set.
        good = _base(request).removesuffix(request.scope.get("root_path", ""))
        origin = request.headers.get("origin")
        if origin is not None and origin != good:
            return PlainTextResponse(f"Origin checking failed - {origin} does not match any "
                                     "trusted origins.", status_code=403)
        referer = request.headers.get("referer", "")
        if origin is None and good.startswith("https:") and not referer.startswith(good + "/"):
            return PlainTextResponse("Referer checking failed", status_code=403)
        return PlainTextResponse("saved")

    async def calendar(request: Request) -> Response:
        b = _base(request)
        return Response("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
                        f"SUMMARY:Sportkamp\r\nURL:{b}/kampen/sport\r\nEND:VEVENT\r\n"
                        "END:VCALENDAR\r\n", media_type="text/calendar; charset=utf-8")

    async def export(request: Request) -> Response:
        return Response(f"kamp,link\r\nsport,{_base(request)}/kampen/sport\r\n",
                        media_type="text/csv")

    async def api(request: Request) -> Response:
        return JSONResponse({"links": {"self": f"{_base(request)}/api/items"}, "data": []},
                            media_type="application/vnd.api+json")

    async def manifest(request: Request) -> Response:
        b = _base(request)
        return JSONResponse({"name": "Winkel", "start_url": f"{b}/", "scope": f"{b}/"},
                            media_type="application/manifest+json")

    async def headers(request: Request) -> Response:
        b = _base(request)
        host = request.headers["host"]
        return Response("<!doctype html><title>Kampen</title>", media_type="text/html",
                        headers={
            "content-security-policy": f"default-src 'self' {b}; img-src {host} "
                                       f"https://cdn.example; report-uri {b}/csp",
            "content-security-policy-report-only": f"script-src {b}",
            "link": f"<{b}/style.css>; rel=preload; as=style, "
                    "<https://cdn.example/font.woff2>; rel=preload; as=font",
            "refresh": f"30; url={b}/kampen",
            "content-location": f"{b}/kampen.html"})

    async def page(request: Request) -> Response:
        return Response(f'<a href="{_base(request)}/kampen">kampen</a> '
                        f'<link rel="canonical" href="{CANONICAL}/kampen">',
                        media_type="text/html")

    async def cookies(request: Request) -> Response:
        response = PlainTextResponse("cookies")
        response.set_cookie("own", "1", domain=request.headers["host"].split(":")[0])
        response.set_cookie("parent", "2", domain=".stad.example")
        response.set_cookie("other", "3", domain="elders.example")
        return response

    async def brotli_page(request: Request) -> Response:
        # Sent in br whatever the request accepted, as some CDNs do.
        text = "".join(f'<p><a href="{_base(request)}/kampen/{i}">kamp {i}</a></p>\n'
                       for i in range(6000)).encode()
        return Response(brotli.compress(text), media_type="text/html",
                        headers={"content-encoding": "br"})

    async def zstd_page(request: Request) -> Response:
        return Response(ZSTD_BYTES, media_type="text/html", headers={"content-encoding": "zstd"})

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            yield f"data: {_base(request)}/kampen\n\n".encode()
            await asyncio.sleep(3)
            yield b"data: einde\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    routes = [Route("/seen", seen, methods=["GET", "POST"]),
              Route("/form", form, methods=["POST"]), Route("/kamp.ics", calendar),
              Route("/export.csv", export), Route("/api/items", api),
              Route("/manifest.webmanifest", manifest), Route("/headers", headers),
              Route("/page", page), Route("/cookies", cookies),
              Route("/brotli", brotli_page), Route("/zstd", zstd_page),
              Route("/events", events)]
    return Starlette(routes=[*routes, Mount("/shop", routes=routes)])


# Bytes labelled zstd, which neither the proxy nor the test reads.
ZSTD_BYTES = b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def sites(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[str, str, Path]]:
    """(shop URL, gateway URL, the gateway's log): rooms told apart by Host, all in front
    of the same shop; the test client counts as a TLS proxy that may say https."""
    tmp = tmp_path_factory.mktemp("request-rewrite")
    port = free_port()
    proc = start(["-m", "uvicorn", "--factory",
                  "tests.backends.test_request_rewrite:shop_app", "--port", str(port),
                  "--log-level", "warning", "--no-access-log"],
                 dict(os.environ, PYTHONPATH=str(ROOT)), tmp / "shop.log")
    up = f"http://127.0.0.1:{port}"
    try:
        wait_http(up + "/seen")
        room = f'upstream = "{up}"\nmode = "passthrough"\n'
        rooms = (f'[rooms.shop]\nhosts = ["*"]\n{room}'
                 f'[rooms.kept]\nhosts = ["kept.test"]\npreserve_host = true\n{room}'
                 f'[rooms.named]\nhosts = ["named.test"]\nupstream_origin = "{CANONICAL}"\n'
                 f'{room}'
                 f'[rooms.based]\nhosts = ["based.test"]\nupstream = "{up}/shop"\n'
                 'mode = "passthrough"\n')
        with gateway(redis_server.url, tmp, rooms,
                     SLUIS_TRUSTED_PROXIES="127.0.0.1") as (gw, _):
            yield up, gw, tmp / "gateway.log"
    finally:
        stop(proc)


def _seen(client: httpx.Client, **headers: str) -> dict[str, str]:
    answer = client.post("/seen", headers=headers)
    assert answer.status_code == 200, answer.text
    return {k.removeprefix("x-seen-"): v for k, v in answer.headers.items()
            if k.startswith("x-seen-")}


def test_a_form_posted_on_the_gateway_passes_the_shops_origin_check(
        sites: tuple[str, str, Path]) -> None:
    up, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10) as browser:
        seen = _seen(browser, Origin=gw, Referer=f"{gw}/kampen?week=1#top")
        assert seen["host"] == up.split("://")[1]
        assert seen["origin"] == up
        assert seen["referer"] == f"{up}/kampen?week=1#top"
        assert _seen(browser, Referer=gw)["referer"] == f"{up}/"
        saved = browser.post("/form", headers={"Origin": gw, "Referer": f"{gw}/kampen"})
        assert saved.status_code == 200 and saved.text == "saved"
    # The same form sent to the shop directly with the gateway's Origin is refused: the
    # check the proxy satisfies is a real one.
    refused = httpx.post(f"{up}/form", headers={"Origin": gw})
    assert refused.status_code == 403 and "Origin checking failed" in refused.text


def test_a_foreign_origin_stays_foreign_and_the_shop_still_refuses_it(
        sites: tuple[str, str, Path]) -> None:
    _, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10) as browser:
        for origin in ("https://evil.example", "null", f"{gw}0", gw.replace("http:", "https:")):
            assert _seen(browser, Origin=origin)["origin"] == origin
            refused = browser.post("/form", headers={"Origin": origin})
            assert refused.status_code == 403, origin
        for referer in ("https://evil.example/kampen", f"{gw}0/kampen", f"{gw}.evil/x"):
            assert _seen(browser, Referer=referer)["referer"] == referer


def test_behind_a_tls_proxy_the_shop_is_told_https_and_sees_an_https_origin(
        sites: tuple[str, str, Path]) -> None:
    up, gw, _ = sites
    public = gw.replace("http:", "https:")
    with httpx.Client(base_url=gw, timeout=10,
                      headers={"X-Forwarded-Proto": "https"}) as browser:
        seen = _seen(browser, Origin=public, Referer=f"{public}/basket")
        assert seen["x-forwarded-proto"] == "https"
        own = up.replace("http:", "https:")
        assert seen["origin"] == own and seen["referer"] == f"{own}/basket"
        assert browser.post("/form", headers={"Origin": public}).status_code == 200
        # Without Origin, a secure form is judged by its Referer.
        assert browser.post("/form", headers={"Referer": f"{public}/basket"}).status_code == 200
        assert browser.post("/form", headers={"Referer": "https://evil.example/"}
                            ).status_code == 403


def test_with_preserve_host_the_shop_sees_the_visitors_host_origin_and_referer(
        sites: tuple[str, str, Path]) -> None:
    _, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10, headers={"Host": "kept.test"}) as browser:
        seen = _seen(browser, Origin="http://kept.test", Referer="http://kept.test/kampen")
        assert seen == {"host": "kept.test", "origin": "http://kept.test",
                        "referer": "http://kept.test/kampen", "x-forwarded-proto": "http"}
        assert browser.post("/form", headers={"Origin": "http://kept.test"}).status_code == 200


def test_upstream_origin_names_what_the_shop_believes_it_is(
        sites: tuple[str, str, Path]) -> None:
    up, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10, headers={"Host": "named.test"}) as browser:
        seen = _seen(browser, Origin="http://named.test", Referer="http://named.test/a?b=1")
        assert seen["host"] == up.split("://")[1]
        assert seen["origin"] == CANONICAL and seen["referer"] == f"{CANONICAL}/a?b=1"
        assert _seen(browser, Origin="https://evil.example")["origin"] == "https://evil.example"
        # Links naming the canonical name are the gateway's too.
        page = browser.get("/page").text
        assert page == ('<a href="http://named.test/kampen">kampen</a> '
                        '<link rel="canonical" href="http://named.test/kampen">')


def test_a_referer_gains_the_upstreams_base_path(sites: tuple[str, str, Path]) -> None:
    up, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10, headers={"Host": "based.test"}) as browser:
        seen = _seen(browser, Origin="http://based.test", Referer="http://based.test/basket")
        assert seen["origin"] == up and seen["referer"] == f"{up}/shop/basket"
        assert browser.post("/form", headers={"Origin": "http://based.test"}).text == "saved"


def test_calendars_csv_api_json_and_manifests_name_the_gateway(
        sites: tuple[str, str, Path]) -> None:
    up, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10) as browser:
        ics = browser.get("/kamp.ics")
        assert f"URL:{gw}/kampen/sport\r\n" in ics.text and up not in ics.text
        assert ics.headers["content-length"] == str(len(ics.content))
        assert browser.get("/export.csv").text == f"kamp,link\r\nsport,{gw}/kampen/sport\r\n"
        api = browser.get("/api/items")
        assert api.headers["content-type"] == "application/vnd.api+json"
        assert api.json() == {"links": {"self": f"{gw}/api/items"}, "data": []}
        manifest = json.loads(browser.get("/manifest.webmanifest").content)
        assert manifest["start_url"] == f"{gw}/" and manifest["scope"] == f"{gw}/"


def test_security_policy_link_refresh_and_content_location_name_the_gateway(
        sites: tuple[str, str, Path]) -> None:
    _, gw, _ = sites
    netloc = gw.split("://")[1]
    with httpx.Client(base_url=gw, timeout=10) as browser:
        h = browser.get("/headers").headers
    assert h["content-security-policy"] == (f"default-src 'self' {gw}; img-src {netloc} "
                                            f"https://cdn.example; report-uri {gw}/csp")
    assert h["content-security-policy-report-only"] == f"script-src {gw}"
    assert h["link"] == (f"<{gw}/style.css>; rel=preload; as=style, "
                         "<https://cdn.example/font.woff2>; rel=preload; as=font")
    assert h["refresh"] == f"30; url={gw}/kampen"
    assert h["content-location"] == f"{gw}/kampen.html"


def test_cookies_for_the_shops_domains_land_on_the_gateway_and_others_stay(
        sites: tuple[str, str, Path]) -> None:
    _, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10, headers={"Host": "named.test"}) as browser:
        cookies = browser.get("/cookies").headers.get_list("set-cookie")
    by_name = {c.split("=", 1)[0]: c.lower() for c in cookies}
    assert "domain" not in by_name["own"]        # the shop's own host: host-only now
    assert "domain" not in by_name["parent"]     # a parent of its canonical name: too
    assert "domain=elders.example" in by_name["other"]  # another name: as it was


def test_a_brotli_answer_sent_unasked_is_decoded_and_rewritten(
        sites: tuple[str, str, Path]) -> None:
    up, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10) as browser:
        answer = browser.get("/brotli", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and "content-encoding" not in answer.headers
    assert up not in answer.text
    assert answer.text.count(f'href="{gw}/kampen/') == 6000
    assert answer.text.endswith(f'<p><a href="{gw}/kampen/5999">kamp 5999</a></p>\n')


def test_an_answer_the_proxy_cannot_decode_passes_unchanged_and_is_logged(
        sites: tuple[str, str, Path]) -> None:
    _, gw, log = sites
    with httpx.Client(base_url=gw, timeout=10) as browser:
        for _ in range(3):
            with browser.stream("GET", "/zstd") as answer:
                assert answer.headers["content-encoding"] == "zstd"
                assert b"".join(answer.iter_raw()) == ZSTD_BYTES
    deadline = time.monotonic() + 5
    while True:
        warnings = [json.loads(line) for line in log.read_text().splitlines()
                    if "cannot decode" in line]
        if warnings or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # Said once a minute, not once per answer.
    assert len(warnings) == 1
    assert warnings[0]["content_encoding"] == "zstd" and warnings[0]["level"] == "warning"


def test_server_sent_events_are_rewritten_without_being_held_back(
        sites: tuple[str, str, Path]) -> None:
    _, gw, _ = sites
    with httpx.Client(base_url=gw, timeout=10) as browser, \
            browser.stream("GET", "/events") as answer:
        started = time.monotonic()
        first = next(answer.iter_lines())
        # The shop sends the next event 3 s later: this one was not waiting for it.
        assert time.monotonic() - started < 2
        assert first == f"data: {gw}/kampen"


def test_upstream_origin_must_be_an_origin() -> None:
    config, reasons = parse_backend("r", {"upstream": "http://10.0.0.5:8000",
                                          "upstream_origin": "https://winkel.stad.example/"})
    assert not reasons and config is not None
    assert config.upstream_origin == "https://winkel.stad.example"
    for bad in ("winkel.stad.example", "ftp://winkel.stad.example", "https://w.example/shop",
                "https://w.example?a=1", "https://w.example:99999", 5):
        _, reasons = parse_backend("r", {"upstream": "http://10.0.0.5:8000",
                                         "upstream_origin": bad})
        assert set(reasons) == {"r.upstream_origin"}, bad


def test_with_public_url_the_public_origin_is_the_configured_one() -> None:
    proxy = ProxyBackend(BackendConfig(kind="proxy", upstream="http://10.0.0.5:8000/shop",
                                       public_url="https://Inschrijven.stad.be"))
    headers = [(b"host", b"gateway-3.internal"), (b"origin", b"https://inschrijven.stad.be"),
               (b"referer", b"https://inschrijven.stad.be/kampen?x=1")]
    scope = {"type": "http", "method": "POST", "scheme": "https", "path": "/a",
             "query_string": b"", "client": ("203.0.113.9", 4000), "headers": headers}
    head = proxy._request_head(scope, b"POST")[0].decode().split("\r\n")
    assert "origin: https://10.0.0.5:8000" in head
    assert "referer: https://10.0.0.5:8000/shop/kampen?x=1" in head
    assert "host: 10.0.0.5:8000" in head and "x-forwarded-proto: https" in head
    # The internal host name the balancer used is not the public origin.
    headers[1] = (b"origin", b"https://gateway-3.internal")
    head = proxy._request_head(scope, b"POST")[0].decode().split("\r\n")
    assert "origin: https://gateway-3.internal" in head
