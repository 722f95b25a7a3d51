"""Untrusted input: every refusal says why, and leaves nothing half-written."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select

from backends.admission import AdmissionCodec
from backends.internal.tables import children, households, registrations

from .support import KEYS, Running, camp, register, registration


async def row_counts(r: Running) -> tuple[int, int, int]:
    async def count(conn):  # type: ignore[no-untyped-def]
        return tuple(
            [
                (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in (households, children, registrations)
            ]
        )

    return await r.ctx.db.read(count)  # type: ignore[no-any-return]


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def with_value(body: dict[str, Any], value: object, *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


BASE: dict[str, Any] = registration(1)
CASES = [
    (without(BASE, "session_id"), [("session_id", "required")]),
    (without(BASE, "child"), [("child", "required")]),
    (without(BASE, "child", "first_name"), [("child.first_name", "required")]),
    (with_value(BASE, "   ", "child", "last_name"), [("child.last_name", "required")]),
    (
        with_value(BASE, "2019-02-30", "child", "birth_date"),
        [("child.birth_date", "impossible_date")],
    ),
    (
        with_value(BASE, "2019-13-01", "child", "birth_date"),
        [("child.birth_date", "impossible_date")],
    ),
    (with_value(BASE, "31/12/2019", "child", "birth_date"), [("child.birth_date", "bad_format")]),
    (with_value(BASE, "2031-01-01", "child", "birth_date"), [("child.birth_date", "in_future")]),
    (with_value(BASE, "1901-01-01", "child", "birth_date"), [("child.birth_date", "implausible")]),
    (with_value(BASE, "not-an-email", "household", "email"), [("household.email", "invalid")]),
    (with_value(BASE, "<script>", "household", "postcode"), [("household.postcode", "invalid")]),
    (with_value(BASE, "1", "session_id"), [("session_id", "invalid")]),
    (with_value(BASE, True, "session_id"), [("session_id", "invalid")]),
    (with_value(BASE, "yes", "waitlist"), [("waitlist", "not_boolean")]),
    (with_value(BASE, 42, "child", "first_name"), [("child.first_name", "not_text")]),
    (with_value(BASE, "x" * 81, "child", "first_name"), [("child.first_name", "too_long")]),
    (
        with_value(BASE, "Robert'); DROP TABLE children;--", "child", "first_name"),
        [("child.first_name", "invalid_characters")],
    ),
    (
        with_value(BASE, "' OR '1'='1", "child", "last_name"),
        [("child.last_name", "invalid_characters")],
    ),
    (
        with_value(BASE, "Emma\u0000", "child", "first_name"),
        [("child.first_name", "invalid_characters")],
    ),
    (with_value(BASE, "🎉", "child", "first_name"), [("child.first_name", "invalid_characters")]),
    ({}, [("session_id", "required"), ("child", "required"), ("household", "required")]),
    (
        {"session_id": 1, "child": {}, "household": {}},
        [
            ("child.first_name", "required"),
            ("child.last_name", "required"),
            ("child.birth_date", "required"),
            ("household.email", "required"),
            ("household.postcode", "required"),
        ],
    ),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
async def test_bad_registrations_get_422_with_every_reason_and_no_rows(
    sqlite_app: Running, body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    (session,) = await sqlite_app.add(camp())
    if type(body.get("session_id")) is int and body["session_id"] == 1:
        body = {**body, "session_id": session}
    code, answer = await register(sqlite_app, body)
    assert code == 422
    assert answer["error"] == "invalid"
    assert [(r["field"], r["code"]) for r in answer["reasons"]] == expected
    assert await row_counts(sqlite_app) == (0, 0, 0)


async def test_bodies_that_are_not_json_objects_are_refused(sqlite_app: Running) -> None:
    for raw in (b"{", b"[]", b"null", b"\xff\xfe", b""):
        response = await sqlite_app.client.post(
            "/api/registrations", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, raw
        assert response.json()["reasons"][0]["field"] == "body"


async def test_a_ten_megabyte_body_is_refused_before_parsing(engine_app: Running) -> None:
    (session,) = await engine_app.add(camp())
    huge = registration(session)
    huge["child"]["first_name"] = "a" * (10 * 1024 * 1024)  # type: ignore[index]
    code, body = await register(engine_app, huge)
    assert (code, body["error"]) == (413, "too_large")
    assert await row_counts(engine_app) == (0, 0, 0)


async def test_a_huge_body_without_length_is_cut_off_too(sqlite_app: Running) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(200):
            yield b"x" * 65536

    response = await sqlite_app.client.post("/api/registrations", content=chunks())
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Zoë", "Van den Broeck"),
        ("Łukasz", "Wiśniewski"),
        ("Anaïs-Chloé", "D'Hondt"),
        ("Mohammed", "El Idrissi"),
        ("Юлия", "Петрова"),
        ("美玲", "王"),
        ("Nguyễn", "Thị Minh"),
    ],
)
async def test_names_in_any_script_are_kept_exactly(
    engine_app: Running, first: str, last: str
) -> None:
    (session,) = await engine_app.add(camp())
    code, body = await register(engine_app, registration(session, first_name=first, last_name=last))
    assert code == 201
    stored = (await engine_app.client.get(f"/api/registrations/{body['id']}")).json()["child"]
    assert (stored["first_name"], stored["last_name"]) == (first, last)


async def test_the_same_child_twice_is_refused_however_the_name_is_typed(
    engine_app: Running,
) -> None:
    (session,) = await engine_app.add(camp(capacity=5))
    body = registration(session, first_name="Zoë", last_name="Peeters", email="gezin@example.be")
    assert (await register(engine_app, body))[0] == 201
    again = registration(session, first_name="ZOE", last_name=" peeters ", email="GEZIN@example.be")
    code, answer = await register(engine_app, again)
    assert code == 422
    assert answer["reasons"] == [
        {
            "field": "child",
            "code": "already_registered",
            "message": "this child is already registered here",
        }
    ]
    assert await row_counts(engine_app) == (1, 1, 1)


async def test_the_same_child_is_refused_even_when_the_session_is_full(
    engine_app: Running,
) -> None:
    (session,) = await engine_app.add(camp(capacity=1))
    body = registration(session, 3)
    assert (await register(engine_app, body))[0] == 201
    code, answer = await register(engine_app, {**body, "waitlist": True})
    assert (code, answer["reasons"][0]["code"]) == (422, "already_registered")


async def test_an_unknown_session_is_a_reason_not_a_crash(engine_app: Running) -> None:
    code, body = await register(engine_app, registration(999_999))
    assert (code, body["reasons"][0]["code"]) == (422, "unknown_session")


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        AdmissionCodec(["someone-else"]).issue("zomerkampen", "visitor-0001", 900),
        AdmissionCodec(KEYS).issue("zomerkampen", "visitor-0001", 900)[:-2] + "xx",
        AdmissionCodec(KEYS).issue("zomerkampen", "visitor-0001", 0),
    ],
)
async def test_requests_without_a_valid_admission_get_403(
    sqlite_app: Running, token: str | None
) -> None:
    headers = {"Sluis-Admission": token} if token is not None else {}
    client = sqlite_app.client
    saved = client.headers.pop("Sluis-Admission")
    try:
        for method, path in (
            ("GET", "/api/activities"),
            ("POST", "/api/registrations"),
            ("GET", "/"),
        ):
            response = await client.request(method, path, headers=headers, json={})
            assert response.status_code == 403, (method, path)
        assert (await client.get("/api/activities", headers=headers)).json() == {
            "error": "admission_required"
        }
        assert (await client.get("/healthz")).status_code == 200
    finally:
        client.headers["Sluis-Admission"] = saved


async def test_a_token_signed_with_an_older_key_still_admits(sqlite_app: Running) -> None:
    old = AdmissionCodec([KEYS[0]]).issue("zomerkampen", "visitor-0002", 900)
    response = await sqlite_app.client.get("/api/activities", headers={"Sluis-Admission": old})
    assert response.status_code == 200
