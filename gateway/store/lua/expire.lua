-- expire: prune ended sessions and sweep a stretch of the line for visitors whose
-- grace period ran out, so that abandoned places leave the counts and never stall
-- the line. The sweep walks the line (pre-queue, then queue) by rank, `count` at a time.
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] queue  KEYS[4] prequeue  KEYS[5] seen
-- KEYS[6] active
-- ARGV[1] rank to start the sweep at
-- ARGV[2] how many places to look at
--
-- Returns {next_rank (0 once the end was reached), waiting_removed, sessions_expired}
local k_set, k_state, k_queue, k_pre, k_seen, k_active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local start, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local _, now_ms, now_s = clock()
local s = read_settings(k_set)

local expired = redis.call('ZREMRANGEBYSCORE', k_active, '-inf', now_ms)
if expired > 0 then redis.call('HINCRBY', k_state, 'sessions_expired_total', expired) end

local removed = 0
local pre_len = redis.call('ZCARD', k_pre)
local ids = {}
if start < pre_len then
  ids = redis.call('ZRANGE', k_pre, start, start + count - 1)
end
if #ids < count then
  local from = math.max(0, start - pre_len)
  local more = redis.call('ZRANGE', k_queue, from, from + count - #ids - 1)
  for i = 1, #more do ids[#ids + 1] = more[i] end
end
for i = 1, #ids do
  if is_stale(k_seen, ids[i], now_s, s.grace_s) then
    forget(k_queue, k_pre, k_seen, ids[i])
    removed = removed + 1
  end
end
if removed > 0 then redis.call('HINCRBY', k_state, 'expired_total', removed) end
local next_rank = start + #ids - removed
if #ids < count then next_rank = 0 end
return {next_rank, removed, expired}
