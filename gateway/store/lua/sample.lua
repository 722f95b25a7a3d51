-- sample: the leading worker keeps one sample of a room's figures for the dashboard's
-- charts, and drops samples older than the horizon, so the series stays bounded.
-- The wait of the last in line is read here, in the same moment as the sample.
--
-- KEYS[1] series (zset, score ms)  KEYS[2] queue  KEYS[3] leader
-- ARGV[1] worker id (must hold the lease)
-- ARGV[2] horizon (ms): older samples are removed
-- ARGV[3] the sample, a JSON object (the script adds `t` and `last_wait_s`)
--
-- Returns -1 when the lease is not ours, else the number of samples kept.
local k_series, k_queue, k_lead = KEYS[1], KEYS[2], KEYS[3]
if redis.call('GET', k_lead) ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local sample = cjson.decode(ARGV[3])
sample.t = now_ms
local last = redis.call('ZRANGE', k_queue, -1, -1, 'WITHSCORES')
if last[2] then
  -- A place's sequence number is the time it was taken, in µs (join.lua).
  sample.last_wait_s = math.max(0, math.floor((now_us - tonumber(last[2])) / 1000000))
else
  sample.last_wait_s = 0
end
redis.call('ZADD', k_series, now_ms, cjson.encode(sample))
redis.call('ZREMRANGEBYSCORE', k_series, '-inf', '(' .. string.format('%d', now_ms - tonumber(ARGV[2])))
return redis.call('ZCARD', k_series)
