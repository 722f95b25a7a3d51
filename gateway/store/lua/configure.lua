-- configure: define a room's settings (only those not yet set) or change them,
-- with the draw seed kept consistent and every change written to the audit trail.
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] queue  KEYS[4] prequeue  KEYS[5] audit
-- ARGV[1] 'define' (set missing fields only) or 'change'
-- ARGV[2] a fresh seed, ARGV[3] its sha256: used only when a new draw needs one
-- ARGV[4] who changes it (for the audit), ARGV[5] when (ISO time, for the audit)
-- ARGV[6..] field, value pairs
--
-- Returns {'ok', changes} where changes is a cjson list of [field, old, new], or
-- {'err', reason} when the change would be unfair (nothing written).
local k_set, k_state, k_queue, k_pre, k_audit = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local mode, seed, seed_sha, actor, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local _, now_ms = clock()
local old_opens = num(redis.call('HGET', k_set, 'opens_at'), 0)

local changes = {}
for i = 6, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  local old = redis.call('HGET', k_set, field)
  if mode == 'define' then
    if not old then
      redis.call('HSET', k_set, field, value)
      changes[#changes + 1] = {field, false, value}
    end
  elseif old ~= value then
    if field == 'opens_at' and tonumber(value) > now_ms and old_opens <= now_ms
        and redis.call('ZCARD', k_queue) + redis.call('ZCARD', k_pre) > 0 then
      return {'err', 'people are waiting in the open room; a new opening would put later arrivals ahead of them'}
    end
    changes[#changes + 1] = {field, old or false, value}
  end
end
if mode ~= 'define' then
  for i = 1, #changes do redis.call('HSET', k_set, changes[i][1], changes[i][3]) end
end

-- A new draw needs a new seed; a pre-queue already drawn under a seed keeps it.
local opens = num(redis.call('HGET', k_set, 'opens_at'), 0)
local have = redis.call('HGET', k_state, 'seed')
local revealed = old_opens > 0 and old_opens <= now_ms
if opens > now_ms and (not have or (revealed and redis.call('ZCARD', k_pre) == 0)) then
  redis.call('HSET', k_state, 'seed', seed, 'seed_sha256', seed_sha)
end

local encoded = cjson.encode(changes)
if #changes > 0 then
  redis.call('LPUSH', k_audit, cjson.encode({at = at, actor = actor, mode = mode, changes = changes}))
  redis.call('LTRIM', k_audit, 0, 9999)
end
return {'ok', encoded}
