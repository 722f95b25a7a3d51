#!/usr/bin/env bash
# `make test` on a fresh clone of HEAD, RUNS times in a row (default 3), while every
# core is kept busy by another job: the suite must judge outcomes, not a quiet
# machine's timing. The load is one unniced busy loop a core (what `stress --cpu N`
# does), or a command of your own in LOAD (for example a second `make test`).
#
#   scripts/test-while-busy.sh            # 3 runs beside one busy loop a core
#   RUNS=1 scripts/test-while-busy.sh
#   LOAD="make -C /path/to/another/clone test" scripts/test-while-busy.sh
#
# Stops at the first failing run and exits with its code; the load stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
clone=$(mktemp -d /tmp/sluis-busy.XXXXXX)
git clone --quiet . "$clone"
load_pids=()
stop_load() {
  for pid in "${load_pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
}
trap stop_load EXIT
if [ -n "${LOAD:-}" ]; then
  setsid bash -c "$LOAD" >"$clone/load.log" 2>&1 &
  load_pids+=($!)
  echo "load: $LOAD (log: $clone/load.log)"
else
  cores=$(nproc)
  for _ in $(seq "$cores"); do
    setsid python3 -c 'while True: pass' &
    load_pids+=($!)
  done
  echo "load: $cores busy loops (one a core)"
fi
for i in $(seq "$runs"); do
  started=$(date +%s)
  if (cd "$clone" && CI=true make test </dev/null >"$clone/run$i.log" 2>&1); then
    echo "run $i of $runs: passed in $(( $(date +%s) - started )) s ($(tail -n 1 "$clone/run$i.log"))"
  else
    code=$?
    echo "run $i of $runs: FAILED (exit $code) after $(( $(date +%s) - started )) s; log: $clone/run$i.log"
    tail -n 30 "$clone/run$i.log"
    exit "$code"
  fi
done
echo "all $runs runs passed on $clone"
