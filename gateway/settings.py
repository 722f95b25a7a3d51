"""One frozen Settings object, read from the environment once and passed down."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from backends.internal.settings import InternalSettings, default_database_url
from gateway.notify import MailSettings, mail_from_env
from gateway.roomfile import load_rooms
from gateway.rooms import RoomConfig


class SettingsError(ValueError):
    """A setting in the environment has a value Sluis cannot use."""


# Places one address may hold in line at once unless SLUIS_PLACES_PER_IP says otherwise:
# far above one family's, so that many families behind one carrier-grade NAT all fit.
PLACES_PER_IP = 100


# Who may read /_sluis/metrics unless SLUIS_METRICS_NETWORKS says otherwise: the machine
# itself and private networks, where Prometheus scrapes from (compose, Kubernetes).
LOCAL_NETWORKS = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                  "fc00::/7")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _networks(env: Mapping[str, str], name: str, default: tuple[str, ...]
              ) -> tuple[str, ...]:
    items = _csv(env, name) or default
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an address or network") from None
    return items


def _stored_secret(path: Path, nbytes: int) -> str:
    """A secret kept in the data folder so that restarts keep cookies valid."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str | None
    data_dir: Path
    secret_keys: tuple[str, ...]
    admin_token: str
    backend: str
    internal_url: str | None
    database_url: str | None
    port: int
    joins_per_ip_per_minute: int
    trusted_proxies: tuple[str, ...]
    rooms: tuple[RoomConfig, ...]
    # Places one client address may hold in line at once (0: no limit); IPv6 addresses
    # count per network of this prefix length, for the join limits and the networks below.
    places_per_ip: int = 0
    ipv6_prefix: int = 64
    # An admission is one person's (gateway/sharing.py): client networks it may be used
    # from within the window; requests of one admission at once and per minute, in each
    # gateway process. 0 turns a limit off.
    networks_per_admission: int = 3
    networks_window_seconds: int = 600
    inflight_per_admission: int = 8
    requests_per_admission_per_minute: int = 600
    # Seconds between writes that slide an admitted visitor's session forward.
    renew_every_seconds: int = 10
    # How long Redis may take before a request is answered with the calm 503.
    redis_timeout_seconds: float = 2.0
    worker_tick_seconds: float = 0.5
    # The HTTP server's own limits (gateway/server.py): seconds for a whole request head
    # (and the longest silence inside a body), seconds a kept-alive connection may idle,
    # connections one process holds (0: what its file descriptor limit allows).
    header_timeout_seconds: int = 10
    idle_timeout_seconds: int = 5
    max_connections: int = 0
    # Who may read /_sluis/metrics: a client from these networks (the visitor's address,
    # through trusted proxies) and, when a token is set, only with that bearer token.
    metrics_networks: tuple[str, ...] = LOCAL_NETWORKS
    metrics_token: str | None = None
    # The SMTP server for e-mail to parents near the front (gateway/notify.py); None: none.
    mail: MailSettings | None = None
    # SLUIS_CONFIG, where `rooms` came from; None: the one room `default`.
    rooms_file: str | None = None
    # The booking engine's settings when this process runs it for a room (in-process);
    # None when every room proxies, or SLUIS_INTERNAL_URL names a separately run engine.
    internal: InternalSettings | None = None

    @property
    def booking_database_url(self) -> str:
        """The internal booking engine's database: SLUIS_DATABASE_URL, else its SQLite
        file in the data folder (as backends/internal/settings.py chooses it)."""
        return self.database_url or default_database_url(self.data_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, demo: bool = False
                 ) -> Settings:
        """Every setting from `env` (default: the process's). `demo`: the booking engine
        loads its sample camps unless SLUIS_INTERNAL_DEMO_DATA says otherwise."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("SLUIS_DATA_DIR", ".sluis")).resolve()
        keys = _csv(env, "SLUIS_SECRET_KEYS")
        if not keys:
            keys = (_stored_secret(data_dir / "secret_key", 32),)
        if any(len(k) < 16 for k in keys):
            raise SettingsError("every key in SLUIS_SECRET_KEYS needs at least 16 characters")
        admin = env.get("SLUIS_ADMIN_TOKEN", "").strip() or _stored_secret(
            data_dir / "admin_token", 24
        )
        tick_ms = _int(env, "SLUIS_WORKER_TICK_MS", 500, minimum=50)
        joins = _int(env, "SLUIS_JOINS_PER_IP_PER_MINUTE", 60)
        ipv6_prefix = _int(env, "SLUIS_IPV6_PREFIX", 64, minimum=1)
        if ipv6_prefix > 128:
            raise SettingsError("SLUIS_IPV6_PREFIX must be at most 128")
        if tick_ms > 1000:
            raise SettingsError("SLUIS_WORKER_TICK_MS must be at most 1000")
        rooms_file = env.get("SLUIS_CONFIG", "").strip() or None
        rooms = load_rooms(rooms_file, env)
        backend = env.get("SLUIS_BACKEND", "").strip() or "internal"
        internal_url = env.get("SLUIS_INTERNAL_URL", "").strip() or None
        try:
            mail = mail_from_env(env, rooms)
            internal = None
            if internal_url is None and any(
                    room.backend.resolved(backend).kind == "internal" for room in rooms):
                internal = _internal(env, keys, admin, demo)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return cls(
            redis_url=env.get("SLUIS_REDIS_URL", "").strip() or None,
            data_dir=data_dir,
            secret_keys=keys,
            admin_token=admin,
            backend=backend,
            internal_url=internal_url,
            database_url=env.get("SLUIS_DATABASE_URL", "").strip() or None,
            port=_int(env, "SLUIS_PORT", 8000, minimum=1),
            joins_per_ip_per_minute=joins,
            # Off with the join limit unless set: a deployment that turned per-address
            # limits off (a test rig, a load test from one machine) keeps them off.
            places_per_ip=_int(env, "SLUIS_PLACES_PER_IP", PLACES_PER_IP if joins else 0),
            ipv6_prefix=ipv6_prefix,
            networks_per_admission=_int(env, "SLUIS_NETWORKS_PER_ADMISSION", 3),
            networks_window_seconds=_int(env, "SLUIS_NETWORKS_WINDOW_SECONDS", 600, minimum=1),
            inflight_per_admission=_int(env, "SLUIS_INFLIGHT_PER_ADMISSION", 8),
            requests_per_admission_per_minute=_int(
                env, "SLUIS_REQUESTS_PER_ADMISSION_PER_MINUTE", 600),
            trusted_proxies=_csv(env, "SLUIS_TRUSTED_PROXIES"),
            rooms=rooms,
            renew_every_seconds=_int(env, "SLUIS_RENEW_EVERY_SECONDS", 10, minimum=1),
            worker_tick_seconds=tick_ms / 1000,
            header_timeout_seconds=_int(env, "SLUIS_HEADER_TIMEOUT_SECONDS", 10, minimum=1),
            idle_timeout_seconds=_int(env, "SLUIS_IDLE_TIMEOUT_SECONDS", 5, minimum=1),
            max_connections=_int(env, "SLUIS_MAX_CONNECTIONS", 0, minimum=1),
            metrics_networks=_networks(env, "SLUIS_METRICS_NETWORKS", LOCAL_NETWORKS),
            metrics_token=env.get("SLUIS_METRICS_TOKEN", "").strip() or None,
            mail=mail,
            rooms_file=rooms_file,
            internal=internal,
        )


def _internal(env: Mapping[str, str], keys: tuple[str, ...], admin: str, demo: bool
              ) -> InternalSettings:
    """The in-process booking engine's settings: its own variables (SLUIS_INTERNAL_*,
    SLUIS_DATABASE_URL...), with the gateway's signing keys and admin token, generated
    ones included, so that both check the same admissions and the same token."""
    given = {**env, "SLUIS_SECRET_KEYS": ",".join(keys), "SLUIS_ADMIN_TOKEN": admin}
    if demo:
        given.setdefault("SLUIS_INTERNAL_DEMO_DATA", "true")
    return InternalSettings.from_env(given)
