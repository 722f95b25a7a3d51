-- admit: the leading worker lets the next visitors in, in line order (the drawn
-- pre-queue first, then arrivals after opening), never above max_active live sessions,
-- and nobody while the room is paused, the backend breaker is open or the room's
-- inventory source reports no places left.
-- The worker reads the head of the line first and hands it in (so that each
-- visitor's last-seen bucket is among KEYS); a candidate that left meanwhile is
-- skipped, one whose grace period ran out is dropped, not admitted. New arrivals only
-- join the tail, so the candidates stay the head.
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] queue  KEYS[4] prequeue  KEYS[5] active
-- KEYS[6] started   KEYS[7] held (places per client network, for forget)
-- KEYS[8] leader    KEYS[9..] the candidates' last-seen buckets
-- ARGV[1] worker id (must hold the lease)
-- ARGV[2] how many to admit at most (from queue_worker/policy.py)
-- ARGV[3] admission credit available before this batch (fractional)
-- ARGV[4] most credit that may be banked
-- ARGV[5] credit_at the plan was made from ('' when none): compare-and-set fence
-- ARGV[6] the plan's clock (ms), stored as the new credit_at
-- ARGV[7..9] measured admissions per minute: mean, low, high ('' to leave as is)
-- ARGV[10] n, the number of wait-histogram bounds; ARGV[11..10+n] the bounds (s)
-- ARGV[11+n..] pairs: candidate visitor id, index into KEYS of its last-seen bucket
--
-- Returns {-1} when the lease is not ours, {-2} when the state moved since the plan,
-- else {admitted, sessions_expired, stale_dropped, now_ms, id1, id2, ...}.
local k_set, k_state, k_queue, k_pre, k_active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local k_started, k_held, k_lead = KEYS[6], KEYS[7], KEYS[8]
local worker, want, credit, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local expected_at, plan_at = ARGV[5], ARGV[6]
local n_bounds = tonumber(ARGV[10])

if redis.call('GET', k_lead) ~= worker then return {-1} end
if (redis.call('HGET', k_state, 'credit_at') or '') ~= expected_at then return {-2} end

local _, now_ms, now_s = clock()
local s = read_settings(k_set)
local expired = prune_sessions(k_active, k_started, k_state, now_ms)

if s.paused or held(k_state, now_ms) or s.opens_ms > now_ms then want = 0 end
want = math.min(want, s.max_active - redis.call('ZCARD', k_active))

local out, admitted, dropped, waits = {}, 0, 0, {}
local i = 11 + n_bounds
while admitted < want and i <= #ARGV do
  local id, k_seen = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  i = i + 2
  local since = 0
  local in_pre = redis.call('ZSCORE', k_pre, id)
  if not in_pre then since = redis.call('ZSCORE', k_queue, id) end
  if in_pre or since then
    local stale = is_stale(k_seen, id, now_s, s.grace_s)
    forget(k_queue, k_pre, k_held, k_seen, id)
    if stale then
      dropped = dropped + 1
    else
      start_session(k_active, k_started, s, id, now_ms)
      admitted = admitted + 1
      out[#out + 1] = id
      -- The wait runs from joining, or from opening for the drawn pre-queue.
      waits[#waits + 1] = in_pre and s.opens_ms * 1000 or tonumber(since)
    end
  end
end

-- Waits as cumulative histogram buckets that any gateway can expose.
local now_us = now_ms * 1000
for w = 1, #waits do
  local wait_s = math.max(0, (now_us - waits[w]) / 1000000)
  for b = 11, 10 + n_bounds do
    if wait_s <= tonumber(ARGV[b]) then
      redis.call('HINCRBY', k_state, 'wait_le_' .. ARGV[b] .. '_total', 1)
    end
  end
  redis.call('HINCRBY', k_state, 'wait_count_total', 1)
  redis.call('HINCRBY', k_state, 'wait_ms_total', math.floor(wait_s * 1000))
end
if dropped > 0 then redis.call('HINCRBY', k_state, 'expired_total', dropped) end
if admitted > 0 then redis.call('HINCRBY', k_state, 'admitted_total', admitted) end
local left = math.max(0, math.min(credit - admitted, cap))
redis.call('HSET', k_state, 'credit', tostring(left), 'credit_at', plan_at)
if ARGV[7] ~= '' then
  redis.call('HSET', k_state, 'rate_measured', ARGV[7], 'rate_low', ARGV[8], 'rate_high', ARGV[9])
end
local res = {admitted, expired, dropped, now_ms}
for j = 1, #out do res[#res + 1] = out[j] end
return res
