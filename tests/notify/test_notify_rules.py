"""E-mail near the front, the pure parts: a room's keys, SMTP settings, addresses,
"near the front", and the personal link's token."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway import eta, notify
from gateway.links import Links
from gateway.passes import Passes
from gateway.roomfile import load_rooms
from gateway.rooms import NotifyConfig, RoomConfig, RoomSettingsError
from gateway.settings import Settings, SettingsError

KEYS = ("notify-test-key-0123456789",)


def rooms_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "rooms.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_a_room_offers_email_only_when_its_table_says_so(tmp_path: Path) -> None:
    rooms = load_rooms(rooms_file(tmp_path, """
[rooms.kampen]
notify_by_email = true
notify_minutes = 8
notify_hold_minutes = 20
notify_per_minute = 30
public_url = "https://kampen.stad.be/"

[rooms.zwemmen]
paths = ["/zwemmen"]
"""))
    kampen, zwemmen = rooms
    assert kampen.notify == NotifyConfig(by_email=True, minutes=8, hold_minutes=20,
                                                per_minute=30,
                                                public_url="https://kampen.stad.be")
    assert zwemmen.notify.by_email is False


def test_every_bad_email_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(RoomSettingsError) as err:
        load_rooms(rooms_file(tmp_path, """
[rooms.kampen]
notify_by_email = "yes"
notify_minutes = 0
notify_per_minute = true
public_url = "javascript:alert(1)"
"""))
    assert set(err.value.reasons) == {"kampen.notify_by_email", "kampen.notify_minutes",
                                      "kampen.notify_per_minute", "kampen.public_url"}


def test_smtp_settings_from_a_url_or_from_parts(tmp_path: Path) -> None:
    config = rooms_file(tmp_path, "[rooms.kampen]\nnotify_by_email = true\n")
    base = {"SLUIS_DATA_DIR": str(tmp_path), "SLUIS_CONFIG": config,
            "SLUIS_SMTP_FROM": "Stad <wachtrij@stad.be>",
            "SLUIS_PUBLIC_URL": "https://kampen.stad.be"}
    s = Settings.from_env({**base, "SLUIS_SMTP_URL": "smtp://mailer:p%40ss@smtp.stad.be:2525"})
    assert s.mail is not None
    assert (s.mail.host, s.mail.port, s.mail.user, s.mail.password, s.mail.starttls,
            s.mail.tls) == ("smtp.stad.be", 2525, "mailer", "p@ss", "required", False)
    s = Settings.from_env({**base, "SLUIS_SMTP_URL": "smtps://smtp.stad.be"})
    assert s.mail is not None and (s.mail.port, s.mail.tls) == (465, True)
    s = Settings.from_env({**base, "SLUIS_SMTP_HOST": "relay.local", "SLUIS_SMTP_PORT": "25",
                           "SLUIS_SMTP_STARTTLS": "auto", "SLUIS_SMTP_USER": "u",
                           "SLUIS_SMTP_PASSWORD": "pw"})
    assert s.mail is not None
    assert (s.mail.host, s.mail.port, s.mail.starttls, s.mail.user) == ("relay.local", 25,
                                                                         "auto", "u")
    assert "pw" not in repr(s.mail)


@pytest.mark.parametrize(("extra", "says"), [
    ({}, "SLUIS_SMTP_URL"),
    ({"SLUIS_SMTP_HOST": "relay.local"}, "SLUIS_SMTP_FROM"),
    ({"SLUIS_SMTP_HOST": "relay.local", "SLUIS_SMTP_FROM": "a@b.be"}, "SLUIS_PUBLIC_URL"),
    ({"SLUIS_SMTP_URL": "http://relay", "SLUIS_SMTP_FROM": "a@b.be"}, "SLUIS_SMTP_URL"),
    ({"SLUIS_SMTP_HOST": "relay.local", "SLUIS_SMTP_FROM": "a@b.be",
      "SLUIS_PUBLIC_URL": "https://x.be", "SLUIS_SMTP_STARTTLS": "maybe"}, "STARTTLS"),
])
def test_a_room_with_email_needs_settings_that_can_send(tmp_path: Path, extra: dict[str, str],
                                                         says: str) -> None:
    config = rooms_file(tmp_path, "[rooms.kampen]\nnotify_by_email = true\n")
    with pytest.raises(SettingsError, match=says):
        Settings.from_env({"SLUIS_DATA_DIR": str(tmp_path), "SLUIS_CONFIG": config, **extra})


def test_without_a_room_that_offers_email_no_smtp_is_needed(tmp_path: Path) -> None:
    assert Settings.from_env({"SLUIS_DATA_DIR": str(tmp_path)}).mail is None


@pytest.mark.parametrize(("given", "kept"), [
    ("ouder@example.be", "ouder@example.be"),
    ("  Ouder.Naam+kamp@Example.BE ", "Ouder.Naam+kamp@example.be"),
    ("ouder@bücher.de", "ouder@xn--bcher-kva.de"),
    ("no-at-sign.example.be", None),
    ("two@@example.be", None),
    ("ouder@localhost", None),
    ("ouder@example.123", None),
    ("with space@example.be", None),
    (".dot@example.be", None),
    ("a..b@example.be", None),
    ("ouder@-bad-.be", None),
    ("x" * 65 + "@example.be", None),
    ("ouder@example.be\r\nBcc: victim@example.be", None),
    ("<script>@example.be", None),
])
def test_addresses_are_checked_plainly(given: str, kept: str | None) -> None:
    assert notify.clean_address(given) == kept


def test_the_per_address_key_hides_the_address_and_ignores_case() -> None:
    key = notify.address_key(KEYS[0], "kampen", "Ouder@example.be")
    assert key == notify.address_key(KEYS[0], "kampen", "ouder@example.be")
    assert "ouder" not in key and len(key) == 32
    assert key != notify.address_key(KEYS[0], "zwemmen", "ouder@example.be")
    assert key != notify.address_key("another-key-0123456789", "kampen", "ouder@example.be")


def test_a_signup_survives_its_encoding() -> None:
    s = notify.Signup(address="ouder@example.be", lang="fr", path="/inschrijven?week=2")
    assert notify.Signup.decode(s.encode()) == s
    assert notify.Signup.decode("garbage") is None


@pytest.mark.parametrize(("path", "kept"), [
    ("/inschrijven/zomer?week=2", "/inschrijven/zomer?week=2"),
    ("//evil.example/x", "/"),
    ("https://evil.example/", "/"),
    ("/_sluis/admin", "/"),
    ("/%5Fsluis/admin", "/"),
    ("/a\"onmouseover=x", "/"),
    ("", "/"),
])
def test_the_link_only_leads_back_to_a_page_of_this_site(path: str, kept: str) -> None:
    assert notify.safe_path(path) == kept


def test_near_the_front_is_where_the_page_shows_a_wait_within_the_minutes() -> None:
    # 30 a minute, room for everyone, nothing measured yet: position p waits p * 2 s.
    room = (10_000, 900)
    due = notify.due_position(300, 10_000, 30, None, None, None, *room)
    assert due == 150
    assert eta.estimate(due - 1, 30, None, None, None, *room).seconds == 300
    assert (eta.estimate(due, 30, None, None, None, *room).seconds or 0) > 300
    # Never past the end of the line.
    assert notify.due_position(300, 40, 30, None, None, None, *room) == 40
    # A measured rate wins over the configured one.
    assert notify.due_position(300, 10_000, 30, 6.0, 5.0, 7.0, *room) == 30
    # Nothing moves, nothing to estimate: nobody is near.
    assert notify.due_position(300, 10_000, 0, None, None, None, *room) == 0
    assert notify.due_position(300, 10_000, 30, None, None, None, 0, 900) == 0
    # Even the first is further away than the minutes.
    assert notify.due_position(60, 10, 0, 0.5, 0.5, 0.5, *room) == 0


def test_link_max_age_covers_the_hold_then_the_longer_of_grace_and_session() -> None:
    room = RoomConfig(name="kampen", notify=NotifyConfig(by_email=True, hold_minutes=15))
    assert notify.link_max_age(room) == 15 * 60 + 900


def test_a_link_names_its_place_and_nothing_else_passes_for_one() -> None:
    links = Links(KEYS)
    token = links.token("kampen", "visitor-abcdefgh", "/inschrijven?week=2")
    place = links.read(token)
    assert place is not None
    assert (place.room, place.visitor, place.path) == ("kampen", "visitor-abcdefgh",
                                                       "/inschrijven?week=2")
    assert place.fresh(60)
    assert not place.fresh(60, now=time.time() + 61)
    # Another key, a changed character, a visitor cookie: no place.
    assert Links(("another-key-0123456789",)).read(token) is None
    assert links.read(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert links.read(Passes(KEYS).visitor_cookie("visitor-abcdefgh")) is None
    assert links.read("") is None and links.read("x" * 5000) is None
    # A link never leads off the site.
    evil = links.read(links.token("kampen", "visitor-abcdefgh", "//evil.example/"))
    assert evil is not None and evil.path == "/"
    # Keys rotate: a link signed with the old key still reads with the new list.
    assert Links(("newer-key-0123456789abc", *KEYS)).read(token) is not None
    url = links.url("https://kampen.stad.be/", "kampen", "visitor-abcdefgh", "/")
    assert url.startswith("https://kampen.stad.be/_sluis/place?t=")
