-- renew: slide an admitted visitor's session forward because they used it.
-- The gateway calls this at most every few seconds per visitor.
--
-- KEYS[1] settings  KEYS[2] active
-- ARGV[1] visitor id
--
-- Returns the session length in seconds when the session is live (and now renewed),
-- 0 when it has ended or expired.
local _, now_ms = clock()
local s = read_settings(KEYS[1])
local until_ms = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not until_ms or tonumber(until_ms) <= now_ms then return 0 end
redis.call('ZADD', KEYS[2], 'XX', now_ms + s.session_ms, ARGV[1])
return s.session_ms / 1000
