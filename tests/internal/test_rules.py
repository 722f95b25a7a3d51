"""Age by birth year, registration windows with a head start for residents, prices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backends.internal.rules import AgeRule, Window, WindowRule, is_resident, price_cents

from .support import START, Running, camp, invariant_holds, register, registration

T0 = datetime(2027, 3, 6, 8, 0, tzinfo=UTC)
SESSION_START = datetime(2027, 7, 5, 7, 0, tzinfo=UTC)


def test_age_counts_by_birth_year_not_birthday() -> None:
    rule = AgeRule(2016, 2019)
    assert rule.allows(date(2016, 1, 1)) and rule.allows(date(2019, 12, 31))
    assert not rule.allows(date(2015, 12, 31)) and not rule.allows(date(2020, 1, 1))


def test_residents_may_start_before_everyone_else() -> None:
    window = WindowRule(opens_at=T0 + timedelta(days=2), residents_open_at=T0, closes_at=None)
    assert window.state(True, T0 - timedelta(seconds=1), SESSION_START) is Window.NOT_YET
    assert window.state(True, T0, SESSION_START) is Window.OPEN
    assert window.state(False, T0, SESSION_START) is Window.NOT_YET
    assert window.state(False, T0 + timedelta(days=2), SESSION_START) is Window.OPEN
    assert window.state(False, SESSION_START, SESSION_START) is Window.CLOSED


def test_prices_follow_residence_and_social_tariff() -> None:
    assert (
        price_cents(8500, 11000, resident=True, social_tariff=False, social_discount_percent=80)
        == 8500
    )
    assert (
        price_cents(8500, 11000, resident=False, social_tariff=False, social_discount_percent=80)
        == 11000
    )
    assert (
        price_cents(8500, 11000, resident=True, social_tariff=True, social_discount_percent=80)
        == 1700
    )
    assert (
        price_cents(350, 500, resident=True, social_tariff=True, social_discount_percent=50) == 175
    )
    assert (
        price_cents(355, 500, resident=True, social_tariff=True, social_discount_percent=50) == 178
    )
    assert is_resident(" 9990 ", frozenset({"9990"})) and not is_resident(
        "1000", frozenset({"9990"})
    )


async def test_a_child_outside_the_birth_years_is_refused(engine_app: Running) -> None:
    (session,) = await engine_app.add(camp(born=(2016, 2020)))
    code, body = await register(engine_app, registration(session, birth_date="2021-01-01"))
    assert code == 422
    assert [(r["field"], r["code"]) for r in body["reasons"]] == [("child.birth_date", "age")]
    code, _ = await register(engine_app, registration(session, birth_date="2016-01-01"))
    assert code == 201


async def test_the_window_opens_earlier_for_residents(engine_app: Running) -> None:
    r = engine_app
    residents = START + timedelta(hours=1)
    everyone = START + timedelta(days=2)
    (session,) = await r.add(camp(opens_at=everyone, residents_open_at=residents))

    code, body = await register(r, registration(session, 1, postcode="9990"))
    assert (code, body["reasons"][0]["code"]) == (422, "not_open")
    r.clock.advance(hours=1)
    assert (await register(r, registration(session, 1, postcode="9990")))[0] == 201
    code, body = await register(r, registration(session, 2, postcode="2000"))
    assert (code, body["reasons"][0]["code"]) == (422, "not_open")
    r.clock.advance(days=2)
    assert (await register(r, registration(session, 2, postcode="2000")))[0] == 201
    r.clock.now = datetime(2027, 7, 5, 7, 0, tzinfo=UTC)
    code, body = await register(r, registration(session, 3))
    assert (code, body["reasons"][0]["code"]) == (422, "closed")
    await invariant_holds(r)


@pytest.mark.parametrize(
    ("postcode", "social", "expected"),
    [("9990", False, 8500), ("9991", True, 1700), ("2000", False, 11000), ("2000", True, 2200)],
)
async def test_the_price_is_fixed_at_registration(
    engine_app: Running, postcode: str, social: bool, expected: int
) -> None:
    (session,) = await engine_app.add(camp(prices=(8500, 11000), social_discount_percent=80))
    code, body = await register(
        engine_app, registration(session, postcode=postcode, social_tariff=social)
    )
    assert (code, body["price_cents"]) == (201, expected)
    detail = (await engine_app.client.get(f"/api/registrations/{body['id']}")).json()
    assert detail["resident"] is (postcode.startswith("999"))
    assert detail["price_cents"] == expected


async def test_activities_can_be_filtered_by_birth_year(engine_app: Running) -> None:
    await engine_app.add(camp("Kleuterkamp", born=(2021, 2022)))
    await engine_app.add(camp("Tienerkamp", born=(2011, 2014)))
    listed = (await engine_app.client.get("/api/activities?born=2021")).json()["activities"]
    assert [a["name"] for a in listed] == ["Kleuterkamp"]
    first = listed[0]
    assert first["age_rule"] == {"born_from_year": 2021, "born_to_year": 2022}
    session = first["sessions"][0]
    assert (session["capacity"], session["booked"], session["available"]) == (10, 0, 10)
    assert session["prices"] == {
        "currency": "EUR",
        "resident_cents": 8500,
        "non_resident_cents": 11000,
    }
    assert (await engine_app.client.get("/api/activities?born=abc")).status_code == 422
