#!/usr/bin/env bash
# The benchmark's load generator: wrk, from Debian's packages when missing.
set -euo pipefail
command -v wrk >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends wrk >/dev/null
else
  echo "wrk is missing: install it (Debian: apt-get install wrk)" >&2
  exit 1
fi
