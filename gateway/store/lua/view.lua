-- view: a room's settings and live figures, read at one moment by Redis's own clock.
-- A script rather than a pipeline because TIME names no key: on Redis Cluster it could
-- not be routed, while a script runs on the node that holds the room's slot.
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] queue  KEYS[4] prequeue  KEYS[5] active
-- KEYS[6] started   KEYS[7] leader
-- ARGV    the settings fields to read, in order
--
-- Returns {seconds, microseconds, {settings values}, {state field, value, ...},
--          queued, prequeued, active, leader or false}.
local t = redis.call('TIME')
return {
  t[1], t[2],
  redis.call('HMGET', KEYS[1], unpack(ARGV)),
  redis.call('HGETALL', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]),
  redis.call('GET', KEYS[7]),
}
