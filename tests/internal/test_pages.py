"""Parents' pages: language, the basket flow, CSRF, no inline script, any mount prefix."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from backends.internal.i18n import LANGUAGES, Catalogs

from .support import Running, admission_token, camp

TEMPLATES = Path(__file__).parents[2] / "backends" / "internal" / "templates"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def plain(response: httpx.Response) -> str:
    """The page with Babel's non-breaking spaces as plain ones."""
    return response.text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "no CSRF field on the page"
    return match.group(1)


def form_for(html: str, **values: str) -> dict[str, str]:
    return {"csrf": csrf_of(html), **values}


CHILD = {
    "first_name": "Zoë",
    "last_name": "Peeters",
    "birth_date": "2018-05-14",
    "email": "gezin@example.be",
    "postcode": "9990",
}


def test_every_text_of_the_templates_is_translated() -> None:
    pattern = re.compile(r'_\(\s*"((?:[^"\\]|\\.)*)"')
    ids = sorted(
        {m for path in TEMPLATES.rglob("*.html") for m in pattern.findall(path.read_text())}
    )
    catalogs = Catalogs()
    for lang in LANGUAGES:
        if lang != "en":
            assert catalogs.missing(lang, ids) == [], lang


async def test_the_language_follows_the_browser_then_the_parents_choice(
    sqlite_app: Running,
) -> None:
    client = sqlite_app.client
    french = await client.get("/", headers={"Accept-Language": "fr-BE,fr;q=0.9,nl;q=0.5"})
    assert '<html lang="fr">' in french.text and "Stages d&#39;été et natation" in french.text
    unknown = await client.get("/", headers={"Accept-Language": "es"})
    assert '<html lang="nl">' in unknown.text and "Zomerkampen en zwemmen" in unknown.text
    chosen = await client.get("/?lang=de", headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in chosen.text
    assert "sluis_lang=de" in chosen.headers["set-cookie"]
    later = await client.get("/", headers={"Accept-Language": "fr"})
    assert '<html lang="de">' in later.text


async def test_prices_and_dates_are_written_the_local_way(sqlite_app: Running) -> None:
    await sqlite_app.add(camp(prices=(8550, 11000)))
    dutch = plain(await sqlite_app.client.get("/?lang=nl"))
    assert "€ 85,50" in dutch and "ma 5 – vr 9 jul 2027" in dutch
    english = plain(await sqlite_app.client.get("/?lang=en"))
    assert "Mon, 5 – Fri, 9 Jul 2027" in english


async def test_a_parent_holds_a_place_checks_out_and_gets_a_confirmation(
    sqlite_app: Running,
) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp(capacity=2))
    listing = await client.get("/?born=2018&lang=en")
    assert f'href="/sessions/{session}"' in listing.text
    assert "2 of 2 places free" in listing.text

    form_page = await client.get(f"/sessions/{session}")
    assert form_page.status_code == 200
    held = await client.post(f"/sessions/{session}", data=form_for(form_page.text, **CHILD))
    assert (held.status_code, held.headers["location"]) == (303, "/basket")

    basket = await client.get("/basket")
    assert "Zoë Peeters" in basket.text and "85,00 €" in plain(basket)  # en_BE
    done = await client.post("/basket/checkout", data=form_for(basket.text))
    assert (done.status_code, done.headers["location"]) == (303, "/basket/done")
    assert done.headers["sluis-session"] == "end"
    confirmation = await client.get("/basket/done")
    assert "Registration confirmed" in confirmation.text or "Inschrijving bevestigd" in (
        confirmation.text
    )
    assert "Zoë" in confirmation.text

    again = await client.get(f"/sessions/{session}")
    assert 'value="gezin@example.be"' in again.text  # the household is remembered
    twice = await client.post(f"/sessions/{session}", data=form_for(again.text, **CHILD))
    assert twice.status_code == 422
    assert "This child is already registered for this session." in twice.text


async def test_form_errors_are_shown_beside_their_fields(sqlite_app: Running) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp())
    page = await client.get(f"/sessions/{session}?lang=en")
    bad = {**CHILD, "birth_date": "2018-02-30", "email": "nope"}
    answer = await client.post(f"/sessions/{session}", data=form_for(page.text, **bad))
    assert answer.status_code == 422
    assert 'id="birth_date-error"' in answer.text and "This date does not exist." in answer.text
    assert 'aria-describedby="birth_date-hint birth_date-error"' in answer.text
    assert 'id="email-error"' in answer.text
    assert 'value="Zoë"' in answer.text  # what was typed stays


async def test_every_mistake_in_the_form_is_listed_at_once(sqlite_app: Running) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp(born=(2016, 2020)))
    page = await client.get(f"/sessions/{session}?lang=en")
    # A child too young for the camp, a blank name, no e-mail address, no postcode: every
    # one of them in the first answer, not one after the other.
    bad = {**CHILD, "first_name": "", "birth_date": "2022-05-14", "email": "nope",
           "postcode": "abc"}
    answer = await client.post(f"/sessions/{session}", data=form_for(page.text, **bad,
                                                                      social_tariff="1"))
    assert answer.status_code == 422
    summary = answer.text.split('class="error-summary"')[1].split("</div>")[0]
    expected = {
        "first_name": "Please fill this in.",
        "birth_date": "This activity is not for a child born in this year.",
        "email": "This is not an e-mail address.",
        "postcode": "This is not a postcode. A Belgian postcode has four digits, for example 9000.",
    }
    for field, text in expected.items():
        assert f'<a href="#{field}">{text}</a>' in summary, field
        assert f'id="{field}-error"' in answer.text
    assert 'id="social_tariff" name="social_tariff" type="checkbox" value="1" checked' in (
        answer.text)
    listing = (await client.get("/api/activities")).json()["activities"][0]["sessions"][0]
    assert listing["booked"] == 0


@pytest.mark.parametrize("postcode", ["abc", "ABCD", "a-b-c", "12", "9"])
async def test_a_postcode_without_digits_enough_is_refused(sqlite_app: Running,
                                                           postcode: str) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp())
    page = await client.get(f"/sessions/{session}?lang=nl")
    answer = await client.post(f"/sessions/{session}",
                               data=form_for(page.text, **{**CHILD, "postcode": postcode}))
    assert answer.status_code == 422
    assert "Dit is geen postcode. Een Belgische postcode heeft vier cijfers" in answer.text


@pytest.mark.parametrize("postcode", ["9000", "1012 AB", "L-1234", "75001", "SW1A 1AA"])
async def test_postcodes_of_the_parents_neighbours_are_taken(sqlite_app: Running,
                                                            postcode: str) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp())
    page = await client.get(f"/sessions/{session}")
    answer = await client.post(f"/sessions/{session}",
                               data=form_for(page.text, **{**CHILD, "postcode": postcode}))
    assert (answer.status_code, answer.headers["location"]) == (303, "/basket")


async def test_the_form_says_which_postcodes_pay_the_resident_price(sqlite_app: Running) -> None:
    (session,) = await sqlite_app.add(camp(prices=(8500, 11000), social_discount_percent=80))
    page = plain(await sqlite_app.client.get(f"/sessions/{session}?lang=en"))
    assert ("The postcode you give decides the price: households with postcode 9990, 9991 "
            "pay the resident price, every other postcode pays the price for others.") in page
    assert "With the social tariff (UiTPAS), either price is 80% lower." in page
    assert ('id="postcode-hint">Postcode 9990, 9991: the resident price, 85,00 €. Any other '
            "postcode: 110,00 €.") in page
    dutch = plain(await sqlite_app.client.get(f"/sessions/{session}?lang=nl"))
    assert "gezinnen met postcode 9990, 9991 betalen het inwonerstarief" in dutch
    # Resident or not, the basket charges what the form said.
    for name, postcode, price in (("Lotte", "9991", "85,00 €"), ("Mats", "9000", "110,00 €")):
        form = await sqlite_app.client.get(f"/sessions/{session}?lang=en")
        child = {**CHILD, "first_name": name, "postcode": postcode}
        held = await sqlite_app.client.post(f"/sessions/{session}",
                                            data=form_for(form.text, **child))
        assert held.status_code == 303
        basket = plain(await sqlite_app.client.get("/basket"))
        row = basket.split(name)[1].split("</li>")[0]
        assert price in row, row


async def test_a_full_session_offers_the_waiting_list(sqlite_app: Running) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp(capacity=1))
    page = await client.get(f"/sessions/{session}?lang=en")
    await client.post(f"/sessions/{session}", data=form_for(page.text, **CHILD))
    page = await client.get(f"/sessions/{session}")
    assert 'name="waitlist" value="1"' in page.text
    other = {**CHILD, "first_name": "Lars"}
    await client.post(f"/sessions/{session}", data=form_for(page.text, **other, waitlist="1"))
    basket = (await client.get("/basket")).text
    assert "On the waiting list" in basket and "number 1 in line" in basket


async def test_posts_without_the_forms_token_are_refused(sqlite_app: Running) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp())
    await client.get(f"/sessions/{session}")
    forged = await client.post(f"/sessions/{session}", data={**CHILD, "csrf": "0" * 64})
    assert forged.status_code == 403
    assert (await client.post("/basket/checkout", data={})).status_code == 403
    listing = (await client.get("/api/activities")).json()["activities"][0]["sessions"][0]
    assert listing["booked"] == 0


async def test_pages_carry_no_inline_script_or_style(sqlite_app: Running) -> None:
    client = sqlite_app.client
    (session,) = await sqlite_app.add(camp())
    for path in ("/", f"/sessions/{session}", "/basket", "/basket/done", "/admin/login"):
        html = (await client.get(path)).text
        assert "<script" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path
        assert " style=" not in html, path
        assert re.search(r"<h1[ >]", html), path
        assert '<html lang="' in html


async def test_links_work_under_a_mount_prefix(sqlite_app: Running) -> None:
    host = Starlette(routes=[Mount("/boeken", app=sqlite_app.app)])
    (session,) = await sqlite_app.add(camp())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host),
        base_url="http://city.test",
        headers={"Sluis-Admission": admission_token()},
    ) as client:
        home = await client.get("/boeken/")
        assert home.status_code == 200
        assert f'href="/boeken/sessions/{session}"' in home.text
        assert 'href="/boeken/static/booking.css"' in home.text
        assert (await client.get("/boeken/static/booking.css")).status_code == 200
        page = await client.get(f"/boeken/sessions/{session}")
        assert f'action="/boeken/sessions/{session}"' in page.text
        held = await client.post(f"/boeken/sessions/{session}", data=form_for(page.text, **CHILD))
        assert held.headers["location"] == "/boeken/basket"
        assert (
            "Path=/boeken" in held.headers.get("set-cookie", "")
            or (await client.get("/boeken/basket")).status_code == 200
        )
        assert "Zoë" in (await client.get("/boeken/basket")).text
