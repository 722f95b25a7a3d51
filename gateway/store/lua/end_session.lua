-- end_session: the backend said `Sluis-Session: end` (or the visitor left): the slot
-- goes to the next in line at the worker's next tick.
--
-- KEYS[1] state  KEYS[2] active
-- ARGV[1] visitor id
--
-- Returns 1 when a live session was ended, 0 when there was none.
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 1 then redis.call('HINCRBY', KEYS[1], 'ended_total', 1) end
return removed
