-- lease: take or keep the lead of a room's admissions. Exactly one worker holds it;
-- when its holder stops renewing, it lapses and another worker takes it.
--
-- KEYS[1] leader
-- ARGV[1] worker id
-- ARGV[2] lease length (ms); 0 releases the lease if we hold it
--
-- Returns 1 when this worker leads (or released its lease), 0 when another leads.
local holder = redis.call('GET', KEYS[1])
local ttl = tonumber(ARGV[2])
if ttl == 0 then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 1
end
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return 1
