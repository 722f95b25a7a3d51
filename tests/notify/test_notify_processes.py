"""E-mail near the front end to end, with real processes: a parent leaves an address on
the page, the worker mails a personal link through a local SMTP server when the wait
falls to a few minutes, and that link carries the place to another device. Redis keeps
no address once the message went."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.notify.smtp import Inbox
from tests.notify.stack import ADMIN_TOKEN

pytestmark = pytest.mark.slow

PAGE = "/inschrijven/zomer?week=2"


def parent(url: str, lang: str = "nl") -> httpx.Client:
    """A browser of one parent: keeps cookies, takes a place in the line."""
    client = httpx.Client(base_url=url, timeout=10, trust_env=False,
                          headers={"accept-language": lang})
    client.get(PAGE)  # the cookie
    assert client.get(PAGE, headers={"accept": "application/json"}).json()["state"] == "queued"
    return client


def sign_up(client: httpx.Client, url: str, address: str, room: str = "zomerkampen",
            **headers: str) -> httpx.Response:
    return client.post("/_sluis/notify", data={"room": room, "email": address, "next": PAGE},
                       headers={"origin": url, "sec-fetch-site": "same-origin",
                                "accept": "application/json", **headers})


def admin(url: str, room: str, **changes: object) -> None:
    r = httpx.patch(f"{url}/_sluis/admin/api/rooms/{room}", json=changes,
                    headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, trust_env=False)
    assert r.status_code == 200, r.text


def redis_dump(redis_url: str) -> bytes:
    r = redis.Redis.from_url(redis_url)
    out = b""
    try:
        for key in r.scan_iter("*"):
            kind = r.type(key).decode()
            if kind == "hash":
                out += repr(r.hgetall(key)).encode()
            elif kind == "zset":
                out += repr(r.zrange(key, 0, -1)).encode()
            elif kind == "string":
                out += repr(r.get(key)).encode()
            elif kind == "list":
                out += repr(r.lrange(key, 0, -1)).encode()
            elif kind == "set":
                out += repr(r.smembers(key)).encode()
    finally:
        r.close()
    return out


def test_the_link_in_the_message_carries_the_place_to_another_device(
        sluis: str, inbox: Inbox, redis_url: str, tmp_path: Path) -> None:
    phone = parent(sluis, "fr")
    other = parent(sluis)
    answer = sign_up(phone, sluis, "Ouder@Example.be")
    assert answer.status_code == 200 and answer.json()["result"] == "kept"
    assert "votre place est gardée" in answer.json()["message"]
    assert b"xample.be" in redis_dump(redis_url)
    assert inbox.received == []  # the line does not move: nothing is near yet

    # The line moves: one a minute, so number 1 is a minute away.
    admin(sluis, "zomerkampen", rate_per_minute=1, max_active=10)
    received = inbox.wait(1)
    time.sleep(1)
    assert len(inbox.received) == 1, "one message, once"
    mail = received[0]
    assert mail.recipients == ["Ouder@example.be"]
    assert mail.message["Subject"] in ("Votre tour approche : Camps d'été 2027",
                                       "C’est votre tour : Camps d'été 2027")
    # The address left Redis with the message.
    assert b"xample.be" not in redis_dump(redis_url)

    laptop = httpx.Client(base_url=sluis, timeout=10, trust_env=False)
    opened = laptop.get(mail.link.removeprefix(sluis))
    assert opened.status_code == 303 and opened.headers["location"] == PAGE
    assert "sluis_visitor" in opened.headers["set-cookie"]
    assert opened.headers["referrer-policy"] == "no-referrer"
    mine = phone.get("/_sluis/status?room=zomerkampen").json()
    theirs = laptop.get("/_sluis/status?room=zomerkampen").json()
    assert theirs["state"] == mine["state"] and theirs["position"] == mine["position"]
    assert theirs["state"] in ("queued", "admitted")
    # The other parent's place is their own.
    assert other.get("/_sluis/status?room=zomerkampen").json()["position"] != mine["position"]
    # No log line of any process names the address.
    logs = b"".join(p.read_bytes() for p in tmp_path.glob("*.log"))
    assert b"notification sent" in logs and b"xample.be" not in logs


def test_a_tampered_or_foreign_link_gives_no_place(sluis: str) -> None:
    client = httpx.Client(base_url=sluis, timeout=10, trust_env=False)
    for token in ("", "nonsense", "eyJhIjoxfQ.AAAA.BBBB"):
        r = client.get("/_sluis/place", params={"t": token})
        assert r.status_code == 404 and "sluis_visitor" not in r.headers.get("set-cookie", "")
        assert "Deze link werkt niet" in r.text
    assert "sluis_visitor" not in client.cookies


def test_the_form_answers_every_case_without_scripting_too(sluis: str) -> None:
    phone = parent(sluis)
    assert sign_up(phone, sluis, "not-an-address").status_code == 422
    stranger = httpx.Client(base_url=sluis, timeout=10, trust_env=False)
    assert sign_up(stranger, sluis, "ouder@example.be").json()["result"] == "no_place"
    # Another site's form is refused, even with the visitor's cookie.
    assert sign_up(phone, sluis, "ouder@example.be",
                   **{"sec-fetch-site": "cross-site"}).status_code == 403
    foreign = phone.post("/_sluis/notify", data={"room": "zomerkampen",
                                                 "email": "ouder@example.be", "next": PAGE},
                         headers={"origin": "https://evil.example", "accept": "application/json"})
    assert foreign.status_code == 403
    # Without scripting: a page of its own, in the visitor's language, leading back.
    page = phone.post("/_sluis/notify", data={"room": "zomerkampen", "email": "o@example.be",
                                              "next": PAGE},
                      headers={"origin": sluis, "accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "We sturen je een e-mail" in page.text and f'href="{PAGE.replace("&", "&amp;")}"' \
        in page.text
    assert "content-security-policy" in page.headers
    # Taking it back deletes it.
    forget = phone.post("/_sluis/notify", data={"room": "zomerkampen", "forget": "1",
                                                "next": PAGE},
                        headers={"origin": sluis, "accept": "application/json"})
    assert forget.json()["result"] == "forgotten"


def test_one_address_is_taken_three_times_an_hour_at_most(sluis: str) -> None:
    results = []
    for _ in range(4):
        client = httpx.Client(base_url=sluis, timeout=10, trust_env=False)
        client.get("/zwemmen")
        client.get("/zwemmen")
        results.append(sign_up(client, sluis, "veel@example.be", room="zwemmen").status_code)
    assert results == [200, 200, 200, 429]


def test_the_page_offers_the_form_in_rooms_that_mail(sluis: str) -> None:
    phone = parent(sluis, "de")
    html = phone.get(PAGE).text
    assert 'action="/_sluis/notify"' in html and "Ihre E-Mail-Adresse" in html
    assert re.search(r'name="next" value="/inschrijven/zomer\?week=2"', html)
