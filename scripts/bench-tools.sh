#!/usr/bin/env bash
# The benchmark's tools: wrk (the load generator) and HAProxy (the balancer for the
# scale-out figures), from Debian's packages when missing.
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v haproxy >/dev/null || need+=(haproxy)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing ${need[*]}: install them (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
