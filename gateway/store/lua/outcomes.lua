-- outcomes: add one gateway's count of the backend's answers in one second.
-- Every gateway process adds to the same hash, so the worker reads the room's total.
--
-- KEYS[1] the room's health hash for that second (keys.py: RoomKeys.health)
-- ARGV[1] seconds the hash lives (longer than any breaker window)
-- ARGV[2..] pairs: field (n, err, le_<ms>, le_inf), count to add
--
-- Returns 1.
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], tonumber(ARGV[i + 1]))
end
redis.call('EXPIRE', KEYS[1], ttl)
return 1
