-- status: where each visitor in the batch stands; a waiting visitor who asks is
-- still there (last-seen written at most every 15 s). Never creates a place.
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] queue  KEYS[4] prequeue  KEYS[5] active
-- KEYS[6] started (unused here)  KEYS[7] held (places per client network, for forget)
-- KEYS[8..] the last-seen buckets of the batch
-- ARGV[1..] pairs: visitor id, index into KEYS of its last-seen bucket
--
-- Returns {now_ms, prequeue_len, queue_len, settings[], state[], results[]} where
-- results holds a (state code, position) pair per visitor. A visitor whose grace
-- period ran out has lost the place: it is removed and reported as none.
local k_set, k_state, k_queue, k_pre, k_active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local k_held = KEYS[7]
local _, now_ms, now_s = clock()
local s = read_settings(k_set)
local out = {}

for i = 1, #ARGV, 2 do
  local id, k_seen = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  local code, pos = locate(k_pre, k_queue, k_active, id, now_ms, s.opens_ms)
  if code == QUEUED or code == PREQUEUE then
    if is_stale(k_seen, id, now_s, s.grace_s) then
      forget(k_queue, k_pre, k_held, k_seen, id)
      redis.call('HINCRBY', k_state, 'expired_total', 1)
      code, pos = NONE, 0
    else
      touch(k_seen, id, now_s)
    end
  end
  out[#out + 1] = code
  out[#out + 1] = pos
end

local head = room_header(k_state, k_pre, k_queue, s, now_ms)
head[#head + 1] = out
return head
