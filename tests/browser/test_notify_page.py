"""Stepping away, in headless Chromium against real processes (gateway, worker, Redis,
an upstream site and a local SMTP server): the page calls the parent back at their turn
(title, sound, notification), and the e-mail's personal link carries the place to
another browser. The browser side is `notify.mjs`; screenshots land in
artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.browser.test_queue_page import SHOTS, chromium, node_modules  # noqa: F401
from tests.notify.smtp import Inbox
from tests.notify.stack import ADMIN_TOKEN, inbox, sluis  # noqa: F401 - fixtures

HERE = Path(__file__).resolve().parent
ROOM = "zomerkampen"
PAGE = "/inschrijven/zomer?week=2"

pytestmark = pytest.mark.slow


def run(name: str, url: str, chromium: str, node_modules: Path,  # noqa: F811
        **more: str) -> dict[str, object]:
    env = dict(os.environ, SLUIS_URL=url, SLUIS_ROOM=ROOM, SLUIS_ADMIN_TOKEN=ADMIN_TOKEN,
               SLUIS_SHOTS=str(SHOTS), SLUIS_CHROMIUM=chromium, **more)
    done = subprocess.run(["node", str(HERE / "notify.mjs"), name], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=110)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, object] = json.loads(lines[-1])
    return result


def admin(url: str, **changes: object) -> None:
    r = httpx.patch(f"{url}/_sluis/admin/api/rooms/{ROOM}", json=changes,
                    headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, trust_env=False)
    assert r.status_code == 200, r.text


def test_the_page_calls_the_parent_back_with_title_sound_and_notification(
        sluis: str, chromium: str, node_modules: Path) -> None:  # noqa: F811
    result = run("alert", sluis, chromium, node_modules)
    assert result["loads"] == 2
    assert len(result["screenshots"]) == 4  # type: ignore[arg-type]


def test_the_page_asks_for_notifications_only_on_the_parents_click(
        sluis: str, chromium: str, node_modules: Path) -> None:  # noqa: F811
    run("permission", sluis, chromium, node_modules)


def test_the_emailed_link_carries_the_place_to_another_browser(
        sluis: str, inbox: Inbox, chromium: str, node_modules: Path) -> None:  # noqa: F811
    # One place on the site, taken; the line moves one a minute: number 1 is due.
    admin(sluis, rate_per_minute=1, max_active=1)
    with httpx.Client(base_url=sluis, timeout=10, trust_env=False) as inside:
        inside.get(PAGE)
        assert inside.get(PAGE).json()["reached"] == "upstream"
    result = run("mail", sluis, chromium, node_modules)
    mail = inbox.wait(1)[0]
    assert mail.recipients == ["ouder@example.be"]
    assert mail.message["Subject"] == "Je beurt komt eraan: Zomerkampen 2027"
    assert len(inbox.received) == 1, "number 2 is not near yet"
    run("link", sluis, chromium, node_modules, SLUIS_LINK=mail.link,
        SLUIS_POSITION=str(result["position"]))
