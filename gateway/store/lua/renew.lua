-- renew: an admitted visitor used the session: it runs on until the idle limit from
-- now, and never past session_seconds from its admission. The gateway calls this at
-- most every few seconds per visitor.
--
-- KEYS[1] settings  KEYS[2] active  KEYS[3] started
-- ARGV[1] visitor id
--
-- Returns the seconds the session may still run (at least 1) when it is live, 0 when
-- it has ended or expired.
local _, now_ms = clock()
local s = read_settings(KEYS[1])
local id = ARGV[1]
local until_ms = redis.call('ZSCORE', KEYS[2], id)
if not until_ms or tonumber(until_ms) <= now_ms then return 0 end
local started = tonumber(redis.call('HGET', KEYS[3], id) or '')
if not started then
  -- A session without a recorded start (admitted before starts were kept): from now.
  started = now_ms
  redis.call('HSET', KEYS[3], id, now_ms)
end
local next_ms = session_until(s, started, now_ms)
if next_ms <= now_ms then return 0 end
redis.call('ZADD', KEYS[2], 'XX', next_ms, id)
return math.max(1, math.floor((next_ms - now_ms) / 1000))
