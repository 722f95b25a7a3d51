-- networks: the client networks each admission in the batch is used from. An admission
-- is one person's: within the window it may be used from at most ARGV[1] networks (a
-- phone moving from Wi-Fi to mobile data is two); a further network is refused until
-- one of those has gone unused for the whole window. A network already counted is only
-- stamped again.
--
-- KEYS[1] state  KEYS[2..] each visitor's networks (zset: network -> last use, ms)
-- ARGV[1] networks allowed per admission  ARGV[2] the window (ms)
-- ARGV[3..] pairs: index into KEYS of the visitor's networks, the network
--
-- Returns, per pair in ARGV order, the networks the admission was used from within the
-- window: this one included when allowed (n > 0), or -n when this one was refused.
-- Each refusal adds 1 to the room's shared_refused_total.
local k_state = KEYS[1]
local cap, window_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}

for i = 3, #ARGV, 2 do
  local k, net = KEYS[tonumber(ARGV[i])], ARGV[i + 1]
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now_ms - window_ms)
  local n = redis.call('ZCARD', k)
  if redis.call('ZSCORE', k, net) or n < cap then
    if redis.call('ZADD', k, now_ms, net) == 1 then n = n + 1 end
    redis.call('PEXPIRE', k, window_ms)
    out[#out + 1] = n
  else
    redis.call('HINCRBY', k_state, 'shared_refused_total', 1)
    out[#out + 1] = -n
  end
end
return out
