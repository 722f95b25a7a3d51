"""A room's backend settings from TOML, and the breaker's decisions (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.config import BackendConfig, BreakerBounds
from gateway.roomfile import load_rooms, parse_backend
from gateway.rooms import RoomSettingsError
from queue_worker.breaker import Health, decide, health


def test_rooms_choose_their_backend_and_others_keep_sluis_backend(tmp_path: Path) -> None:
    path = tmp_path / "rooms.toml"
    path.write_text('[rooms.kampen]\nbackend = "proxy"\nupstream = "https://stad.kwandoo.be"\n'
                    "max_inflight = 40\nread_timeout_seconds = 12.5\nrewrite_bodies = false\n"
                    "breaker_error_rate = 0.2\nbreaker_p95_ms = 3000\n"
                    '[rooms.zwemmen]\nbackend = "handoff"\nupstream = "https://z.test/"\n'
                    "[rooms.demo]\ntitle = \"Demo\"\n")
    kampen, zwemmen, demo = load_rooms(str(path))
    assert kampen.backend.kind == "proxy" and kampen.backend.max_inflight == 40
    assert kampen.backend.read_timeout_seconds == 12.5 and not kampen.backend.rewrite_bodies
    assert kampen.backend.breaker == BreakerBounds(error_rate=0.2, p95_ms=3000)
    assert zwemmen.backend.kind == "handoff"
    assert demo.backend == BackendConfig()
    assert demo.backend.resolved("internal").kind == "internal"
    assert demo.backend.resolved("http://up.test").upstream == "http://up.test"


def test_bad_backend_settings_are_refused_with_every_reason() -> None:
    _, reasons = parse_backend("r", {"backend": "ftp", "max_inflight": 0,
                                     "secret_header": "X-Key", "breaker_window_seconds": 1.5})
    assert set(reasons) == {"r.backend", "r.max_inflight", "r.secret_header",
                            "r.breaker_window_seconds"}
    _, reasons = parse_backend("r", {"backend": "proxy"})
    assert set(reasons) == {"r.upstream"}
    _, reasons = parse_backend("r", {"secret_header": "X-Key", "secret_value_env": "NOPE_X"},
                               env={})
    assert "r.secret_value_env" in reasons
    value = "s3cret-from-env"
    config, _ = parse_backend("r", {"upstream": "http://u.test", "secret_header": "X-Key",
                                    "secret_value_env": "K"}, env={"K": value})
    assert config is not None and config.secret_value == value and value not in repr(config)


def test_load_rooms_names_a_bad_backend_setting(tmp_path: Path) -> None:
    path = tmp_path / "rooms.toml"
    path.write_text('[rooms.kampen]\nbackend = "proxy"\n')
    with pytest.raises(RoomSettingsError) as err:
        load_rooms(str(path))
    assert "kampen.upstream" in err.value.reasons


BOUNDS = BreakerBounds(error_rate=0.5, p95_ms=1000, window_seconds=10, min_requests=20,
                       cooldown_seconds=30)


def test_the_breaker_opens_on_errors_or_slowness_once_enough_answers_were_seen() -> None:
    assert health({"n": 100, "err": 3, "le_50": 96, "le_2500": 4}).p95_ms == 50
    assert health({"n": 100, "le_50": 90, "le_2500": 10}).p95_ms == 2500
    ok = Health(100, 10, 100)
    assert not decide(is_open=False, open_since_ms=0, now_ms=0, window=ok, bounds=BOUNDS).open
    failing = Health(100, 60, 100)
    d = decide(is_open=False, open_since_ms=0, now_ms=0, window=failing, bounds=BOUNDS)
    assert d.open and d.changed and "error rate 60%" in d.reason
    slow = Health(100, 0, 2500)
    assert decide(is_open=False, open_since_ms=0, now_ms=0, window=slow, bounds=BOUNDS).open
    few = Health(5, 5, 100)
    assert not decide(is_open=False, open_since_ms=0, now_ms=0, window=few, bounds=BOUNDS).open


def test_the_breaker_closes_only_after_the_cooldown_and_a_healthy_window() -> None:
    ok, failing = Health(100, 0, 100), Health(100, 90, 100)
    held = decide(is_open=True, open_since_ms=0, now_ms=29_000, window=ok, bounds=BOUNDS)
    assert held.open and not held.changed
    still = decide(is_open=True, open_since_ms=0, now_ms=60_000, window=failing, bounds=BOUNDS)
    assert still.open and not still.changed
    closed = decide(is_open=True, open_since_ms=0, now_ms=30_000, window=ok, bounds=BOUNDS)
    assert not closed.open and closed.changed
    quiet = decide(is_open=True, open_since_ms=0, now_ms=30_000, window=Health(0, 0, None),
                   bounds=BOUNDS)
    assert not quiet.open
