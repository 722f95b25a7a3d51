"""What the join proof-of-work costs: the gateway's check, and the visitor's search.

    .venv/bin/python -m bench.proof [--challenges 30] [--bits 12,16,18] [--skip-browser]

The gateway's side: `challenge` (one HMAC) and `verify` (one sha256 and a comparison),
µs per call, best of 5 runs. The visitor's side: the time to find a nonce, median and
p90 over the same challenges, for `gateway.proof.solve` in Python and for
gateway/static/proof.js in headless Chromium, with its own SHA-256 and with
crypto.subtle (tests/browser/proof.mjs; Debian's chromium and the browser tests'
node_modules). The search takes 2 ** bits tries on average and its length is random:
the p90 is about 3.3 times the median whatever the speed, so "µs per try" (time over
tries, median) is the figure that compares engines. Writes artifacts/bench-proof.json
and prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

from gateway import proof
from harness.processes import ROOT

BROWSER_TESTS = ROOT / "tests" / "browser"
KEY = proof.derive_key(b"bench-proof-key-0123456789abcdef")
ROOM = "zomerkampen"


def challenges(n: int) -> list[str]:
    return [proof.challenge(KEY, ROOM, f"bench-visitor-{i:06d}") for i in range(n)]


def per_call_us(stmt: str, names: dict[str, object], number: int = 100_000) -> float:
    timer = timeit.Timer(stmt, globals=names)
    return min(timer.repeat(9, number)) / number * 1e6


def check_figures() -> dict[str, float]:
    """The gateway's side, µs per call."""
    ch = proof.challenge(KEY, ROOM, "bench-visitor-000000")
    good = proof.solve(ch, 16)
    bad = proof.base36(int(good, 36) + 1)
    names: dict[str, object] = {"proof": proof, "KEY": KEY, "ch": ch, "good": good, "bad": bad,
                                "sha256": hashlib.sha256, "message": f"{ch}:{good}".encode()}
    return {
        # The floor: the one hash verify cannot do without, measured alongside.
        "sha256_us": per_call_us("sha256(message).digest()", names),
        "challenge_us": per_call_us("proof.challenge(KEY, 'zomerkampen', 'Xk3a9_Qm2LpR0tZw')",
                                    names),
        "verify_valid_us": per_call_us("proof.solves(ch, good, 16)", names),
        "verify_wrong_us": per_call_us("proof.solves(ch, bad, 16)", names),
        "verify_malformed_us": per_call_us("proof.solves(ch, 'NOT-A-NONCE', 16)", names),
    }


def summary(ms: list[float], nonces: list[str]) -> dict[str, float]:
    tries = [int(n, 36) + 1 for n in nonces]
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": statistics.quantiles(ms, n=10)[-1],
        "us_per_try": statistics.median(t * 1000 / n for t, n in zip(ms, tries, strict=True)),
        "median_tries": statistics.median(tries),
    }


def python_figures(bits: list[int], chs: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for b in bits:
        ms: list[float] = []
        nonces: list[str] = []
        for ch in chs:
            t0 = time.perf_counter()
            nonces.append(proof.solve(ch, b))
            ms.append((time.perf_counter() - t0) * 1000)
        out[str(b)] = summary(ms, nonces)
    return out


def browser_figures(bits: list[int], chs: list[str]) -> dict[str, object]:
    """proof.js in headless Chromium, both engines; every nonce checked against Python."""
    chromium = os.environ.get("SLUIS_CHROMIUM") or shutil.which("chromium")
    if not chromium or not shutil.which("node"):
        raise SystemExit("needs chromium and node (apt-get install chromium nodejs)")
    if not (BROWSER_TESTS / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=BROWSER_TESTS, check=True,
                       env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
    run = subprocess.run(["node", str(BROWSER_TESTS / "proof.mjs")], cwd=BROWSER_TESTS,
                         input=json.dumps({"challenges": {b: chs for b in bits}}),
                         env=dict(os.environ, SLUIS_CHROMIUM=chromium), text=True,
                         capture_output=True, check=True)
    found = json.loads(run.stdout.strip().splitlines()[-1])
    out: dict[str, object] = {"checks": found["checks"]}
    for engine in ("js", "subtle"):
        per_bits: dict[str, dict[str, float]] = {}
        for b in bits:
            rows = found[engine][str(b)]
            for r in rows:
                if r["nonce"] != proof.solve(r["challenge"], b):
                    raise SystemExit(f"{engine} found {r['nonce']!r}, Python another nonce")
            per_bits[str(b)] = summary([r["ms"] for r in rows], [r["nonce"] for r in rows])
        out[engine] = per_bits
    return out


def markdown(r: dict[str, object]) -> str:
    check = r["check"]
    assert isinstance(check, dict)
    lines = [
        "| gateway, per join | µs per call (best of 9) | ÷ one bare sha256 |",
        "|---|---:|---:|",
    ]
    floor = check["sha256_us"]
    for key, label in (("sha256_us", "`sha256(message).digest()` alone (the floor)"),
                       ("challenge_us", "`proof.challenge` (HMAC-SHA256)"),
                       ("verify_valid_us", "`proof.solves`, a valid nonce"),
                       ("verify_wrong_us", "`proof.solves`, a wrong nonce"),
                       ("verify_malformed_us", "`proof.solves`, a malformed nonce")):
        lines.append(f"| {label} | {check[key]:.2f} | {check[key] / floor:.1f}× |")
    lines += [
        "",
        f"| visitor's search, {r['challenges']} challenges | bits | median ms | p90 ms "
        "| µs per try |",
        "|---|---:|---:|---:|---:|",
    ]
    labels = {"python": "Python `proof.solve`",
              "js": "proof.js, its own SHA-256 (the default; plain HTTP too)",
              "subtle": "proof.js with `crypto.subtle` (secure contexts)"}
    for engine, label in labels.items():
        figures = r.get(engine)
        if not isinstance(figures, dict):
            continue
        for b, f in figures.items():
            lines.append(f"| {label} | {b} | {f['median_ms']:,.0f} | {f['p90_ms']:,.0f} | "
                         f"{f['us_per_try']:.2f} |")
    checks = r.get("browser_checks")
    if isinstance(checks, dict):
        lines += ["", "Longest wait of a page timer during a 16-bit search: "
                  f"{checks['js_max_gap_ms']:.0f} ms with its own SHA-256, "
                  f"{checks['subtle_max_gap_ms']:.0f} ms with crypto.subtle."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--challenges", type=int, default=30)
    ap.add_argument("--bits", default="12,16,18")
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "bench-proof.json"))
    args = ap.parse_args()
    bits = [int(b) for b in args.bits.split(",")]
    chs = challenges(args.challenges)
    started = time.monotonic()
    results: dict[str, object] = {"challenges": args.challenges, "bits": bits,
                                  "check": check_figures(),
                                  "python": python_figures(bits, chs)}
    if not args.skip_browser:
        browser = browser_figures(bits, chs)
        results["browser_checks"] = browser.pop("checks")
        results.update(browser)
    results["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
