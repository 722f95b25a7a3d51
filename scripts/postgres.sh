#!/usr/bin/env bash
# PostgreSQL for the booking engine's tests and benchmark.
#
#   scripts/postgres.sh install          install Debian's server package when missing (as root)
#   scripts/postgres.sh start DIR [PORT] a throwaway server in DIR on 127.0.0.1; prints its URL
#   scripts/postgres.sh stop DIR         stop it (the directory is left for inspection)
#
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres`
# system user that Debian's package creates.
set -euo pipefail

bindir() {
  if [ -n "${SLUIS_PG_BINDIR:-}" ]; then echo "$SLUIS_PG_BINDIR"; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ]; then echo "$found"; return; fi
  if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; return; fi
  return 1
}

as_server_user() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

install() {
  if bindir >/dev/null; then
    echo "PostgreSQL found in $(bindir)"
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "PostgreSQL is missing: install it (Debian: apt-get install postgresql)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  echo "PostgreSQL installed in $(bindir)"
}

start() {
  local dir=${1:?usage: postgres.sh start DIR [PORT]} port=${2:-55432} bin
  bin=$(bindir) || { echo "PostgreSQL not found: run scripts/postgres.sh install" >&2; exit 1; }
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_server_user "$bin/initdb" -D "$dir/data" -U sluis -A trust -E UTF8 --locale=C >/dev/null
  fi
  as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  echo "postgresql+asyncpg://sluis@127.0.0.1:$port/postgres"
}

stop() {
  local dir=${1:?usage: postgres.sh stop DIR} bin
  bin=$(bindir)
  as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

case "${1:-install}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
