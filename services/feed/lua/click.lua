-- One headline open (POST /v1/clicks), counted only while the article is live: unknown,
-- embargoed, retracted or expired ids (and ones gone out of the window) write nothing.
--
-- KEYS[1] the article's hash  KEYS[2] its opens per minute (hash: minute -> opens)
-- KEYS[3] the minute's articles (zset: id -> opens)
-- ARGV[1] article id  ARGV[2] this epoch minute  ARGV[3] oldest published ms shown ('': none)
-- ARGV[4] seconds opens are kept  ARGV[5] the oldest minute kept  ARGV[6] when the minute's
-- zset expires (Unix seconds)
-- Returns 1 when counted, 0 when not.

local state, pub = unpack(redis.call('HMGET', KEYS[1], 'state', 'pub'))
if state ~= 'live' then return 0 end
local floor = tonumber(ARGV[3])
if floor and pub and tonumber(pub) < floor then return 0 end

if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
  -- A new minute (once a minute per article): drop the minutes older than the retention.
  local oldest = tonumber(ARGV[5])
  for _, minute in ipairs(redis.call('HKEYS', KEYS[2])) do
    if tonumber(minute) < oldest then redis.call('HDEL', KEYS[2], minute) end
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZINCRBY', KEYS[3], 1, ARGV[1])
redis.call('EXPIREAT', KEYS[3], ARGV[6])
return 1
