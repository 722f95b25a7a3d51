-- expire: prune ended sessions and drop, from a stretch of the line the worker read,
-- the visitors whose grace period ran out, so that abandoned places leave the counts
-- and never stall the line. The worker walks the whole line this way, a stretch a tick.
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] queue  KEYS[4] prequeue  KEYS[5] active
-- KEYS[6] started   KEYS[7] held (places per client network, for forget)
-- KEYS[8..] the last-seen buckets of the stretch
-- ARGV[1..] pairs: visitor id, index into KEYS of its last-seen bucket
--
-- Returns {waiting_removed, sessions_expired}
local k_set, k_state, k_queue, k_pre, k_active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local k_held = KEYS[7]
local _, now_ms, now_s = clock()
local s = read_settings(k_set)

local expired = prune_sessions(k_active, KEYS[6], k_state, now_ms)

local removed = 0
for i = 1, #ARGV, 2 do
  local id, k_seen = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if is_stale(k_seen, id, now_s, s.grace_s)
      and (redis.call('ZSCORE', k_queue, id) or redis.call('ZSCORE', k_pre, id)) then
    forget(k_queue, k_pre, k_held, k_seen, id)
    removed = removed + 1
  end
end
if removed > 0 then redis.call('HINCRBY', k_state, 'expired_total', removed) end
return {removed, expired}
