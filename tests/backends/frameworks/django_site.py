"""A small Django shop, the way a city's registration site is built: Django's default
middleware, django.contrib.auth, messages, SQLite. Served by uvicorn on its ASGI app:

    export SITE_DATA=/tmp/x
    python -c 'from tests.backends.frameworks.django_site import prepare; prepare()'
    python -m uvicorn tests.backends.frameworks.django_site:application

Settings come from the environment (SITE_DATA, SITE_TLS=1 for "behind a TLS proxy").
Every answer is written to SITE_DATA/requests.jsonl with the Origin and Referer the
site saw, so that a test can say why a request was refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings

MODULE = "tests.backends.frameworks.django_site"
DATA = Path(os.environ["SITE_DATA"])
TLS = os.environ.get("SITE_TLS") == "1"
USERNAME = os.environ.get("SITE_USER", "alice")
PASSWORD = os.environ.get("SITE_PASSWORD", "kamp-2027-geheim")

# Exactly the list `django-admin startproject` writes.
DEFAULT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kampen</title><link rel="icon" href="data:,">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
#messages{background:#e6f4ea;padding:.5rem 1rem;list-style:none}</style></head>
<body data-app="django">
<header><strong>Stad Kampen</strong> (Django)
<p id="who">{% if user.is_authenticated %}Signed in as {{ user.username }}{% else %}
Not signed in{% endif %}</p></header>
{% if messages %}<ul id="messages">{% for m in messages %}<li>{{ m }}</li>{% endfor %}</ul>
{% endif %}
<main>{% block main %}{% endblock %}</main>
</body></html>""",
    "home.html": """{% extends "base.html" %}{% block main %}<h1>Welcome</h1>
<p><a href="/login/">Sign in</a> · <a href="/notes/">Notes</a></p>{% endblock %}""",
    "login.html": """{% extends "base.html" %}{% block main %}<h1>Sign in</h1>
<form method="post" id="login">{% csrf_token %}{{ form.as_p }}
<button type="submit">Sign in</button></form>{% endblock %}""",
    "account.html": """{% extends "base.html" %}{% block main %}<h1>Your account</h1>
<form method="post" action="/logout/" id="signout-form">{% csrf_token %}
<button type="submit" id="signout">Sign out</button></form>{% endblock %}""",
    "note_form.html": """{% extends "base.html" %}{% block main %}<h1>New note</h1>
<form method="post" id="note">{% csrf_token %}
<label>Note <input name="text" required></label> <button type="submit">Save</button>
</form>{% endblock %}""",
    "notes.html": """{% extends "base.html" %}{% block main %}<h1>Notes</h1>
<ul id="notes">{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endblock %}""",
    "links.html": """{% extends "base.html" %}{% block main %}<h1>Links</h1>
<ul>{% for href in links %}<li><a class="abs" href="{{ href }}">{{ href }}</a></li>{% endfor %}
</ul>{% endblock %}""",
    "upload.html": """{% extends "base.html" %}{% block main %}<h1>Upload</h1>
<form method="post" enctype="multipart/form-data" id="upload">{% csrf_token %}
<input type="file" name="file" required> <button type="submit">Send</button></form>
{% endblock %}""",
    "uploaded.html": """{% extends "base.html" %}{% block main %}<h1>Received</h1>
<p>File <span id="name">{{ name }}</span>: <span id="size">{{ size }}</span> bytes,
sha256 <code id="sha256">{{ sha256 }}</code></p>{% endblock %}""",
    "refused.html": """{% extends "base.html" %}{% block main %}<h1>Forbidden (403)</h1>
<p>CSRF verification failed: <span id="reason">{{ reason }}</span></p>{% endblock %}""",
}

settings.configure(
    DEBUG=False,
    SECRET_KEY="django-site-test-key-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
    ALLOWED_HOSTS=["127.0.0.1"],  # the upstream's own host only
    ROOT_URLCONF=MODULE,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                    "django.contrib.sessions", "django.contrib.messages"],
    # The recorder only watches; the default list below it does all the work.
    MIDDLEWARE=[f"{MODULE}.Recorder", *DEFAULT_MIDDLEWARE],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": str(DATA / "site.sqlite3")}},
    TEMPLATES=[{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "context_processors": ["django.template.context_processors.request",
                                   "django.contrib.auth.context_processors.auth",
                                   "django.contrib.messages.context_processors.messages"],
            "loaders": [("django.template.loaders.locmem.Loader", TEMPLATES)],
        },
    }],
    LOGIN_URL="/login/",
    LOGIN_REDIRECT_URL="/account/",
    LOGOUT_REDIRECT_URL="/",
    # Rendered like Django's own 403 page, with the reason shown (DEBUG hides it).
    CSRF_FAILURE_VIEW=f"{MODULE}.csrf_failure",
    USE_TZ=True,
    # Behind a TLS-terminating proxy, as Django's deployment checklist says.
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https") if TLS else None,
    CSRF_COOKIE_SECURE=TLS,
    SESSION_COOKIE_SECURE=TLS,
)
django.setup()

from django.contrib import messages  # noqa: E402 - after settings.configure()
from django.contrib.auth import user_logged_out  # noqa: E402
from django.contrib.auth import views as auth_views  # noqa: E402
from django.contrib.auth.decorators import login_required  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden  # noqa: E402
from django.shortcuts import redirect, render  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from django.urls import path, reverse  # noqa: E402

from tests.backends.frameworks import text_answers  # noqa: E402

_log_lock = threading.Lock()


class Recorder:
    """Writes one line per answer: what came in, and what the site made of it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        line = {"method": request.method, "path": request.path, "status": response.status_code,
                "host": request.META.get("HTTP_HOST"),
                "origin": request.META.get("HTTP_ORIGIN"),
                "referer": request.META.get("HTTP_REFERER"),
                "forwarded_proto": request.META.get("HTTP_X_FORWARDED_PROTO"),
                "secure": request.is_secure(),
                "reason": getattr(response, "csrf_reason", None)}
        with _log_lock, open(DATA / "requests.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    response = HttpResponseForbidden(render_to_string("refused.html", {"reason": reason},
                                                      request=request))
    response.csrf_reason = reason  # type: ignore[attr-defined]
    return response


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "account.html")


@login_required
def new_note(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        text = request.POST.get("text", "").strip()
        request.session["notes"] = [*request.session.get("notes", []), text]
        messages.success(request, f"Note saved: {text}")
        return redirect("notes")
    return render(request, "note_form.html")


@login_required
def notes(request: HttpRequest) -> HttpResponse:
    return render(request, "notes.html", {"notes": request.session.get("notes", [])})


@login_required
def links(request: HttpRequest) -> HttpResponse:
    # Absolute addresses from the site's own idea of where it is (its Host).
    hrefs = [request.build_absolute_uri(reverse(name)) for name in ("notes", "upload")]
    return render(request, "links.html", {"links": hrefs})


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        received = request.FILES["file"]
        digest = hashlib.sha256()
        size = 0
        for chunk in received.chunks():
            digest.update(chunk)
            size += len(chunk)
        return render(request, "uploaded.html",
                      {"name": received.name, "size": size, "sha256": digest.hexdigest()})
    return render(request, "upload.html")


# Textual answers other than HTML, each naming the site's own address as Django builds it.
def receipt(request: HttpRequest) -> HttpResponse:
    return HttpResponse(text_answers.RECEIPT.format(url=request.build_absolute_uri("/notes/")),
                        content_type="text/plain; charset=utf-8")


def calendar(request: HttpRequest) -> HttpResponse:
    return HttpResponse(text_answers.CALENDAR.format(url=request.build_absolute_uri("/notes/")),
                        content_type="text/calendar; charset=utf-8")


def feed(request: HttpRequest) -> HttpResponse:
    return HttpResponse(text_answers.FEED.format(url=request.build_absolute_uri("/notes/")),
                        content_type="application/atom+xml")


def said_goodbye(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
    messages.info(request, "Signed out")


user_logged_out.connect(said_goodbye)

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only (Django 5)
    path("account/", account, name="account"),
    path("notes/new/", new_note, name="new_note"),
    path("notes/", notes, name="notes"),
    path("links/", links, name="links"),
    path("upload/", upload, name="upload"),
    path("receipt.txt", receipt),
    path("calendar.ics", calendar),
    path("feed.atom", feed),
]

application = get_asgi_application()


def prepare() -> None:
    """The database and the one user."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    model = get_user_model()
    if not model.objects.filter(username=USERNAME).exists():
        model.objects.create_user(USERNAME, password=PASSWORD)
