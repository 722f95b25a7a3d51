-- join: give each visitor in the batch a place, or find the place they already have.
-- Idempotent per visitor: a refresh, a second tab or a retried request never makes
-- a second place.
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] queue  KEYS[4] prequeue  KEYS[5] active
-- KEYS[6] started   KEYS[7] held: client network -> places held in line from it now
-- KEYS[8..] the last-seen buckets and the per-network windows of new places (zset:
--           visitor -> ms) the batch needs
-- ARGV[1] new places one client network may take in any 60 s (0: no limit)
-- ARGV[2] places one client network may hold in line at once (0: no limit, not counted)
-- ARGV[3..] quintuples: visitor id, index into KEYS of its last-seen bucket, index of
--           its network's window (0: none), its network ('' when unknown), 1 when it
--           may pass at once if idle
--
-- Returns {now_ms, prequeue_len, queue_len, settings[], state[], results[]} where
-- results holds a (state code, position) pair per visitor, in ARGV order.
-- A new place after opening gets sequence number max(last + 1, now in µs): numbers
-- only grow, also when Redis restarts from an AOF that lost its last second.
-- The window slides: whatever the clock's minute, no 60 s hold more than ARGV[1] new
-- places (a place refused is not counted, so retrying does not extend the wait).
local k_set, k_state, k_queue, k_pre, k_active = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local k_started, k_held = KEYS[6], KEYS[7]
local per_ip, per_held = tonumber(ARGV[1]), tonumber(ARGV[2])
local now_us, now_ms, now_s = clock()
local s = read_settings(k_set)
local out = {}

for i = 3, #ARGV, 5 do
  local id, k_seen, window = ARGV[i], KEYS[tonumber(ARGV[i + 1])], tonumber(ARGV[i + 2])
  local net, may_pass = ARGV[i + 3], ARGV[i + 4] == '1'
  local k_window = window > 0 and KEYS[window] or nil
  local code, pos = locate(k_pre, k_queue, k_active, id, now_ms, s.opens_ms)
  if (code == QUEUED or code == PREQUEUE) and is_stale(k_seen, id, now_s, s.grace_s) then
    forget(k_queue, k_pre, k_held, k_seen, id)
    redis.call('HINCRBY', k_state, 'expired_total', 1)
    code = NONE
  end
  if code == NONE then
    local limited, holding = false, false
    if per_ip > 0 and k_window then
      redis.call('ZREMRANGEBYSCORE', k_window, '-inf', now_ms - 60000)
      limited = redis.call('ZCARD', k_window) >= per_ip
    end
    if per_held > 0 and net ~= '' and not limited then
      holding = true
      if num(redis.call('HGET', k_held, net), 0) >= per_held then
        limited = true
        redis.call('HINCRBY', k_state, 'limited_held_total', 1)
      end
    end
    if not limited and not s.closed and k_window then
      redis.call('ZADD', k_window, now_ms, id)
      redis.call('PEXPIRE', k_window, 60000)
    end
    -- A place that counts for its network keeps the network in its last-seen entry.
    local counted = holding and not limited and not s.closed
    local seen = counted and (now_s .. ' ' .. net) or now_s
    if s.closed then
      code = CLOSED
    elseif limited then
      code = LIMITED
      redis.call('HINCRBY', k_state, 'limited_total', 1)
    elseif s.opens_ms > now_ms then
      local seed = redis.call('HGET', k_state, 'seed') or ''
      local ticket = string.sub(redis.sha1hex(id), 1, 16)
      local draw = tonumber(string.sub(redis.sha1hex(seed .. ':' .. ticket), 1, 13), 16)
      redis.call('ZADD', k_pre, draw, id)
      redis.call('HSET', k_seen, id, seen)
      if counted then redis.call('HINCRBY', k_held, net, 1) end
      redis.call('HINCRBY', k_state, 'joined_total', 1)
      code = PREQUEUE
    else
      local idle = may_pass and not s.paused and not held(k_state, now_ms)
        and redis.call('ZCARD', k_queue) == 0 and redis.call('ZCARD', k_pre) == 0
        and redis.call('ZCOUNT', k_active, now_ms + 1, '+inf') < s.max_active
      redis.call('HINCRBY', k_state, 'joined_total', 1)
      if idle then
        start_session(k_active, k_started, s, id, now_ms)
        redis.call('HINCRBY', k_state, 'admitted_total', 1)
        redis.call('HINCRBY', k_state, 'passed_idle_total', 1)
        code = ADMITTED
      else
        local seq = math.max(num(redis.call('HGET', k_state, 'seq_last'), 0) + 1, now_us)
        redis.call('HSET', k_state, 'seq_last', string.format('%d', seq))
        redis.call('ZADD', k_queue, seq, id)
        redis.call('HSET', k_seen, id, seen)
        if counted then redis.call('HINCRBY', k_held, net, 1) end
        code, pos = QUEUED, redis.call('ZCARD', k_pre) + redis.call('ZRANK', k_queue, id) + 1
      end
    end
  elseif code ~= ADMITTED then
    touch(k_seen, id, now_s)
  end
  out[#out + 1] = code
  out[#out + 1] = pos
end

local head = room_header(k_state, k_pre, k_queue, s, now_ms)
head[#head + 1] = out
return head
