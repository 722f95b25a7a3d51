"""CSV in (a city's activity export) and out (registrations for the back office)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from backends.internal.csv_import import ImportFailed, parse_cents, parse_csv

from .support import ADMIN_TOKEN, Running, camp, register, registration

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def dutch_export() -> bytes:
    text = (
        "\ufeffNaam;Soort;Week;Startdatum;Einddatum;Beginuur;Einduur;Geboortejaren;Capaciteit;"
        "Prijs inwoner;Prijs niet-inwoner;Kansentarief;Locatie;Extra kolom\r\n"
        "Voetbalkamp;kamp;Week 1;05/07/2027;09/07/2027;09:00;16:00;2015-2019;32;€ 95,00;"
        "€ 125,00;80%;Sporthal;x\r\n"
        "Voetbalkamp;kamp;Week 2;12/07/2027;16/07/2027;09:00;16:00;2015-2019;32;95;125;80;"
        "Sporthal;y\r\n"
        "\r\n"
        "Watergewenning;zwemmen;;10/07/2027;;10:00;10u45;2021 - 2023;12;6,00;8,50;50;Zwembad;\r\n"
    )
    return text.encode("utf-8")


def test_a_dutch_semicolon_export_becomes_activities_with_sessions() -> None:
    specs = parse_csv(dutch_export(), "Europe/Brussels")
    assert [(s.name, s.kind, len(s.sessions)) for s in specs] == [
        ("Voetbalkamp", "camp", 2),
        ("Watergewenning", "swim", 1),
    ]
    football, swim = specs
    assert (football.born_from_year, football.born_to_year) == (2015, 2019)
    first = football.sessions[0]
    assert first.starts_at == datetime(2027, 7, 5, 7, 0, tzinfo=UTC)  # 09:00 in Brussels
    assert first.ends_at == datetime(2027, 7, 9, 14, 0, tzinfo=UTC)
    assert (first.capacity, first.price_resident_cents, first.price_non_resident_cents) == (
        32,
        9500,
        12500,
    )
    assert football.social_discount_percent == 80
    assert swim.sessions[0].ends_at == datetime(2027, 7, 10, 8, 45, tzinfo=UTC)
    assert swim.sessions[0].price_non_resident_cents == 850


def test_commas_ages_and_one_price_are_understood() -> None:
    data = (
        b"name,dates,ages,capacity,price\n"
        b'"Kunstkamp, klein",05/07/2027 - 09/07/2027,6-9 jaar,14,"75,00"\n'
    )
    (spec,) = parse_csv(data, "Europe/Brussels")
    assert spec.name == "Kunstkamp, klein"
    assert (spec.born_from_year, spec.born_to_year) == (2018, 2021)
    assert (
        spec.sessions[0].price_resident_cents == spec.sessions[0].price_non_resident_cents == 7500
    )


def test_windows_1252_files_from_excel_are_read() -> None:
    data = "Naam;Startdatum;Geboortejaren;Capaciteit;Prijs\nCréakamp;05/07/2027;2016-2018;20;€ 80\n"
    (spec,) = parse_csv(data.encode("cp1252"), "Europe/Brussels")
    assert spec.name == "Créakamp"
    assert spec.sessions[0].price_resident_cents == 8000


def test_every_bad_line_is_reported_with_its_number() -> None:
    data = (
        b"Naam;Startdatum;Geboortejaren;Capaciteit;Prijs\n"
        b"Goed kamp;05/07/2027;2016-2018;20;80\n"
        b"Fout datum;31/02/2027;2016-2018;20;80\n"
        b";05/07/2027;2016-2018;20;80\n"
        b"Fout capaciteit;05/07/2027;2016-2018;twintig;80\n"
        b"Fout prijs;05/07/2027;2016-2018;20;gratis\n"
        b"Goed kamp;05/07/2027;2016-2018;20;80\n"
    )
    with pytest.raises(ImportFailed) as failed:
        parse_csv(data, "Europe/Brussels")
    lines = [(e.line, e.message.split(":")[0]) for e in failed.value.errors]
    assert [line for line, _ in lines] == [3, 4, 5, 6, 7]
    assert "same session as line 2" in str(failed.value)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ImportFailed) as failed:
        parse_csv(b"Naam;Prijs\nKamp;80\n", "Europe/Brussels")
    text = str(failed.value)
    assert "line 1: missing column: capacity" in text and "start date" in text


@pytest.mark.parametrize(
    ("text", "cents"),
    [("85", 8500), ("85,5", 8550), ("€ 1.250,50", 125050), ("1,250.50", 125050), ("3.50", 350)],
)
def test_belgian_and_plain_amounts_are_read(text: str, cents: int) -> None:
    assert parse_cents(text) == cents


async def test_an_import_with_one_bad_line_stores_nothing(sqlite_app: Running) -> None:
    bad = dutch_export().replace(b"12;6,00", b"12;zes")
    response = await sqlite_app.client.post(
        "/admin/import", files={"file": ("kampen.csv", bad, "text/csv")}, headers=BEARER
    )
    assert response.status_code == 422
    assert "line 5: not an amount" in response.text
    assert (await sqlite_app.client.get("/api/activities")).json()["activities"] == []

    good = await sqlite_app.client.post(
        "/admin/import",
        files={"file": ("kampen.csv", dutch_export(), "text/csv")},
        headers=BEARER,
    )
    assert good.status_code == 200
    listed = (await sqlite_app.client.get("/api/activities")).json()["activities"]
    assert sorted((a["name"], len(a["sessions"])) for a in listed) == [
        ("Voetbalkamp", 2),
        ("Watergewenning", 1),
    ]
    again = await sqlite_app.client.post(
        "/admin/import",
        files={"file": ("kampen.csv", dutch_export(), "text/csv")},
        headers=BEARER,
    )
    assert again.status_code == 422
    assert "line 2: this session of Voetbalkamp is already in the programme" in again.text


async def test_the_export_lists_registrations_safely_for_spreadsheets(
    sqlite_app: Running,
) -> None:
    (session,) = await sqlite_app.add(camp())
    await register(sqlite_app, registration(session, 1, first_name="Zoë", confirm=True))
    await register(sqlite_app, registration(session, 2, email="=cmd@example.be"))
    response = await sqlite_app.client.get(f"/admin/export.csv?session={session}", headers=BEARER)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text[1:]), delimiter=";"))
    assert [(r["first_name"], r["status"], r["price_eur"]) for r in rows] == [
        ("Zoë", "confirmed", "85,00"),
        ("Kindc", "held", "85,00"),
    ]
    # A cell that a spreadsheet would run as a formula is defused.
    assert rows[1]["email"] == "'=cmd@example.be"
