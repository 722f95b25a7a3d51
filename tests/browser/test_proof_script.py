"""The join proof-of-work script (gateway/static/proof.js) in headless Chromium, with
crypto.subtle and with its own SHA-256 (browser side: proof.mjs). Every nonce it finds
must pass gateway.proof.solves, and be the very nonce gateway.proof.solve finds."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gateway import proof
from tests.browser.test_queue_page import HERE, chromium, node_modules  # noqa: F401 - fixtures

KEY = proof.derive_key(b"browser-proof-key-0123456789")
# Challenges as the gateway makes them, and two other lengths the script must hash
# right: 52 hex characters put the message on the 55/56-byte edge where SHA-256's
# padding needs a second block, 64 always takes two.
CHALLENGES = [proof.challenge(KEY, "zomerkampen", f"visitor-{i:04d}-abcdef") for i in range(4)]
CHALLENGES += ["0123456789abcdef" * 3 + "0123", "fedcba9876543210" * 4]

pytestmark = pytest.mark.slow


def run_proof_script(challenges: dict[int, list[str]], browser: str) -> dict[str, object]:
    """proof.mjs on these challenges: what each engine found, and its checks."""
    env = dict(os.environ, SLUIS_CHROMIUM=browser)
    run = subprocess.run(["node", str(HERE / "proof.mjs")], cwd=HERE, env=env, text=True,
                         input=json.dumps({"challenges": challenges}), capture_output=True,
                         timeout=110)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, f"proof.mjs failed:\n{run.stdout}\n{run.stderr}"
    result: dict[str, object] = json.loads(lines[-1])
    return result


def test_both_engines_find_nonces_the_gateway_accepts(chromium: str,  # noqa: F811
                                                      node_modules: Path) -> None:  # noqa: F811
    result = run_proof_script({8: CHALLENGES, 16: CHALLENGES}, chromium)
    for engine in ("subtle", "js"):
        found = result[engine]
        assert isinstance(found, dict)
        for bits in (8, 16):
            rows = found[str(bits)]
            assert [r["challenge"] for r in rows] == CHALLENGES
            for r in rows:
                assert r["engine"] == engine
                assert proof.solves(r["challenge"], r["nonce"], bits), (engine, bits, r)
                assert r["nonce"] == proof.solve(r["challenge"], bits), (engine, bits, r)
    checks = result["checks"]
    assert isinstance(checks, dict)
    # Unasked, the page hashes with its own SHA-256 (the faster one, docs/benchmarks.md).
    assert checks["subtle_page_default_engine"] == checks["js_page_default_engine"] == "js"
    assert checks["subtle_refused"] == checks["js_refused"] == "7/7"
    # Timers still run while it works: it hands the event loop back every few ms.
    assert checks["js_max_gap_ms"] < 100, checks
    assert checks["subtle_max_gap_ms"] < 500, checks
