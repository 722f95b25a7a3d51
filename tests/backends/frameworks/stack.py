"""The processes of one conformance run, all on 127.0.0.1: a framework's site, a worker and
a gateway proxying to it (configured with SLUIS_BACKEND alone, as docs/backends.md
says), and, for the HTTPS case, HAProxy ending TLS in front of the gateway."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.common.net import free_port
from harness.processes import ROOT, serve, spawn, stop, wait_http
from harness.sluis import gateway, sluis_env, worker
from tests.scale.engines import debian_tool

USER = "alice"
PASSWORD = "kamp-2027-geheim"
# HAProxy reaches the gateway from this address; the gateway trusts it and no other.
TLS_PROXY_SOURCE = "127.0.0.2"


@dataclass(frozen=True)
class Site:
    url: str  # the site's own address, which visitors should never see
    log: Path  # one JSON line per answer the site gave

    def answers(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


def _site_env(data: Path, tls: bool) -> dict[str, str]:
    data.mkdir(parents=True, exist_ok=True)
    return dict(os.environ, PYTHONPATH=str(ROOT), SITE_DATA=str(data),
                SITE_TLS="1" if tls else "0", SITE_USER=USER, SITE_PASSWORD=PASSWORD)


@contextmanager
def django_site(tmp: Path, tls: bool) -> Iterator[Site]:
    """The Django shop under uvicorn, its SQLite database migrated and its user made."""
    env = _site_env(tmp / "django", tls)
    prepare = subprocess.run(
        [sys.executable, "-c",
         "from tests.backends.frameworks.django_site import prepare; prepare()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert prepare.returncode == 0, prepare.stdout + prepare.stderr
    with serve(["-m", "uvicorn", "tests.backends.frameworks.django_site:application",
                "--host", "127.0.0.1", "--lifespan", "off", "--log-level", "warning"],
               env, tmp / "django.log") as served:
        yield Site(served.url, tmp / "django" / "requests.jsonl")


@contextmanager
def flask_site(tmp: Path, tls: bool) -> Iterator[Site]:
    """The Flask shop under Werkzeug's threaded server (what `flask run` starts)."""
    env = _site_env(tmp / "flask", tls)
    with serve(["-m", "flask", "--app", "tests.backends.frameworks.flask_site:create_app()",
                "run", "--host", "127.0.0.1", "--no-reload", "--no-debugger"],
               env, tmp / "flask.log") as served:
        yield Site(served.url, tmp / "flask" / "requests.jsonl")


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """(certificate, certificate and key in one PEM for HAProxy) for 127.0.0.1."""
    openssl = debian_tool("openssl", "openssl")
    cert, key, pem = tmp / "tls.crt", tmp / "tls.key", tmp / "tls.pem"
    made = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    return cert, pem


HAPROXY_TLS = """global
    log stdout format raw local0 notice
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend visitors
    bind 127.0.0.1:{port} ssl crt {pem}
    http-request set-header X-Forwarded-Proto https
    option forwardfor
    default_backend gateway
backend gateway
    source {source}
    server gateway {gateway}
"""


@contextmanager
def tls_terminator(gateway_url: str, tmp: Path) -> Iterator[str]:
    """HAProxy serving HTTPS in front of the gateway; yields its https:// address."""
    binary = debian_tool("haproxy", "haproxy")
    cert, pem = self_signed(tmp)
    port = free_port()
    config = tmp / "haproxy-tls.cfg"
    config.write_text(HAPROXY_TLS.format(port=port, pem=pem, source=TLS_PROXY_SOURCE,
                                         gateway=gateway_url.split("://", 1)[1]))
    check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    log = tmp / "haproxy.log"
    proc = spawn([binary, "-db", "-f", str(config)], None, log)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_http(url + "/_sluis/readyz", proc=proc, log=log,
                  verify=ssl.create_default_context(cafile=str(cert)))
        yield url
    finally:
        stop(proc)


@contextmanager
def sluis_in_front(redis_url: str, tmp: Path, upstream: str, tls: bool) -> Iterator[str]:
    """A worker and a gateway whose one room proxies to `upstream` with default settings;
    yields the address visitors use (HAProxy's https:// one when `tls`)."""
    extra = {"SLUIS_TRUSTED_PROXIES": TLS_PROXY_SOURCE} if tls else {}
    env = sluis_env(redis_url, tmp, SLUIS_BACKEND=upstream, SLUIS_WORKER_TICK_MS="100",
                    **extra)
    w = worker(env, tmp, "worker")
    try:
        with gateway(env, tmp) as url:
            if tls:
                with tls_terminator(url, tmp) as public:
                    yield public
            else:
                yield url
    finally:
        stop(w)
