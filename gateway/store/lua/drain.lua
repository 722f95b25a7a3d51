-- drain: an operator ends every live session of a room at once (the site must be
-- emptied: a fault, the end of the day). Admitted visitors find their session ended
-- at their next renewal and join the line again; the line itself keeps its order.
-- The number ended is counted and written to the audit trail in the same step.
--
-- KEYS[1] state  KEYS[2] active  KEYS[3] audit  KEYS[4] started
-- ARGV[1] who (for the audit), ARGV[2] when (ISO time, for the audit)
-- ARGV[3] the ends channel, ARGV[4] the room: every gateway process is told at once
--         that no admission of this room issued until now lets anyone in
--
-- Returns the number of live sessions ended.
local k_state, k_active, k_audit = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZCOUNT', k_active, now_ms + 1, '+inf')
redis.call('DEL', k_active, KEYS[4])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. '\n*')
redis.call('HINCRBY', k_state, 'drained_total', live)
redis.call('HSET', k_state, 'drained_at', now_ms)
redis.call('LPUSH', k_audit, cjson.encode({at = ARGV[2], actor = ARGV[1], mode = 'drain',
  changes = {{'active', tostring(live), '0'}}}))
redis.call('LTRIM', k_audit, 0, 9999)
return live
