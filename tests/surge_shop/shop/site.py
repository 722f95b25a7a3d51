"""The shop's settings (in code, the defaults a new Django project starts with), its
request record, and its entry points: `prepare` builds the database, `application`
is the ASGI app for uvicorn (`--factory`).

Every answer is appended to requests.jsonl in the data folder (time, method, path,
status), from every server process, so the surge can count 403s and 5xx.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse

DATA_ENV = "SHOP_DATA_DIR"
REQUESTS_FILE = "requests.jsonl"


def configure(data_dir: Path) -> None:
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="surge-shop-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF="tests.surge_shop.shop.urls",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "tests.surge_shop.shop",
        ],
        # What `django-admin startproject` writes, with the request record outermost so
        # that it also sees the 403 of a failed CSRF check and any 500.
        MIDDLEWARE=[
            "tests.surge_shop.shop.site.RecordRequests",
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(data_dir / "shop.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                # Writers take the lock when the transaction begins, and wait for it.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


class RecordRequests:
    """Appends one line per answer to the data folder's requests.jsonl."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        path = Path(os.environ[DATA_ENV]) / REQUESTS_FILE
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        line = json.dumps({"t": time.time(), "method": request.method, "path": request.path,
                           "status": response.status_code, "pid": os.getpid()})
        os.write(self.fd, line.encode() + b"\n")  # one write: whole lines, also across processes
        return response


def application() -> Any:
    """The ASGI app (uvicorn --factory); SHOP_DATA_DIR names the prepared folder."""
    configure(Path(os.environ[DATA_ENV]))
    from django.core.asgi import get_asgi_application
    return get_asgi_application()


def prepare(data_dir: Path, places: int, name: str) -> None:
    """A new database with one event of `places` places."""
    configure(data_dir)
    from django.core.management import call_command

    from .models import Event
    call_command("migrate", run_syncdb=True, verbosity=0)
    Event.objects.all().delete()
    Event.objects.create(name=name, places=places)


def read_requests(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / REQUESTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--places", type=int, required=True)
    parser.add_argument("--name", default="Summer camp 2027")
    args = parser.parse_args()
    prepare(Path(os.environ[DATA_ENV]), args.places, args.name)


if __name__ == "__main__":
    main()
