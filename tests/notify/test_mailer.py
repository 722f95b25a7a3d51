"""The message and its sending, against a real local SMTP server (aiosmtpd): the text in
the parent's language with a working personal link, STARTTLS and AUTH, and a server
that is away or refuses, all without an address in the logs."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from gateway.common.net import free_port
from gateway.links import Links
from gateway.notify import MailSettings, Signup
from gateway.rooms import Branding, NotifyConfig, RoomConfig
from queue_worker.mailer import Letters, Mailer
from tests.notify.smtp import self_signed, smtp_server

KEYS = ("mailer-test-key-0123456789",)
ROOM = RoomConfig(name="kampen", title="Zomerkampen",
                  branding=Branding(titles=(("nl", "Zomerkampen 2027"),
                                            ("fr", "Camps d'été 2027"))),
                  notify=NotifyConfig(by_email=True, minutes=5, hold_minutes=15))
ADDRESS = "ouder@example.be"


def settings(port: int, **more: object) -> MailSettings:
    base: dict[str, object] = {"host": "127.0.0.1", "port": port, "starttls": "off",
                               "sender": "Stad Kampen <wachtrij@stad.example>",
                               "public_url": "https://kampen.stad.example",
                               "timeout_seconds": 5.0}
    return MailSettings(**{**base, **more})  # type: ignore[arg-type]


def test_the_message_is_in_the_parents_language_with_their_personal_link() -> None:
    letters = Letters(settings(25), KEYS)
    now = int(time.time())
    msg = letters.write(ROOM, "visitor-abcdefgh", Signup(ADDRESS, "fr", "/kampen?week=2"),
                        turn=False, now_s=now)
    assert msg["To"] == ADDRESS and msg["Subject"] == "Votre tour approche : Camps d'été 2027"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Content-Language"] == "fr"
    body = str(msg.get_content())
    assert "environ 5 minutes" in body and "effacée" in body
    link = next(line for line in body.splitlines() if "/_sluis/place?t=" in line)
    assert link.startswith("https://kampen.stad.example/_sluis/place?t=")
    place = Links(KEYS).read(link.split("t=", 1)[1])
    assert place is not None
    assert (place.room, place.visitor, place.path) == ("kampen", "visitor-abcdefgh",
                                                       "/kampen?week=2")
    turn = letters.write(ROOM, "visitor-abcdefgh", Signup(ADDRESS, "nl", "/"), turn=True,
                         now_s=now)
    assert turn["Subject"] == "Het is jouw beurt: Zomerkampen 2027"
    english = letters.write(ROOM, "visitor-abcdefgh", Signup(ADDRESS, "en", "/"), turn=False,
                            now_s=now)
    assert english["Subject"] == "Your turn is near: Zomerkampen 2027"


async def test_a_message_reaches_the_local_server_once() -> None:
    with smtp_server() as inbox:
        mailer = Mailer(settings(inbox.port), KEYS)
        mailer.start()
        mailer.submit("kampen", mailer.letters.write(
            ROOM, "visitor-abcdefgh", Signup(ADDRESS, "nl", "/"), False, int(time.time())))
        await mailer.close(10)
        got = inbox.received
    assert len(got) == 1 and mailer.sent == 1
    assert got[0].recipients == [ADDRESS] and got[0].sender == "wachtrij@stad.example"
    assert "/_sluis/place?t=" in got[0].link


async def test_starttls_and_login_when_the_server_asks_for_them(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with smtp_server(tls=(cert, key), login=("wachtrij", "geheim-wachtwoord")) as inbox:
        mailer = Mailer(settings(inbox.port, starttls="required", ca_file=str(cert),
                                 user="wachtrij", password="geheim-wachtwoord"), KEYS)
        mailer.start()
        mailer.submit("kampen", mailer.letters.write(
            ROOM, "visitor-abcdefgh", Signup(ADDRESS, "de", "/"), False, int(time.time())))
        await mailer.close(10)
        got = inbox.received
    assert len(got) == 1
    assert got[0].over_tls and got[0].login == "wachtrij"
    assert got[0].message["Subject"] == "Sie sind bald an der Reihe: Zomerkampen 2027"


async def test_a_server_without_starttls_gets_nothing_when_it_is_required(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sluis.mail")
    with smtp_server() as inbox:
        mailer = Mailer(settings(inbox.port, starttls="required"), KEYS, retry_seconds=())
        mailer.start()
        mailer.submit("kampen", mailer.letters.write(
            ROOM, "visitor-abcdefgh", Signup(ADDRESS, "nl", "/"), False, int(time.time())))
        await mailer.close(10)
        assert inbox.received == []
    assert mailer.failed == 1
    assert "notification not delivered" in caplog.text and ADDRESS not in caplog.text


async def test_a_server_that_is_away_is_tried_again_then_given_up_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sluis.mail")
    port = free_port()
    mailer = Mailer(settings(port), KEYS, retry_seconds=(0.2, 0.2))
    mailer.start()
    started = time.monotonic()
    mailer.submit("kampen", mailer.letters.write(
        ROOM, "visitor-abcdefgh", Signup(ADDRESS, "nl", "/"), False, int(time.time())))
    await mailer.close(10)
    assert (mailer.sent, mailer.failed) == (0, 1)
    assert time.monotonic() - started >= 0.4
    records = [r for r in caplog.records if r.name == "sluis.mail"]
    assert [r.getMessage() for r in records] == ["notification not delivered"]
    assert getattr(records[0], "room", None) == "kampen"
    assert ADDRESS not in caplog.text


async def test_a_refused_address_is_not_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sluis.mail")
    with smtp_server() as inbox:
        inbox.refuse_with = 550
        mailer = Mailer(settings(inbox.port), KEYS, retry_seconds=(5.0,))
        mailer.start()
        started = time.monotonic()
        mailer.submit("kampen", mailer.letters.write(
            ROOM, "visitor-abcdefgh", Signup(ADDRESS, "nl", "/"), False, int(time.time())))
        await mailer.close(10)
    assert mailer.failed == 1 and time.monotonic() - started < 4
    # Sluis's own records (the test's SMTP server logs the recipient, as servers do).
    assert not any(ADDRESS in r.getMessage() for r in caplog.records
                   if r.name.startswith("sluis"))
