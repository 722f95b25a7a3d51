"""The queue page: language, branding, escaping, security headers, the stoppable refresh."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import time
from pathlib import Path

import pytest

from gateway import eta as eta_mod
from gateway.common.net import free_port
from gateway.i18n import choose_language
from gateway.pages import Pages, eta_shape, look_of, safe_markdown
from gateway.roomfile import load_rooms, parse_branding
from gateway.rooms import Branding, RoomConfig, RoomSettingsError
from gateway.standing import Standing, State
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import arrive, gateway_client

JSON = {"accept": "application/json"}
SECURITY = ("content-security-policy", "x-content-type-options", "referrer-policy")


def assert_secure(headers: object, https: bool = False) -> None:
    for name in SECURITY:
        assert name in headers, name  # type: ignore[operator]
    csp = headers["content-security-policy"]  # type: ignore[index]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert re.search(r"script-src 'self'(;|$)", csp)
    assert headers["x-content-type-options"] == "nosniff"  # type: ignore[index]
    assert ("strict-transport-security" in headers) is https  # type: ignore[operator]


def branded(redis_url: str, tmp: Path, **branding: object) -> object:
    settings = make_settings(redis_url, tmp, max_active=0, rate_per_minute=0)
    room = dataclasses.replace(settings.rooms[0], branding=Branding(**branding))  # type: ignore[arg-type]
    return dataclasses.replace(settings, rooms=(room,))


# -- language ---------------------------------------------------------------------

@pytest.mark.parametrize(("cookie", "accept", "expected"), [
    (None, None, "nl"),
    (None, "fr-BE,fr;q=0.9,en;q=0.8", "fr"),
    (None, "en-GB,en;q=0.9", "en"),
    (None, "es-ES,de;q=0.5,fr;q=0.7", "fr"),
    (None, "ja, zh", "nl"),
    (None, "de;q=0, en;q=0.1", "en"),
    ("de", "fr", "de"),
    ("xx", "fr", "fr"),
])
def test_language_comes_from_the_choice_then_the_browser_then_dutch(
        cookie: str | None, accept: str | None, expected: str) -> None:
    assert choose_language(cookie, accept) == expected


async def test_the_page_speaks_the_browsers_language(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path, max_active=0)) as (_, client):
        page = await arrive(client, "/", headers={"accept-language": "fr-BE,fr;q=0.9"})
        assert '<html lang="fr">' in page.text
        assert "Vous êtes numéro <strong>1</strong>" in page.text
        assert page.headers["content-language"] == "fr"
        de = await client.get("/", headers={"accept-language": "de"})
        assert "Sie sind Nummer <strong>1</strong>" in de.text
        en = await client.get("/", headers={"accept-language": "en"})
        assert "You are number <strong>1</strong>" in en.text
        assert "Je bent nummer <strong>1</strong>" in (await client.get("/")).text


async def test_the_language_switch_sticks_through_a_cookie(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path, max_active=0)) as (_, client):
        first = await client.get("/kampen?week=2")
        link = re.search(r'href="(/_sluis/prefs\?lang=en&amp;next=[^"]+)"', first.text)
        assert link is not None
        switched = await client.get(link.group(1).replace("&amp;", "&"))
        assert switched.status_code == 303
        assert switched.headers["location"] == "/kampen?week=2"
        assert "sluis_lang=en" in switched.headers["set-cookie"]
        assert_secure(switched.headers)
        again = await client.get("/kampen?week=2", headers={"accept-language": "fr"})
        assert '<html lang="en">' in again.text and 'aria-current="true">English' in again.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil",
                                    "javascript:alert(1)", "", "/a\r\nSet-Cookie: x=1"])
async def test_the_switch_never_sends_the_visitor_off_the_site(redis_url: str, tmp_path: Path,
                                                               target: str) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        r = await client.get("/_sluis/prefs", params={"lang": "fr", "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/"


def test_dates_are_told_in_brussels_time_in_each_language() -> None:
    pages = Pages()
    room = RoomConfig(name="default", title="Zomerkampen")
    opens = 1_803_456_000_000  # 2027-02-24T08:00:00Z: 09:00 in Brussels
    st = Standing(room="default", state=State.PREQUEUE, position=None, ahead=None,
                queue_length=0, eta=eta_mod.UNKNOWN, opens_at="2027-02-24T09:00:00+01:00",
                poll_after_seconds=30, seed_sha256="ab" * 32, seed=None,
                updated_at="2027-02-24T08:00:00+01:00", opens_at_ms=opens,
                now_ms=opens - 3_600_000)
    nl = pages.queue(st, room, "/", "nl").decode()
    assert "woensdag 24 februari 2027" in nl and "<strong>09:00</strong>" in nl
    assert "01:00:00" in nl and "ab" * 32 in nl and 'href="/_sluis/draw?room=default"' in nl
    assert "mercredi 24 février 2027" in pages.queue(st, room, "/", "fr").decode()
    assert "Mittwoch, 24. Februar 2027" in pages.queue(st, room, "/", "de").decode()
    assert "Wednesday" in pages.queue(st, room, "/", "en").decode()


# -- branding ---------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("accent_color", "red"),
    ("accent_color", "#12345"),
    ("background_color", "#fff;}body{display:none"),
    ("text_color", "expression(alert(1))"),
    ("logo_url", "javascript:alert(1)"),
    ("logo_url", "https://x.example/a.png\" onerror=\"alert(1)"),
    ("logo_url", "//evil.example/logo.png"),
    ("title", 12),
    ("intro", {"xx": "text"}),
])
def test_branding_refuses_what_could_carry_markup_or_css(field: str, value: object) -> None:
    with pytest.raises(RoomSettingsError) as caught:
        parse_branding("zomer", {field: value})
    assert any(field in key for key in caught.value.reasons)


def test_branding_from_toml_with_texts_per_language(tmp_path: Path) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text("""
[rooms.zwemmen]
title = { nl = "Zwembeurten", fr = "Natation" }
logo_url = "https://stad.example/logo.svg"
logo_alt = "Stad"
accent_color = "#7A1F5C"
intro = "Schrijf **elk kind** apart in."
""", encoding="utf-8")
    (room,) = load_rooms(str(config))
    assert room.title == "Zwembeurten" and room.title_in("fr") == "Natation"
    assert room.title_in("de") == "Zwembeurten"
    assert room.branding.accent_color == "#7a1f5c"
    look = look_of(room)
    assert look.style == ":root{--accent:#7a1f5c;--on-accent:#ffffff}"
    digest = base64.b64encode(hashlib.sha256(look.style.encode()).digest()).decode()
    assert f"style-src 'self' 'sha256-{digest}'".encode() in look.csp
    assert b"img-src 'self' data: https://stad.example;" in look.csp


def test_a_room_without_branding_looks_like_sluis() -> None:
    look = look_of(RoomConfig(name="default"))
    assert look.style == "" and look.logo_url is None
    assert b"style-src 'self';" in look.csp


def test_safe_markdown_lets_through_only_its_own_markup() -> None:
    html = safe_markdown("Hallo **ouders** en *kinderen*.\n\n[Info](https://stad.example/a?b=1&c=2)"
                         " <script>alert(1)</script> [x](javascript:alert(1))"
                         ' <img src=x onerror="alert(1)">')
    assert "<p>Hallo <strong>ouders</strong> en <em>kinderen</em>.</p>" in html
    assert '<a href="https://stad.example/a?b=1&amp;c=2" rel="noopener noreferrer">Info</a>' in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and 'href="javascript' not in html


async def test_a_title_or_text_with_script_never_reaches_the_page_unescaped(
        redis_url: str, tmp_path: Path) -> None:
    evil = '<script>alert("t")</script>'
    settings = branded(redis_url, tmp_path, titles=(("", evil),), intro=(("", f"**{evil}**"),),
                       logo_alt=evil)
    async with gateway_client(settings) as (_, client):  # type: ignore[arg-type]
        for path in ("/", "/x?q=<script>alert(2)</script>", '/"><script>alert(3)</script>'):
            page = await client.get(path)
            assert page.status_code == 200
            assert "<script>" not in page.text and "alert(" in page.text
            assert page.text.count("<script") == 1  # the page's own script file
            assert '<script src="/_sluis/static/sluis.js" defer></script>' in page.text


async def test_branding_colours_reach_the_page_through_a_hashed_style(redis_url: str,
                                                                      tmp_path: Path) -> None:
    settings = branded(redis_url, tmp_path, accent_color="#ffd500", logo_url="/logo.png")
    async with gateway_client(settings) as (_, client):  # type: ignore[arg-type]
        page = await client.get("/")
        style = re.search(r"<style>(.*?)</style>", page.text)
        assert style is not None and style.group(1) == ":root{--accent:#ffd500;--on-accent:#10191f}"
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert f"'sha256-{digest}'" in page.headers["content-security-policy"]
        assert '<img class="logo" src="/logo.png" alt="">' in page.text


# -- security headers on every kind of answer ---------------------------------------

@pytest.mark.parametrize("https", [False, True])
async def test_every_answer_of_sluis_carries_the_security_headers(redis_url: str, tmp_path: Path,
                                                                  https: bool) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=0)
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    async with gateway_client(settings) as (_, client):
        client.base_url = "https://sluis.test" if https else "http://sluis.test"  # type: ignore[assignment]
        answers = {
            "page": await client.get("/inschrijven"),
            "page json": await client.get("/inschrijven", headers=JSON),
            "status": await client.get("/_sluis/status"),
            "status unknown room": await client.get("/_sluis/status?room=nope"),
            "status post": await client.post("/_sluis/status"),
            "static css": await client.get("/_sluis/static/sluis.css"),
            "static js": await client.get("/_sluis/static/sluis.js"),
            "static missing": await client.get("/_sluis/static/nope.js"),
            "livez": await client.get("/_sluis/livez"),
            "readyz": await client.get("/_sluis/readyz"),
            "draw": await client.get("/_sluis/draw?room=default"),
            "admin 401": await client.get("/_sluis/admin/api/rooms"),
            "admin": await client.get("/_sluis/admin/api/rooms", headers=auth),
            "prefs": await client.get("/_sluis/prefs?refresh=off"),
            "unknown": await client.get("/_sluis/nothing-here"),
        }
        client.cookies.clear()
        answers["status no cookie"] = await client.get("/_sluis/status")
    for name, r in answers.items():
        assert r.status_code < 500, name
        assert_secure(r.headers, https)
    assert answers["status"].json()["state"] == "queued"
    assert answers["static js"].headers["content-type"].startswith(("text/javascript",
                                                                    "application/javascript"))


async def test_the_503_and_429_pages_carry_the_security_headers(redis_url: str,
                                                                tmp_path: Path) -> None:
    down = dataclasses.replace(make_settings(redis_url, tmp_path),
                               redis_url=f"redis://127.0.0.1:{free_port()}/0",
                               redis_timeout_seconds=0.5)
    async with gateway_client(down) as (_, client):
        # The first answer needs no Redis; the place, on the next request, does.
        first = await client.get("/", headers={"accept-language": "en"})
        assert first.status_code == 200 and "One moment" in first.text
        assert_secure(first.headers)
        page = await client.get("/", headers={"accept-language": "en"})
        assert page.status_code == 503 and "Keep this page open" in page.text
        assert_secure(page.headers)
        as_json = await client.get("/", headers=JSON)
        assert as_json.status_code == 503 and as_json.json()["keep_page_open"] is True
        assert_secure(as_json.headers)
        assert_secure((await client.get("/_sluis/status")).headers)

    limited = dataclasses.replace(make_settings(redis_url, tmp_path), joins_per_ip_per_minute=1)
    async with gateway_client(limited) as (_, client):
        assert (await arrive(client, "/")).status_code == 200
        client.cookies.clear()
        page = await arrive(client, "/")
        assert page.status_code == 429 and "Houd deze pagina open" in page.text
        assert_secure(page.headers)
        client.cookies.clear()
        as_json = await arrive(client, "/", headers=JSON)
        assert as_json.status_code == 429
        assert_secure(as_json.headers)
        client.cookies.clear()
        await client.get("/")
        polled = await client.get("/_sluis/status?room=default&join=1")  # the page's first call
        assert polled.status_code == 429 and polled.json()["error"] == "too_many_joins"
        assert polled.headers["retry-after"] == "60"
        assert_secure(polled.headers)


# -- the refresh the visitor can stop -------------------------------------------------

async def test_the_page_refreshes_without_script_until_the_visitor_stops_it(
        redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path, max_active=0)) as (_, client):
        page = await client.get("/kampen")
        refresh = re.search(r'<noscript><meta http-equiv="refresh" content="(\d+)"></noscript>',
                            page.text)
        assert refresh is not None and 1 <= int(refresh.group(1)) <= 60
        assert 'data-refresh="on"' in page.text
        stop = re.search(r'href="(/_sluis/prefs\?refresh=off&amp;next=[^"]+)"', page.text)
        assert stop is not None
        r = await client.get(stop.group(1).replace("&amp;", "&"))
        assert r.status_code == 303 and r.headers["location"] == "/kampen"
        assert "sluis_refresh=off" in r.headers["set-cookie"]

        stopped = await client.get("/kampen")
        assert 'http-equiv="refresh"' not in stopped.text and 'data-refresh="off"' in stopped.text
        # Without updates the visitor must come back within the grace period: say so.
        assert "minstens om de 5 minuten" in stopped.text
        start = re.search(r'href="(/_sluis/prefs\?refresh=on&amp;next=[^"]+)"', stopped.text)
        assert start is not None
        await client.get(start.group(1).replace("&amp;", "&"))
        assert 'http-equiv="refresh"' in (await client.get("/kampen")).text


async def test_the_page_url_answers_json_for_apps(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path, max_active=0)) as (_, client):
        first = await client.get("/inschrijven", headers=JSON)
        assert first.headers["content-type"] == "application/json"
        assert first.headers["cache-control"] == "no-store"
        assert first.json()["state"] == "none" and first.json()["poll_after_seconds"] == 1
        r = await client.get("/inschrijven", headers=JSON)
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert body["state"] == "queued" and body["position"] == 1 and body["ahead"] == 0
        assert set(body) >= {"room", "queue_length", "eta_seconds", "eta_low_seconds",
                             "eta_high_seconds", "opens_at", "poll_after_seconds", "draw",
                             "updated_at"}
        assert r.headers["cache-control"] == "no-store"


def test_eta_is_told_as_a_range_in_minutes_or_hours() -> None:
    assert eta_shape(None, None) == ("unknown", 0, 0)
    assert eta_shape(10, 50) == ("soon", 0, 0)
    assert eta_shape(150, 290) == ("min", 3, 5)
    assert eta_shape(100, 110) == ("min", 2, 3)  # a range, never "2 to 2"
    assert eta_shape(7200, 12000) == ("hours", 2, 4)


def test_a_queue_page_costs_microseconds_once_its_shape_is_known() -> None:
    pages = Pages()
    room = RoomConfig(name="default", title="Zomerkampen")
    st = Standing(room="default", state=State.QUEUED, position=1234, ahead=1233,
                queue_length=2045, eta=eta_mod.Eta(600, 480, 900), opens_at=None,
                poll_after_seconds=20, seed_sha256=None, seed=None,
                updated_at="2027-03-01T09:03:12+01:00", opens_at_ms=0,
                now_ms=1_803_369_792_000)
    pages.queue(st, room, "/inschrijven", "nl")
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        pages.queue(st, room, "/inschrijven", "nl")
    per_call = (time.perf_counter() - started) / n
    # Measured near 10 µs; the bound leaves room for slow, shared test machines.
    assert per_call < 200e-6
