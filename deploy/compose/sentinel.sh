#!/bin/sh
# A Redis Sentinel watching the master `redis` (quorum 2 of 3). Sentinel rewrites its
# configuration file, so it is written fresh into a writable place at each start.
set -eu
conf=/data/sentinel.conf
cat > "$conf" <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel monitor mymaster redis 6379 2
sentinel down-after-milliseconds mymaster 2000
sentinel failover-timeout mymaster 10000
sentinel parallel-syncs mymaster 1
CONF
exec redis-sentinel "$conf"
