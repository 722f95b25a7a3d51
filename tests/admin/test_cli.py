"""`sluis admin` as the README documents it, run as a subprocess against a running gateway:
options in any order, the only room found by itself, tables (or --json), and nothing
created on the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.processes import ROOT
from harness.sluis import gateway, sluis_env

TOKEN = "process-test-admin-token"


def rooms_toml(*names: str) -> str:
    return "".join(f'[rooms.{n}]\nrate_per_minute = 6\npaths = ["/{n}"]\n\n' for n in names)


@pytest.fixture
def one_room(redis_url: str, tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "rooms.toml"
    config.write_text(rooms_toml("zomerkampen"))
    env = sluis_env(redis_url, tmp_path / "data", SLUIS_CONFIG=str(config))
    with gateway(env, tmp_path) as url:
        yield url


def admin(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLUIS_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", "admin", *args], cwd=cwd,
                          env={**base, "PYTHONPATH": str(ROOT), **env}, capture_output=True,
                          text=True, timeout=60)


def test_set_takes_its_options_in_any_order_and_finds_the_only_room(
        one_room: str, tmp_path: Path) -> None:
    where = tmp_path / "elsewhere"
    where.mkdir()
    r = admin("set", "--room", "zomerkampen", "rate_per_minute=30", cwd=where,
              SLUIS_URL=one_room, SLUIS_ADMIN_TOKEN=TOKEN)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "zomerkampen: rate_per_minute: 6 → 30"
    # No --room: the only room; the pairs before the options this time.
    r = admin("set", "max_active=7", "--url", one_room, cwd=where, SLUIS_ADMIN_TOKEN=TOKEN)
    assert r.returncode == 0 and "max_active: 100 → 7" in r.stdout, r.stdout + r.stderr
    assert "httpx" not in r.stderr and "HTTP Request" not in r.stderr
    table = admin("status", cwd=where, SLUIS_URL=one_room, SLUIS_ADMIN_TOKEN=TOKEN)
    head, row = table.stdout.splitlines()[:2]
    assert head.split()[:3] == ["room", "state", "rate/min"]
    assert row.split()[:3] == ["zomerkampen", "open", "30"]
    as_json = admin("status", "--json", "--room", "zomerkampen", cwd=where,
                    SLUIS_URL=one_room, SLUIS_ADMIN_TOKEN=TOKEN)
    assert json.loads(as_json.stdout)["max_active"] == 7
    bad = admin("set", "max_active=-1", cwd=where, SLUIS_URL=one_room, SLUIS_ADMIN_TOKEN=TOKEN)
    assert bad.returncode == 1 and "max_active: must be between" in bad.stderr
    assert not (where / ".sluis").exists()


def test_the_token_is_found_where_the_demo_keeps_it_and_never_made(
        one_room: str, tmp_path: Path) -> None:
    port = one_room.rsplit(":", 1)[1]
    where = tmp_path / "elsewhere"
    where.mkdir()
    r = admin("status", cwd=where, SLUIS_PORT=port)
    assert r.returncode == 1 and "no admin token" in r.stderr and "SLUIS_DATA_DIR" in r.stderr
    assert not (where / ".sluis").exists()  # a read creates nothing
    folder = tmp_path / "demo-data"
    folder.mkdir()
    (folder / "admin_token").write_text(TOKEN + "\n")
    r = admin("status", "--room", "zomerkampen", cwd=where, SLUIS_PORT=port,
              SLUIS_DATA_DIR=str(folder))
    assert r.returncode == 0 and r.stdout.startswith("room zomerkampen"), r.stderr
    (where / ".sluis").mkdir()
    (where / ".sluis" / "admin_token").write_text("not-the-token\n")
    r = admin("pause", cwd=where, SLUIS_PORT=port)
    assert r.returncode == 1 and "refused the admin token from .sluis/admin_token" in r.stderr


def test_with_several_rooms_it_names_them(redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text(rooms_toml("kampen", "zwemmen"))
    env = sluis_env(redis_url, tmp_path / "data", SLUIS_CONFIG=str(config))
    with gateway(env, tmp_path) as url:
        r = admin("pause", cwd=tmp_path, SLUIS_URL=url, SLUIS_ADMIN_TOKEN=TOKEN)
        assert r.returncode == 1
        assert "name the room with --room; the rooms are: kampen, zwemmen" in r.stderr
        r = admin("drain", "--room", "zwembad", cwd=tmp_path, SLUIS_URL=url,
                  SLUIS_ADMIN_TOKEN=TOKEN)
        assert r.returncode == 1 and "no room 'zwembad'; the rooms are: kampen, zwemmen" \
            in r.stderr
        r = admin("drain", "--room", "zwemmen", cwd=tmp_path, SLUIS_URL=url,
                  SLUIS_ADMIN_TOKEN=TOKEN)
        assert r.returncode == 0 and r.stdout.strip() == "zwemmen: 0 live sessions ended"


def test_a_bad_rooms_file_is_answered_with_its_reasons_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "rooms.toml"
    config.write_text('[rooms.kampen]\nrate_per_minute = "fast"\nidle_seconds = 5\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLUIS_")}
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "worker"], cwd=tmp_path,
                       env={**base, "PYTHONPATH": str(ROOT), "SLUIS_CONFIG": str(config),
                            "SLUIS_REDIS_URL": "redis://127.0.0.1:9/0"},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "rate_per_minute: must be a whole number" in r.stderr
