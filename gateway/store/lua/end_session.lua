-- end_session: the backend said `Sluis-Session: end`, an end_on rule matched, or the
-- visitor left: the slot goes to the next in line at the worker's next tick. The
-- session's length (admission to now) joins the room's measured session lengths.
--
-- A live session's end is published on the ends channel, so that every gateway
-- process refuses its admission at once instead of at its next renewal.
--
-- KEYS[1] state  KEYS[2] active  KEYS[3] started
-- ARGV[1] visitor id, ARGV[2] the ends channel, ARGV[3] the room, ARGV[4] the path whose
-- answer ended it (published too: that page may still be read, see Gate.pass_out)
--
-- Returns 1 when a live session was ended, 0 when there was none.
local id = ARGV[1]
local removed = redis.call('ZREM', KEYS[2], id)
local started = redis.call('HGET', KEYS[3], id)
if started then redis.call('HDEL', KEYS[3], id) end
if removed == 1 then
  redis.call('HINCRBY', KEYS[1], 'ended_total', 1)
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\n' .. id .. '\n' .. ARGV[4])
  if started then
    local t = redis.call('TIME')
    local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('HINCRBY', KEYS[1], 'session_ms_total', math.max(0, now_ms - tonumber(started)))
    redis.call('HINCRBY', KEYS[1], 'sessions_measured_total', 1)
  end
end
return removed
