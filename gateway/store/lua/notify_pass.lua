-- notify_pass: the leading worker goes through the visitors who signed up for an
-- e-mail (a stretch of them it read from the watch set) and, for each one:
--   * the place ended (left, expired, session over): the address is deleted;
--   * near the front (at most the due position) or admitted, and the room's
--     per-minute limit allows: the sign-up is taken out of Redis and returned to be
--     sent, in this same step, so that it goes at most once; the place is then kept
--     for the hold time;
--   * otherwise: while the place is kept, its last-seen time is written for it, so
--     that the grace period does not end a place whose page was closed;
--   * an unsent address older than the longest keep is deleted.
-- When the line is empty, the per-address counts and the send times go too, and the
-- watch set once no address is left.
--
-- KEYS[1] settings  KEYS[2] state (unused)  KEYS[3] queue  KEYS[4] prequeue
-- KEYS[5] active    KEYS[6] leader  KEYS[7] notify addresses  KEYS[8] notify watch
-- KEYS[9] sign-ups per address  KEYS[10] notify sent  KEYS[11..] last-seen buckets
-- ARGV[1] worker id (must hold the lease)
-- ARGV[2] the due position (0: nobody in line is near enough)
-- ARGV[3] how long the place is kept after the message (ms)
-- ARGV[4] messages the room may send per minute
-- ARGV[5..] pairs: visitor id, index into KEYS of its last-seen bucket
--
-- Returns {-1} when the lease is not ours, else
-- {ended, kept, cleared (1 when the line was empty), id1, signup1, turn1, id2, ...}
-- where turn is 1 when that visitor was already admitted.
local k_set, k_queue, k_pre, k_active, k_lead = KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local k_addr, k_watch, k_by, k_sent = KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local worker, due = ARGV[1], tonumber(ARGV[2])
local hold_ms, per_minute = tonumber(ARGV[3]), tonumber(ARGV[4])

if redis.call('GET', k_lead) ~= worker then return {-1} end
local _, now_ms, now_s = clock()
local s = read_settings(k_set)

redis.call('ZREMRANGEBYSCORE', k_sent, '-inf', now_ms - 60000)
local budget = per_minute - redis.call('ZCARD', k_sent)

local out, ended, kept = {}, 0, 0
for i = 5, #ARGV, 2 do
  local id, k_seen = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  local until_ms = tonumber(redis.call('ZSCORE', k_watch, id))
  if until_ms then
    local code, pos = locate(k_pre, k_queue, k_active, id, now_ms, s.opens_ms)
    local signup = redis.call('HGET', k_addr, id)
    if code ~= QUEUED and code ~= PREQUEUE and code ~= ADMITTED then
      redis.call('HDEL', k_addr, id)
      redis.call('ZREM', k_watch, id)
      ended = ended + 1
    else
      if signup and budget > 0 and (code == ADMITTED or (code == QUEUED and pos <= due)) then
        redis.call('HDEL', k_addr, id)
        until_ms = now_ms + hold_ms
        redis.call('ZADD', k_watch, until_ms, id)
        redis.call('ZADD', k_sent, now_ms, id)
        budget = budget - 1
        out[#out + 1] = id
        out[#out + 1] = signup
        out[#out + 1] = code == ADMITTED and 1 or 0
        signup = false
      end
      if until_ms > now_ms then
        if code ~= ADMITTED then
          touch(k_seen, id, now_s)
          kept = kept + 1
        end
      elseif until_ms > 0 then
        -- Kept long enough (or never sent within the longest keep): the ordinary grace
        -- period applies again; the mark stays, so this place gets no second message.
        if signup then redis.call('HDEL', k_addr, id) end
        redis.call('ZADD', k_watch, 0, id)
      end
    end
  end
end

local cleared = 0
if redis.call('ZCARD', k_queue) + redis.call('ZCARD', k_pre) == 0 then
  redis.call('DEL', k_by, k_sent)
  if redis.call('HLEN', k_addr) == 0 then redis.call('DEL', k_watch) end
  cleared = 1
end

local res = {ended, kept, cleared}
for j = 1, #out do res[#res + 1] = out[j] end
return res
