"""Real web frameworks behind the proxy, used by headless Chromium through the gateway.

Chromium sends `Origin` on every POST (and `Referer`), which httpx never does: Django's
CsrfViewMiddleware and Flask-WTF's CSRFProtect (over HTTPS) compare them with the site's
own address. These runs prove that a site an operator puts behind Sluis with nothing but
`SLUIS_BACKEND=<its address>` keeps working for a real browser: sign in, a form that
redirects, absolute links, an upload, sign out; over HTTP, and behind HAProxy ending TLS.
The browser side is flows.mjs; screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.processes import ROOT
from tests.backends.frameworks import text_answers
from tests.backends.frameworks.stack import USER, Site, django_site, flask_site, sluis_in_front

HERE = Path(__file__).resolve().parent
SHOTS = ROOT / "artifacts" / "screenshots"
UPLOAD_NAME = "inschrijving.pdf"
UPLOAD_BYTES = 3 * 1024 * 1024 + 17  # past Django's in-memory limit: a temporary file
NOTE = "Week 2 for Mila"
SITES = {"django": django_site, "flask": flask_site}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

Step = dict[str, Any]


def run_flows(name: str, url: str, upload: Path, chromium: str, node_modules: Path
              ) -> dict[str, Any]:
    env = dict(os.environ, SITE_URL=url, SITE_NAME=name, SITE_USER=USER,
               SITE_PASSWORD="kamp-2027-geheim", SITE_UPLOAD=str(upload),
               SITE_TEXT_PATHS=",".join(text_answers.TYPES), SLUIS_SHOTS=str(SHOTS),
               SLUIS_CHROMIUM=chromium, SITE_NODE_MODULES=str(node_modules))
    run = subprocess.run(["node", str(HERE / "flows.mjs")], cwd=HERE, env=env,
                         capture_output=True, text=True, timeout=180)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, f"flows.mjs failed:\n{run.stdout}\n{run.stderr}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def documents(step: Step) -> list[tuple[str, str, int]]:
    """The main frame's answers during the step: (method, path, status), redirects too."""
    return [(d["method"], urlsplit(d["url"]).path, d["status"]) for d in step["documents"]]


def explain(step: Step, site: Site) -> str:
    shown = {k: step.get(k) for k in ("name", "error", "url", "documents", "who", "messages",
                                      "reason", "text")}
    refused = [a for a in site.answers() if int(str(a["status"])) >= 400]
    return (f"\nstep: {json.dumps(shown, indent=1)}\n"
            f"answers of the site with status >= 400: {json.dumps(refused, indent=1)}")


def check_steps(report: dict[str, Any], site: Site, framework: str, upload: Path) -> None:
    """Every step in order: the first that went wrong is the one reported."""
    base = report["base"]
    sha256 = hashlib.sha256(upload.read_bytes()).hexdigest()

    def enter(s: Step) -> None:
        # The queue page first (its own assets come from /_sluis/), then the site's page.
        assert any("/_sluis/static/" in r for r in s["sluis_requests"]), s["sluis_requests"]
        assert len(documents(s)) >= 2 and documents(s)[-1] == ("GET", "/login/", 200)
        assert s["app"] == framework and s["who"] == "Not signed in"

    def sign_in(s: Step) -> None:
        assert documents(s) == [("POST", "/login/", 302), ("GET", "/account/", 200)]
        assert s["who"] == f"Signed in as {USER}"

    def post_and_redirect(s: Step) -> None:
        assert documents(s) == [("GET", "/notes/new/", 200), ("POST", "/notes/new/", 302),
                                ("GET", "/notes/", 200)]
        assert s["messages"] == f"Note saved: {NOTE}", "the flash message after the redirect"
        assert s["notes"] == NOTE

    def absolute_links(s: Step) -> None:
        assert documents(s) == [("GET", "/links/", 200)]
        assert s["links"] == [f"{base}/notes/", f"{base}/upload/"], "links name the gateway"

    def follow_link(s: Step) -> None:
        assert documents(s) == [("GET", "/notes/", 200)]
        assert s["url"] == f"{base}/notes/" and s["who"] == f"Signed in as {USER}"

    def textual(s: Step) -> None:
        assert documents(s) == []
        upstream = urlsplit(site.url).netloc
        for got in s["texts"]:
            assert got["status"] == 200 and got["type"].startswith(
                text_answers.TYPES[got["path"]]), got
            assert f"{base}/notes/" in got["body"] and upstream not in got["body"], (
                f"{got['type']} rewritten to the gateway: {got}")
        assert len(s["texts"]) == len(text_answers.TYPES)

    def upload_file(s: Step) -> None:
        assert documents(s) == [("GET", "/upload/", 200), ("POST", "/upload/", 200)]
        assert (s["file_name"], s["size"], s["sha256"]) == (
            UPLOAD_NAME, str(UPLOAD_BYTES), sha256), "the site received the file intact"

    def sign_out(s: Step) -> None:
        assert documents(s) == [("GET", "/account/", 200), ("POST", "/logout/", 302),
                                ("GET", "/", 200)]
        assert s["who"] == "Not signed in" and s["messages"] == "Signed out"

    def signed_out(s: Step) -> None:
        assert documents(s)[0] == ("GET", "/account/", 302)
        assert urlsplit(s["url"]).path == "/login/" and s["who"] == "Not signed in"

    checks: dict[str, Callable[[Step], None]] = {
        "enter": enter, "sign_in": sign_in, "post_and_redirect": post_and_redirect,
        "absolute_links": absolute_links, "follow_link": follow_link, "text_answers": textual,
        "upload": upload_file,
        "sign_out": sign_out, "signed_out": signed_out}
    steps = {s["name"]: s for s in report["steps"]}
    for name, check in checks.items():
        last = report["steps"][-1]
        assert name in steps, f"the run ended before {name}:{explain(last, site)}"
        step = steps[name]
        assert step["ok"], f"{name} did not get through:{explain(step, site)}"
        try:
            check(step)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}{explain(step, site)}") from None


def check_site_saw(site: Site, tls: bool) -> None:
    """What the site saw: its own host, no refusal, and Origin and Referer naming itself."""
    answers = site.answers()
    # Everything but the readiness probe (GET /, straight from the test) came through
    # the gateway, which always says X-Forwarded-Proto.
    direct = [a for a in answers if not a["forwarded_proto"]]
    assert all((a["method"], a["path"]) == ("GET", "/") for a in direct), direct
    answers = [a for a in answers if a["forwarded_proto"]]
    assert answers, "the site saw nothing through the gateway"
    refused = [a for a in answers if int(str(a["status"])) >= 400]
    assert not refused, f"the site refused: {json.dumps(refused, indent=1)}"
    own_host = urlsplit(site.url).netloc
    assert {a["host"] for a in answers} == {own_host}
    # The visitor's scheme (the upstream itself speaks plain HTTP), the site's own host.
    own_origin = f"{'https' if tls else 'http'}://{own_host}"
    posts = [a for a in answers if a["method"] == "POST"]
    assert len(posts) == 4, posts  # sign in, note, upload, sign out
    for post in posts:
        assert post["origin"] == own_origin, post
        assert str(post["referer"]).startswith(own_origin + "/"), post
    wrong = [a for a in answers if a["secure"] is not tls]
    assert not wrong, f"the site took the visitor's scheme for another: {wrong}"


@pytest.mark.parametrize(("framework", "tls"), [
    ("django", False), ("django", True), ("flask", False), ("flask", True)],
    ids=["django-http", "django-https", "flask-http", "flask-https"])
def test_a_browser_signs_in_posts_uploads_and_signs_out_through_the_gateway(
        framework: str, tls: bool, redis_url: str, tmp_path: Path, chromium: str,
        node_modules: Path) -> None:
    upload = tmp_path / UPLOAD_NAME
    upload.write_bytes(os.urandom(UPLOAD_BYTES))
    with SITES[framework](tmp_path, tls) as site, \
            sluis_in_front(redis_url, tmp_path, site.url, tls) as public:
        name = f"{framework}-{'https' if tls else 'http'}"
        report = run_flows(name, public, upload, chromium, node_modules)
        check_steps(report, site, framework, upload)
        origin = f"{urlsplit(public).scheme}://{urlsplit(public).netloc}"
        assert report["navigations"], "the browser went somewhere"
        assert all(url.startswith(origin + "/") for url in report["navigations"]), (
            f"the address left the gateway: {report['navigations']}")
        assert report["foreign_requests"] == [], "the page fetched nothing from elsewhere"
        assert report["page_errors"] == []
        check_site_saw(site, tls)
        assert len(report["screenshots"]) == len(report["steps"])
