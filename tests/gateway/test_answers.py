"""answers: each Outcome as the status JSON and as the queue page, one switch, one 503."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway import lottery
from gateway.answers import RETRY_AFTER_UNAVAILABLE, Answers
from gateway.pages import Pages
from gateway.passes import Passes
from gateway.rooms import LiveSettings, RoomConfig
from gateway.store import Store
from gateway.types import Message
from gateway.visit import LIMITED, UNAVAILABLE, Admitted, Arriving, ProofRequired, Waiting
from tests.conftest import KEYS

ROOM = RoomConfig(name="default", title="Zomerkampen", initial=LiveSettings(max_active=0))


class Sent:
    """What an answer sent: its status, headers and body."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    def headers(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.messages[0]["headers"] if k == name]

    @property
    def body(self) -> bytes:
        return bytes(self.messages[1]["body"])

    def json(self) -> Any:
        return orjson.loads(self.body)


def request(method: str = "GET", https: bool = False) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": "/kampen", "raw_path": b"/kampen",
            "query_string": b"", "headers": [], "scheme": "https" if https else "http"}


@pytest.fixture(scope="module")
def answers() -> Answers:
    return Answers(Pages())


async def answer(answers: Answers, outcome: Any, as_json: bool, method: str = "GET",
                 https: bool = False) -> Sent:
    sent = Sent()
    await answers.send(request(method, https), sent, ROOM, outcome, as_json)
    return sent


async def test_redis_away_is_one_calm_503_in_json_and_html(answers: Answers) -> None:
    as_json = await answer(answers, UNAVAILABLE, True)
    assert as_json.status == 503 and as_json.headers(b"retry-after") == [b"5"]
    assert as_json.json() == {"room": "default", "error": "unavailable",
                              "keep_page_open": True,
                              "poll_after_seconds": RETRY_AFTER_UNAVAILABLE}
    assert as_json.headers(b"cache-control") == [b"no-store"]
    page = await answer(answers, UNAVAILABLE, False)
    assert page.status == 503 and page.headers(b"retry-after") == [b"5"]
    assert b"Houd deze pagina open" in page.body
    assert page.headers(b"cache-control") == [b"no-store"]


async def test_over_the_join_limit_is_429_with_the_limits_window(answers: Answers) -> None:
    as_json = await answer(answers, LIMITED, True)
    assert as_json.status == 429 and as_json.headers(b"retry-after") == [b"60"]
    assert as_json.json()["error"] == "too_many_joins"
    page = await answer(answers, LIMITED, False)
    assert page.status == 429 and page.headers(b"retry-after") == [b"60"]
    assert page.headers(b"content-type") == [b"text/html; charset=utf-8"]


async def test_a_newcomer_gets_the_visitor_cookie_and_a_short_poll(answers: Answers) -> None:
    cookie = Passes(KEYS).visitor_cookie("visitor-new-0001")
    arriving = Arriving(1, cookie)
    as_json = await answer(answers, arriving, True, https=True)
    body = as_json.json()
    assert as_json.status == 200 and body["state"] == "none"
    assert body["poll_after_seconds"] == 1 and "proof" not in body
    (set_cookie,) = as_json.headers(b"set-cookie")
    assert set_cookie.startswith(b"sluis_visitor=" + cookie.encode())
    assert b"HttpOnly" in set_cookie and b"Secure" in set_cookie
    assert as_json.headers(b"strict-transport-security")
    page = await answer(answers, arriving, False)
    assert page.status == 200 and b'data-arriving="1"' in page.body
    assert page.headers(b"set-cookie")


async def test_a_join_without_proof_is_refused_with_the_challenge(answers: Answers) -> None:
    refused = await answer(answers, ProofRequired("ab" * 16, 8), True)
    assert refused.status == 403
    assert refused.json() == {"room": "default", "error": "proof_required",
                              "proof": {"challenge": "ab" * 16, "bits": 8}}


async def test_waiting_and_admitted_are_the_status_json_or_the_queue_page(
        answers: Answers, store: Store) -> None:
    await store.define_room(ROOM, lottery.new_seed())
    snap, place = await store.join("default", "visitor-wait-0001")
    waiting = Waiting(snap, place)
    as_json = await answer(answers, waiting, True)
    assert as_json.status == 200 and not as_json.headers(b"set-cookie")
    assert as_json.json()["state"] == "queued" and as_json.json()["position"] == 1
    page = await answer(answers, waiting, False)
    assert b"Je bent nummer <strong>1</strong>" in page.body
    head = await answer(answers, waiting, False, method="HEAD")
    assert head.body == b"" and int(head.headers(b"content-length")[0]) == len(page.body)
    token = Passes(KEYS).admission.issue("default", "visitor-wait-0001", 120)
    admitted = await answer(answers, Admitted(snap, place, token, 120), True)
    (set_cookie,) = admitted.headers(b"set-cookie")
    assert set_cookie.startswith(b"sluis_admission=" + token.encode())
    assert b"Max-Age=120" in set_cookie
    held = await answer(answers, Admitted(snap, place, None, 120), True)
    assert not held.headers(b"set-cookie")
