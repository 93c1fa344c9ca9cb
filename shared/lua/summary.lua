-- Set or delete the live summary of one scope (shared/summary.py), with its history entry and
-- its one event, in one atomic step: readers, views and the log never disagree. Run by ingest;
-- events.lua is prepended. A put of the text already stored, or a delete of no summary,
-- changes nothing (no history, no event).
--
-- KEYS[1] the scope's hash  KEYS[2] its history list  KEYS[3] events stream  KEYS[4] horizon
-- ARGV[1] 'put' or 'delete'  ARGV[2] the text (put)  ARGV[3] the public doc, JSON (put)
-- ARGV[4] the history entry, JSON  ARGV[5] history ttl (s)  ARGV[6] history entries kept
-- ARGV[7] stream max length  ARGV[8] section ('': the whole feed)  ARGV[9] edition ('': every)
-- ARGV[10] request id  ARGV[11] when ingest accepted it (ms)
-- Returns {outcome ('changed' or 'unchanged'), the event id ('' if none), the doc now ('')}.

local KEY, HISTORY, EVENTS, HORIZON = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, text, doc, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local cur = redis.call('HMGET', KEY, 'doc', 'text')
if op == 'put' then
  if cur[1] and cur[2] == text then return {'unchanged', '', cur[1]} end
elseif op == 'delete' then
  if not cur[1] then return {'unchanged', '', ''} end
else
  return redis.error_reply('unknown operation ' .. tostring(op))
end

local id = append_event(EVENTS, HORIZON, tonumber(ARGV[7]), {
  'type', 'summary', 'sections', ARGV[8], 'labels', '', 'lang', ARGV[9],
  'summary', op == 'put' and doc or 'null', 'rid', ARGV[10], 'at', ARGV[11]})
if op == 'put' then
  redis.call('HSET', KEY, 'doc', doc, 'text', text, 'eid', id)
else
  -- The scope keeps the event of its deletion: a reader's copy older than it is told apart.
  redis.call('HDEL', KEY, 'doc', 'text')
  redis.call('HSET', KEY, 'eid', id)
end
redis.call('RPUSH', HISTORY, entry)
redis.call('LTRIM', HISTORY, -tonumber(ARGV[6]), -1)
redis.call('EXPIRE', HISTORY, tonumber(ARGV[5]))
return {'changed', id, op == 'put' and doc or ''}
