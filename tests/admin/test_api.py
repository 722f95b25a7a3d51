"""The admin API and the dashboard's forms: who may change what, and nothing half-done."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from gateway.routes import admin_api
from gateway.store import Store
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.helpers import gateway_client

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
ROOM = "/_sluis/admin/api/rooms/default"


async def sign_in(client: httpx.AsyncClient, name: str = "Anna") -> str:
    """Sign in on the dashboard; the CSRF token of the session."""
    page = await client.get("/_sluis/admin/")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert nonce is not None
    r = await client.post("/_sluis/admin/login",
                          data={"nonce": nonce[1], "token": ADMIN_TOKEN, "name": name})
    assert r.status_code == 303
    home = await client.get("/_sluis/admin/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert csrf is not None and "Rooms" in home.text
    return csrf[1]


async def settings_and_audit(client: httpx.AsyncClient) -> tuple[dict[str, object], int]:
    room = (await client.get(ROOM, headers=AUTH)).json()
    audit = (await client.get("/_sluis/admin/api/audit", headers=AUTH)).json()["entries"]
    return room, len(audit)


async def test_every_refusal_changes_nothing(redis_url: str, tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        before = await settings_and_audit(client)
        # No token, a wrong one, a wrong scheme: 401.
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": ADMIN_TOKEN},
                        {"authorization": f"Basic {ADMIN_TOKEN}"}):
            r = await client.patch(ROOM, headers=headers, json={"rate_per_minute": 5})
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
            r = await client.post(ROOM + "/drain", headers=headers)
            assert r.status_code == 401
        # Bad values: 422 with a reason per field.
        r = await client.patch(ROOM, headers=AUTH, json={"rate_per_minute": -3,
                                                         "closes_at": "soon"})
        assert r.status_code == 422
        assert set(r.json()["reasons"]) == {"rate_per_minute", "closes_at"}
        # A signed-in operator without the CSRF token: 403, for the API and the forms.
        csrf = await sign_in(client)
        r = await client.patch(ROOM, json={"rate_per_minute": 5})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        r = await client.patch(ROOM, json={"rate_per_minute": 5},
                               headers={"x-csrf-token": "forged"})
        assert r.status_code == 403
        r = await client.post("/_sluis/admin/rooms/default",
                              data={"action": "settings", "rate_per_minute": "5",
                                    "confirm": "1"})
        assert r.status_code == 403
        r = await client.post("/_sluis/admin/rooms/default",
                              data={"action": "drain", "confirm": "1", "csrf": "forged"})
        assert r.status_code == 403
        # A tampered session cookie is no session at all.
        client.cookies.set("sluis_admin", "x" + client.cookies["sluis_admin"],
                           path="/_sluis/admin")
        assert (await client.get(ROOM)).status_code == 401
        assert await settings_and_audit(client) == before
        assert csrf


async def test_a_signed_in_operator_changes_with_the_csrf_token(redis_url: str,
                                                                tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        csrf = await sign_in(client, "Anna")
        r = await client.patch(ROOM, json={"rate_per_minute": 75},
                               headers={"x-csrf-token": csrf})
        assert r.status_code == 200 and r.json()["rate_per_minute"] == 75
        # A form change is shown for confirmation first, then written.
        form = {"csrf": csrf, "action": "settings", "rate_per_minute": "90",
                "max_active": "100", "session_seconds": "900"}
        confirm = await client.post("/_sluis/admin/rooms/default", data=form)
        assert confirm.status_code == 200 and "Confirm" in confirm.text
        assert (await client.get(ROOM, headers=AUTH)).json()["rate_per_minute"] == 75
        done = await client.post("/_sluis/admin/rooms/default", data={**form, "confirm": "1"})
        assert done.status_code == 303
        assert (await client.get(ROOM, headers=AUTH)).json()["rate_per_minute"] == 90
        audit = (await client.get("/_sluis/admin/api/audit", headers=AUTH)).json()["entries"]
        assert audit[0]["actor"].startswith("Anna (dashboard@")
        assert audit[0]["changes"] == [["rate_per_minute", "75", "90"]]


async def test_drain_ends_every_live_session_and_is_audited(redis_url: str, tmp_path: Path,
                                                            store: Store) -> None:
    settings = make_settings(redis_url, tmp_path, max_active=5)
    async with gateway_client(settings) as (_, client):
        for i in range(3):
            await store.join("default", f"visitor-{i:04d}")
        assert (await client.get(ROOM, headers=AUTH)).json()["active"] == 3
        r = await client.post(ROOM + "/drain", headers={**AUTH, "x-sluis-actor": "Bram"})
        assert r.status_code == 200 and r.json() == {"room": "default", "ended": 3}
        room = (await client.get(ROOM, headers=AUTH)).json()
        assert room["active"] == 0 and room["drained_total"] == 3
        assert await store.renew("default", "visitor-0000") == 0
        entry = (await client.get("/_sluis/admin/api/audit", headers=AUTH)).json()["entries"][0]
        assert entry["mode"] == "drain" and entry["actor"].startswith("Bram (admin-api@")
        assert entry["changes"] == [["active", "3", "0"]]


async def test_the_openapi_document_describes_every_admin_call(redis_url: str,
                                                               tmp_path: Path) -> None:
    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        assert (await client.get("/_sluis/admin/api/openapi.json")).status_code == 401
        doc = (await client.get("/_sluis/admin/api/openapi.json", headers=AUTH)).json()
    assert doc["openapi"].startswith("3.1")
    served = {(r.path, m.lower()) for r in admin_api.routes for m in (r.methods or ())
              if m != "HEAD"}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert served == documented
    change = doc["components"]["schemas"]["Change"]["properties"]
    from gateway.rooms import LIVE_FIELDS
    assert set(change) == set(LIVE_FIELDS)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method != "parameters":
                assert "401" in op["responses"] and "200" in op["responses"], (path, method)


async def test_every_answer_and_its_log_lines_carry_a_request_id(
        redis_url: str, tmp_path: Path) -> None:
    import logging

    from gateway.logs import JsonFormatter
    from gateway.request_id import REQUEST_ID, RequestIdFilter

    async with gateway_client(make_settings(redis_url, tmp_path)) as (_, client):
        a = await client.get("/_sluis/livez")
        b = await client.get("/", headers={"x-request-id": "lb-abc123"})
        c = await client.get("/", headers={"x-request-id": "<script>"})
    assert re.fullmatch(r"[0-9a-f]{7,}", a.headers["x-request-id"])
    assert b.headers["x-request-id"] == "lb-abc123"
    assert re.fullmatch(r"[0-9a-f]{7,}", c.headers["x-request-id"])
    assert c.headers["x-request-id"] != a.headers["x-request-id"]
    record = logging.makeLogRecord({"msg": "forwarded", "name": "sluis.gate"})
    token = REQUEST_ID.set("0badcafe")
    try:
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    assert '"request_id":"0badcafe"' in JsonFormatter().format(record)
    outside = logging.makeLogRecord({"msg": "tick"})
    RequestIdFilter().filter(outside)
    assert "request_id" not in JsonFormatter().format(outside)
