-- inventory: the room's inventory source reported how many places are left (the
-- leading worker polling the shop or the booking engine), or a gateway saw the shop's
-- sold-out marker. While it reports none, nobody is admitted (admit.lua, join.lua)
-- and waiting visitors are told `sold_out`. Turning sold out, and back, is audited.
--
-- KEYS[1] state  KEYS[2] audit  KEYS[3] leader
-- ARGV[1] the worker that must hold the lease, or '' (a gateway's marker sighting)
-- ARGV[2] places left, or '' when unknown (the figure is cleared)
-- ARGV[3] how long the figure holds (ms; 0: until replaced)
-- ARGV[4] the source, for the audit ('url', 'internal', 'marker')
-- ARGV[5] when (ISO time, for the audit)
--
-- Returns -1 when the lease is not ours, 1 when the room turned sold out or back, else 0.
local k_state, k_audit, k_lead = KEYS[1], KEYS[2], KEYS[3]
local worker, left, hold_ms, source = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if worker ~= '' and redis.call('GET', k_lead) ~= worker then return -1 end
local _, now_ms = clock()
local was = sold_out(k_state, now_ms)
if left == '' then
  redis.call('HDEL', k_state, 'inventory', 'inventory_until')
else
  redis.call('HSET', k_state, 'inventory', left, 'inventory_source', source,
    'inventory_at', now_ms, 'inventory_until', hold_ms > 0 and now_ms + hold_ms or 0)
end
local now = sold_out(k_state, now_ms)
if was == now then return 0 end
if now then
  redis.call('HSET', k_state, 'sold_out_since', now_ms)
  redis.call('HINCRBY', k_state, 'sold_out_total', 1)
else
  redis.call('HDEL', k_state, 'sold_out_since')
end
redis.call('LPUSH', k_audit, cjson.encode({at = ARGV[5], actor = 'inventory', mode = 'inventory',
  source = source, places_left = left ~= '' and tonumber(left) or cjson.null,
  changes = {{'sold_out', tostring(was), tostring(now)}}}))
redis.call('LTRIM', k_audit, 0, 9999)
return 1
