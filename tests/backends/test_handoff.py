"""Handoff: admitted visitors are sent to the upstream with a single-use token."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import redis.asyncio as aioredis

from backends import verify
from backends.config import BackendConfig
from backends.once import verify_once
from gateway.app import create_app
from gateway.rooms import RoomConfig
from tests.conftest import KEYS, make_settings
from tests.helpers import running

UPSTREAM = "https://stad.kwandoo.test/inschrijven"


async def handoff_token(redis_url: str, tmp: Path) -> tuple[str, str]:
    """Pass the gate of an idle handoff room once: (Location, the token in it)."""
    base = make_settings(redis_url, tmp)
    room = RoomConfig(name="zwemmen", backend=BackendConfig(kind="handoff", upstream=UPSTREAM,
                                                            handoff_ttl_seconds=60))
    settings = type(base)(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                             "rooms": (room,)})
    app = create_app(settings)
    async with running(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://sluis.test") as c:
            first = await c.get("/zwemmen/slots?dag=za")  # the cookie, no place yet
            assert first.status_code == 200 and 'data-arriving="1"' in first.text
            r = await c.get("/zwemmen/slots?dag=za")
    assert r.status_code == 303
    assert r.headers["referrer-policy"] == "no-referrer"
    location = r.headers["location"]
    return location, parse_qs(urlsplit(location).query)["sluis_admission"][0]


async def test_a_handoff_token_verifies_once_in_its_room_and_never_when_altered(
        redis_url: str, tmp_path: Path) -> None:
    location, token = await handoff_token(redis_url, tmp_path)
    assert location.startswith(UPSTREAM + "/zwemmen/slots?dag=za&sluis_admission=")
    client = aioredis.Redis.from_url(redis_url)  # the receiving site's own Redis
    try:
        first = await verify_once(token, KEYS, "zwemmen", client)
        assert first is not None and first.room == "zwemmen" and first.nonce
        assert first.expires_at - first.issued_at == 60
        assert await verify_once(token, KEYS, "zwemmen", client) is None  # replayed
        assert await client.ttl(f"sluis:once:zwemmen:{first.nonce}") > 60

        _, fresh = await handoff_token(redis_url, tmp_path)
        tampered = fresh[:-1] + ("A" if fresh[-1] != "A" else "B")
        assert await verify_once(tampered, KEYS, "zwemmen", client) is None
        assert await verify_once(fresh, KEYS, "elders", client) is None  # another room
        later = time.time() + 61
        assert await verify_once(fresh, KEYS, "zwemmen", client, now=later) is None  # expired
        assert await verify_once(fresh, ["another-key-0123456789"], "zwemmen", client) is None
        # None of the refusals used the token up: the genuine one still passes, once.
        assert await verify_once(fresh, KEYS, "zwemmen", client) is not None
        assert await verify_once(fresh, KEYS, "zwemmen", client) is None
    finally:
        await client.aclose()


async def test_a_session_token_without_nonce_is_not_accepted_as_a_handoff(
        redis_url: str) -> None:
    from backends.admission import AdmissionCodec

    token = AdmissionCodec(KEYS).issue("zwemmen", "visitor-0123456789", 60)
    assert verify(token, KEYS, room="zwemmen") is not None
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await verify_once(token, KEYS, "zwemmen", client) is None
    finally:
        await client.aclose()
