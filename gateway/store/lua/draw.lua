-- draw: at opening, publish the pre-queue in its drawn order as public tickets,
-- once per opening, so that anyone can recompute the order from the revealed seed:
-- ticket = sha1(visitor)[:16], order = ascending int(sha1(seed .. ':' .. ticket)[:13], 16).
--
-- KEYS[1] settings  KEYS[2] state  KEYS[3] prequeue  KEYS[4] draw (list of tickets)
--
-- Returns the number of tickets published, or -1 when not yet open or already published.
local _, now_ms = clock()
local s = read_settings(KEYS[1])
if s.opens_ms == 0 or s.opens_ms > now_ms then return -1 end
if redis.call('HGET', KEYS[2], 'drawn_for') == tostring(s.opens_ms) then return -1 end
redis.call('DEL', KEYS[4])
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
local batch = {}
for i = 1, #ids do
  batch[#batch + 1] = string.sub(redis.sha1hex(ids[i]), 1, 16)
  if #batch == 1000 then redis.call('RPUSH', KEYS[4], unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('RPUSH', KEYS[4], unpack(batch)) end
redis.call('HSET', KEYS[2], 'drawn_for', tostring(s.opens_ms), 'drawn_count', #ids)
return #ids
