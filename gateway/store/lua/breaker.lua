-- breaker: the leading worker opens or closes the room's backend breaker. While it is
-- open, admit.lua admits nobody and join.lua lets nobody pass at once; the line keeps
-- its order and admitted visitors keep their sessions. Each change is counted and
-- written to the audit trail.
--
-- KEYS[1] state  KEYS[2] audit  KEYS[3] leader
-- ARGV[1] worker id (must hold the lease)
-- ARGV[2] '1' to open, '0' to close
-- ARGV[3] why (for the audit), ARGV[4] when (ISO time, for the audit)
--
-- Returns -1 when the lease is not ours, 0 when the breaker already was so, 1 when
-- it changed.
local k_state, k_audit, k_lead = KEYS[1], KEYS[2], KEYS[3]
if redis.call('GET', k_lead) ~= ARGV[1] then return -1 end
local was = redis.call('HGET', k_state, 'breaker_open') or '0'
if was == ARGV[2] then return 0 end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', k_state, 'breaker_open', ARGV[2], 'breaker_since', now_ms,
  'breaker_reason', ARGV[3])
if ARGV[2] == '1' then
  redis.call('HINCRBY', k_state, 'breaker_trips_total', 1)
else
  redis.call('HINCRBY', k_state, 'breaker_resets_total', 1)
end
redis.call('LPUSH', k_audit, cjson.encode({at = ARGV[4], actor = 'breaker',
  mode = ARGV[2] == '1' and 'trip' or 'reset', reason = ARGV[3],
  changes = {{'breaker_open', was == '1', ARGV[2] == '1'}}}))
redis.call('LTRIM', k_audit, 0, 9999)
return 1
