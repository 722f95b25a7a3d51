"""The booking engine's settings: one frozen object, read from the environment once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = ".sluis"
DEFAULT_HOLD_MINUTES = 15
DEFAULT_OFFER_HOURS = 48
# Postcodes that count as residents when the demo runs and none are configured.
DEMO_RESIDENT_POSTCODES = frozenset({"9990", "9991", "9992"})

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def default_database_url(data_dir: Path) -> str:
    """The booking engine's SQLite file in the data folder, when no database is named."""
    return f"sqlite+aiosqlite:///{data_dir / 'booking.sqlite3'}"


@dataclass(frozen=True, slots=True)
class InternalSettings:
    """Everything the booking engine needs to know about its surroundings."""

    database_url: str
    secret_keys: tuple[str, ...] = ()
    admin_token: str | None = None
    require_admission: bool = True
    demo_data: bool = False
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    hold_minutes: int = DEFAULT_HOLD_MINUTES
    offer_hours: int = DEFAULT_OFFER_HOURS
    resident_postcodes: frozenset[str] = field(default_factory=frozenset)
    timezone: str = "Europe/Brussels"
    site_name: str | None = None
    sweep_seconds: float = 5.0
    pool_size: int = 10

    def __post_init__(self) -> None:
        if self.require_admission and not self.secret_keys:
            raise ValueError(
                "SLUIS_SECRET_KEYS is empty but admissions are required: set the keys "
                "the gateway signs with, or SLUIS_INTERNAL_REQUIRE_ADMISSION=false"
            )
        if self.hold_minutes <= 0 or self.offer_hours <= 0:
            raise ValueError("hold and offer durations must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InternalSettings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("SLUIS_DATA_DIR", "").strip() or DEFAULT_DATA_DIR)
        database_url = env.get("SLUIS_DATABASE_URL", "").strip() or default_database_url(
            data_dir)
        demo = _flag(env, "SLUIS_INTERNAL_DEMO_DATA", False)
        postcodes_raw = env.get("SLUIS_RESIDENT_POSTCODES")
        if postcodes_raw is None:
            postcodes = DEMO_RESIDENT_POSTCODES if demo else frozenset()
        else:
            postcodes = frozenset(p.upper() for p in _split(postcodes_raw))
        return cls(
            database_url=database_url,
            secret_keys=_split(env.get("SLUIS_SECRET_KEYS", "")),
            admin_token=env.get("SLUIS_ADMIN_TOKEN", "").strip() or None,
            require_admission=_flag(env, "SLUIS_INTERNAL_REQUIRE_ADMISSION", True),
            demo_data=demo,
            data_dir=data_dir,
            hold_minutes=_positive_int(env, "SLUIS_INTERNAL_HOLD_MINUTES", DEFAULT_HOLD_MINUTES),
            offer_hours=_positive_int(env, "SLUIS_INTERNAL_OFFER_HOURS", DEFAULT_OFFER_HOURS),
            resident_postcodes=postcodes,
            timezone=env.get("SLUIS_TIMEZONE", "").strip() or "Europe/Brussels",
            site_name=env.get("SLUIS_INTERNAL_SITE_NAME", "").strip() or None,
            pool_size=_positive_int(env, "SLUIS_DATABASE_POOL_SIZE", 10),
        )
