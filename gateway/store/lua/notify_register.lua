-- notify_register: a waiting visitor leaves an e-mail address, to be sent one message
-- with a personal link when they are near the front (or forgets it again). From then
-- on the leading worker keeps the place (notify_pass.lua) although the page is closed.
-- An address may sign up a few times per window in a room (the per-address limit,
-- counted by a keyed hash of it, never the address); nothing is written when refused.
--
-- KEYS[1] settings  KEYS[2] state (unused)  KEYS[3] queue  KEYS[4] prequeue
-- KEYS[5] active    KEYS[6] notify addresses (hash)  KEYS[7] notify watch (zset)
-- KEYS[8] sign-ups per address (hash)
-- ARGV[1] 'keep' or 'forget'
-- ARGV[2] visitor id
-- ARGV[3] the sign-up (language, path, address), ARGV[4] the address's keyed hash
-- ARGV[5] sign-ups one address may make per window, ARGV[6] the window (ms)
-- ARGV[7] the longest an address may be kept (ms)
--
-- Returns 1 kept, 2 forgotten (or nothing to forget), 0 no place in line,
-- -1 the room is closed, -2 this place's message already went, -3 the address is over
-- its limit.
local k_set, k_queue, k_pre, k_active = KEYS[1], KEYS[3], KEYS[4], KEYS[5]
local k_addr, k_watch, k_by = KEYS[6], KEYS[7], KEYS[8]
local mode, id = ARGV[1], ARGV[2]
local per_window, window_ms, max_keep_ms = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local _, now_ms = clock()

if mode == 'forget' then
  -- Only a message not yet sent can be called off; the place is then no longer kept.
  if redis.call('HDEL', k_addr, id) == 1 then redis.call('ZREM', k_watch, id) end
  return 2
end

local s = read_settings(k_set)
if s.closed then return -1 end
local code = locate(k_pre, k_queue, k_active, id, now_ms, s.opens_ms)
if code ~= QUEUED and code ~= PREQUEUE then return 0 end
if redis.call('ZSCORE', k_watch, id) and redis.call('HEXISTS', k_addr, id) == 0 then
  return -2
end

local recent = {}
local raw = redis.call('HGET', k_by, ARGV[4])
if raw then
  for t in string.gmatch(raw, '[^,]+') do
    if tonumber(t) > now_ms - window_ms then recent[#recent + 1] = t end
  end
end
if #recent >= per_window then return -3 end
recent[#recent + 1] = tostring(now_ms)
redis.call('HSET', k_by, ARGV[4], table.concat(recent, ','))
redis.call('PEXPIRE', k_by, window_ms)

redis.call('HSET', k_addr, id, ARGV[3])
-- Whatever happens to the worker, no address outlives this.
redis.call('PEXPIRE', k_addr, max_keep_ms)
redis.call('ZADD', k_watch, now_ms + max_keep_ms, id)
redis.call('PEXPIRE', k_watch, max_keep_ms)
return 1
