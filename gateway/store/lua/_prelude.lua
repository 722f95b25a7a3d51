-- Shared helpers, placed before the body of every script that needs them.
-- State codes returned to Python (gateway/store/redis_store.py: VisitorState):
--   0 none, 1 prequeue, 2 queued, 3 admitted, 5 closed, 6 limited
local NONE, PREQUEUE, QUEUED, ADMITTED, CLOSED, LIMITED = 0, 1, 2, 3, 5, 6

local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000000 + us, s * 1000 + math.floor(us / 1000), s
end

local function num(v, default)
  if v == false or v == nil or v == '' then return default end
  return tonumber(v) or default
end

-- Live settings, in the order of rooms.LIVE_FIELDS.
local function read_settings(key)
  local v = redis.call('HMGET', key, 'rate_per_minute', 'max_active', 'session_seconds',
    'paused', 'opens_at', 'grace_seconds', 'closed', 'closes_at', 'idle_seconds')
  local closed, closes_ms = num(v[7], 0) == 1, num(v[8], 0)
  if not closed and closes_ms > 0 then
    -- A scheduled closing: from then on, no new places (those in line are still served).
    local t = redis.call('TIME')
    closed = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= closes_ms
  end
  return {
    rate = num(v[1], 60), max_active = num(v[2], 100), session_ms = num(v[3], 900) * 1000,
    paused = num(v[4], 0) == 1, opens_ms = num(v[5], 0), grace_s = num(v[6], 300),
    closed = closed, closes_ms = closes_ms, idle_ms = num(v[9], 0) * 1000, raw = v,
  }
end

-- How long a fresh or renewed session may run from now: until the idle limit, and
-- never past session_seconds from its admission (started_ms).
local function session_until(s, started_ms, now_ms)
  local cap = started_ms + s.session_ms
  if s.idle_ms > 0 then return math.min(now_ms + s.idle_ms, cap) end
  return cap
end

-- The room's places left as its inventory source last reported them; nil when it has
-- no source, or the figure has run past its validity (inventory_until, ms).
local function places_left(k_state, now_ms)
  local v = redis.call('HMGET', k_state, 'inventory', 'inventory_until')
  if not v[1] then return nil end
  local valid = num(v[2], 0)
  if valid > 0 and valid <= now_ms then return nil end
  return tonumber(v[1])
end

local function sold_out(k_state, now_ms)
  local left = places_left(k_state, now_ms)
  return left ~= nil and left <= 0
end

-- Starts a session: its expiry in the active set, its start for the session's cap and
-- for the measured session length.
local function start_session(k_active, k_started, s, id, now_ms)
  redis.call('ZADD', k_active, session_until(s, now_ms, now_ms), id)
  redis.call('HSET', k_started, id, now_ms)
end

-- Sessions past their expiry leave the active set; each one's length (admission to
-- expiry) is added to the room's measured session lengths. Returns how many.
local function prune_sessions(k_active, k_started, k_state, now_ms)
  local gone = redis.call('ZRANGEBYSCORE', k_active, '-inf', now_ms, 'WITHSCORES')
  if #gone == 0 then return 0 end
  local total_ms, measured = 0, 0
  for i = 1, #gone, 2 do
    local start = redis.call('HGET', k_started, gone[i])
    if start then
      total_ms = total_ms + math.max(0, tonumber(gone[i + 1]) - tonumber(start))
      measured = measured + 1
      redis.call('HDEL', k_started, gone[i])
    end
  end
  redis.call('ZREMRANGEBYSCORE', k_active, '-inf', now_ms)
  local n = #gone / 2
  redis.call('HINCRBY', k_state, 'sessions_expired_total', n)
  if measured > 0 then
    redis.call('HINCRBY', k_state, 'session_ms_total', total_ms)
    redis.call('HINCRBY', k_state, 'sessions_measured_total', measured)
  end
  return n
end

-- The backend breaker (queue_worker/breaker.py) holds admissions while it is open, and
-- so does an inventory source that reports no places left.
local function held(k_state, now_ms)
  return redis.call('HGET', k_state, 'breaker_open') == '1' or sold_out(k_state, now_ms)
end

-- Last-seen times are spread over small hashes (keys.py: SEEN_BUCKETS); each script
-- is handed the bucket of every visitor it touches among its KEYS. A place taken while
-- places per address are counted has its client network after the time ("<s> <net>").
local function seen_at(v)
  local s = tonumber(v)
  if s then return s, nil end
  local sp = string.find(v, ' ', 1, true)
  return tonumber(string.sub(v, 1, sp - 1)), string.sub(v, sp + 1)
end

-- A waiting visitor who has not asked for longer than the grace period has left.
local function is_stale(seen_key, id, now_s, grace_s)
  local last = redis.call('HGET', seen_key, id)
  return last and (now_s - seen_at(last)) > grace_s
end

-- Ends a waiting place. held_key: the room's places held per client network
-- (keys.py: RoomKeys.held), KEYS[7] of every script that ends waiting places; a place
-- that ends gives its network's count back, so the count is of places held now.
local function forget(queue_key, pre_key, held_key, seen_key, id)
  local last = redis.call('HGET', seen_key, id)
  redis.call('ZREM', queue_key, id)
  redis.call('ZREM', pre_key, id)
  redis.call('HDEL', seen_key, id)
  if last then
    local _, net = seen_at(last)
    if net and redis.call('HINCRBY', held_key, net, -1) <= 0 then
      redis.call('HDEL', held_key, net)
    end
  end
end

-- Writes the last-seen time at most every 15 s, so polls rarely touch the AOF.
local function touch(seen_key, id, now_s)
  local last = redis.call('HGET', seen_key, id)
  if not last then
    redis.call('HSET', seen_key, id, now_s)
    return
  end
  local s, net = seen_at(last)
  if now_s - s >= 15 then
    redis.call('HSET', seen_key, id, net and (now_s .. ' ' .. net) or now_s)
  end
end

-- Where a visitor stands: state code and 1-based position (0 when not waiting).
-- The pre-queue, in draw order, stands ahead of everyone who came after opening.
local function locate(k_pre, k_queue, k_active, id, now_ms, opens_ms)
  local until_ms = redis.call('ZSCORE', k_active, id)
  if until_ms and tonumber(until_ms) > now_ms then return ADMITTED, 0 end
  local r = redis.call('ZRANK', k_pre, id)
  if r then
    if opens_ms > now_ms then return PREQUEUE, 0 end
    return QUEUED, r + 1
  end
  r = redis.call('ZRANK', k_queue, id)
  if r then return QUEUED, redis.call('ZCARD', k_pre) + r + 1 end
  return NONE, 0
end

-- Room-wide figures every join and status answer carries.
local function room_header(k_state, k_pre, k_queue, s, now_ms)
  local st = redis.call('HMGET', k_state, 'seed_sha256', 'seed', 'rate_measured', 'rate_low',
    'rate_high', 'admitted_total', 'breaker_open', 'inventory', 'inventory_until', 'turnover')
  if s.opens_ms > now_ms then st[2] = false end  -- the seed stays secret until opening
  return {now_ms, redis.call('ZCARD', k_pre), redis.call('ZCARD', k_queue), s.raw, st}
end
