"""A small Flask shop with Flask-WTF's CSRFProtect and Flask's signed session cookie,
served by Werkzeug's threaded server:

    SITE_DATA=/tmp/x python -m flask --app 'tests.backends.frameworks.flask_site:create_app()' \
        run --host 127.0.0.1 --port 8081 --no-reload --no-debugger

SITE_TLS=1: behind a TLS-terminating proxy (ProxyFix believes one X-Forwarded-Proto), so
the session cookie is Secure and CSRFProtect checks the Referer too. Every answer is
written to SITE_DATA/requests.jsonl with the Origin and Referer the site saw.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, flash, redirect, render_template_string, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.security import check_password_hash, generate_password_hash

from tests.backends.frameworks import text_answers

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kampen</title><link rel="icon" href="data:,">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
#messages{background:#e6f4ea;padding:.5rem 1rem;list-style:none}</style></head>
<body data-app="flask">
<header><strong>Stad Kampen</strong> (Flask)
<p id="who">{% if session.user %}Signed in as {{ session.user }}{% else %}Not signed in
{% endif %}</p>
</header>
{% with shown = get_flashed_messages() %}{% if shown %}<ul id="messages">
{% for m in shown %}<li>{{ m }}</li>{% endfor %}</ul>{% endif %}{% endwith %}
<main>{{ main|safe }}</main></body></html>"""

PAGES = {
    "home": """<h1>Welcome</h1>
<p><a href="/login/">Sign in</a> · <a href="/notes/">Notes</a></p>""",
    "login": """<h1>Sign in</h1><form method="post" id="login">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<p><label>Username <input name="username" id="id_username" required></label></p>
<p><label>Password <input name="password" id="id_password" type="password" required></label></p>
<button type="submit">Sign in</button></form>""",
    "account": """<h1>Your account</h1><form method="post" action="/logout/" id="signout-form">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<button type="submit" id="signout">Sign out</button></form>""",
    "note_form": """<h1>New note</h1><form method="post" id="note">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<label>Note <input name="text" required></label> <button type="submit">Save</button></form>""",
    "notes": """<h1>Notes</h1>
<ul id="notes">{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>""",
    "links": """<h1>Links</h1><ul>{% for href in links %}
<li><a class="abs" href="{{ href }}">{{ href }}</a></li>{% endfor %}</ul>""",
    "upload": """<h1>Upload</h1><form method="post" enctype="multipart/form-data" id="upload">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="file" name="file" required> <button type="submit">Send</button></form>""",
    "uploaded": """<h1>Received</h1><p>File <span id="name">{{ name }}</span>:
<span id="size">{{ size }}</span> bytes, sha256 <code id="sha256">{{ sha256 }}</code></p>""",
    "refused": """<h1>Bad Request (400)</h1>
<p>CSRF check failed: <span id="reason">{{ reason }}</span></p>""",
}


def page(which: str, **context: Any) -> str:
    return render_template_string(BASE, main=render_template_string(PAGES[which], **context))


class Recorder:
    """WSGI middleware: one line per answer, with what came in."""

    def __init__(self, app: Any, log: Path) -> None:
        self.app = app
        self.log = log
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        seen = {"method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO"),
                "host": environ.get("HTTP_HOST"), "origin": environ.get("HTTP_ORIGIN"),
                "referer": environ.get("HTTP_REFERER"),
                "forwarded_proto": environ.get("HTTP_X_FORWARDED_PROTO")}

        def recording(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = int(status.split()[0])
            seen["reason"] = environ.get("site.csrf_reason")
            seen["secure"] = environ.get("wsgi.url_scheme") == "https"
            with self.lock, open(self.log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(seen) + "\n")
            return start_response(status, headers, *exc)

        return self.app(environ, recording)  # type: ignore[no-any-return]


def create_app() -> Flask:
    data = Path(os.environ["SITE_DATA"])
    tls = os.environ.get("SITE_TLS") == "1"
    user = os.environ.get("SITE_USER", "alice")
    password_hash = generate_password_hash(os.environ.get("SITE_PASSWORD", "kamp-2027-geheim"))

    app = Flask(__name__)
    app.config.update(SECRET_KEY="flask-site-test-key-not-secret-0123456789",
                      SESSION_COOKIE_SECURE=tls, MAX_CONTENT_LENGTH=32 * 1024 * 1024)
    CSRFProtect(app)
    # Recorder outside ProxyFix: it reports the scheme the site ended up believing.
    inner = ProxyFix(app.wsgi_app, x_proto=1) if tls else app.wsgi_app
    app.wsgi_app = Recorder(inner, data / "requests.jsonl")  # type: ignore[method-assign]

    def signed_in() -> bool:
        return session.get("user") == user

    @app.errorhandler(CSRFError)
    def refused(error: CSRFError) -> ResponseReturnValue:
        request.environ["site.csrf_reason"] = error.description
        return page("refused", reason=error.description), 400

    @app.get("/")
    def home() -> ResponseReturnValue:
        return page("home")

    @app.route("/login/", methods=["GET", "POST"])
    def login() -> ResponseReturnValue:
        if request.method == "POST":
            if (request.form.get("username") == user
                    and check_password_hash(password_hash, request.form.get("password", ""))):
                session.clear()
                session["user"] = user
                return redirect(request.args.get("next") or url_for("account"))
            flash("Wrong username or password")
        return page("login")

    @app.post("/logout/")
    def logout() -> ResponseReturnValue:
        session.clear()
        flash("Signed out")
        return redirect(url_for("home"))

    @app.get("/account/")
    def account() -> ResponseReturnValue:
        if not signed_in():
            return redirect(url_for("login", next=request.path))
        return page("account")

    @app.route("/notes/new/", methods=["GET", "POST"])
    def new_note() -> ResponseReturnValue:
        if not signed_in():
            return redirect(url_for("login", next=request.path))
        if request.method == "POST":
            text = request.form.get("text", "").strip()
            session["notes"] = [*session.get("notes", []), text]
            flash(f"Note saved: {text}")
            return redirect(url_for("notes"))
        return page("note_form")

    @app.get("/notes/")
    def notes() -> ResponseReturnValue:
        if not signed_in():
            return redirect(url_for("login", next=request.path))
        return page("notes", notes=session.get("notes", []))

    @app.get("/links/")
    def links() -> ResponseReturnValue:
        if not signed_in():
            return redirect(url_for("login", next=request.path))
        # Absolute addresses from the site's own idea of where it is (its Host).
        hrefs = [url_for(name, _external=True) for name in ("notes", "upload")]
        return page("links", links=hrefs)

    @app.route("/upload/", methods=["GET", "POST"])
    def upload() -> ResponseReturnValue:
        if not signed_in():
            return redirect(url_for("login", next=request.path))
        if request.method == "POST":
            received = request.files["file"]
            digest = hashlib.sha256()
            size = 0
            while chunk := received.stream.read(64 * 1024):
                digest.update(chunk)
                size += len(chunk)
            return page("uploaded", name=received.filename, size=size,
                        sha256=digest.hexdigest())
        return page("upload")

    # Textual answers other than HTML, each naming the site's own address as Flask builds it.
    def textual(template: str, content_type: str) -> ResponseReturnValue:
        body = template.format(url=url_for("notes", _external=True))
        return body, 200, {"Content-Type": content_type}

    @app.get("/receipt.txt")
    def receipt() -> ResponseReturnValue:
        return textual(text_answers.RECEIPT, "text/plain; charset=utf-8")

    @app.get("/calendar.ics")
    def calendar() -> ResponseReturnValue:
        return textual(text_answers.CALENDAR, "text/calendar; charset=utf-8")

    @app.get("/feed.atom")
    def feed() -> ResponseReturnValue:
        return textual(text_answers.FEED, "application/atom+xml")

    return app
