-- Read one page of the timeline and the last event id in one atomic step, so that a client
-- subscribing "since" that id misses nothing and sees nothing twice.
--
-- KEYS[1] the index to page (timeline, a section or a label zset)   KEYS[2] events stream
-- KEYS[3] ms of the last change no event announces (window trims)
-- KEYS[4] the pins to list (every pin, or one section's), newest pin first: first page only
-- ARGV[1] article key prefix  ARGV[2] oldest published ms shown ('': no age limit)
-- ARGV[3] cursor score ('' for the newest)  ARGV[4] cursor id  ARGV[5] page size
-- ARGV[6] section the items must also be in ('' for any)
-- ARGV[7] the window's length in ms (0: no age limit)  ARGV[8] label the pins must carry ('')
-- ARGV[9] edition the items must also be in ('' for any)  ARGV[10] edition the pins must be
-- in ('')  ARGV[11] the edition of an article stored without one (LIVEFEED_LANGUAGE)
-- Returns {event_id, {doc, ...}, next_score, next_id, changed_ms, {pinned doc, ...},
-- ages_out_ms} (next_* empty when there is no more; changed_ms '' when nothing was ever
-- trimmed; ages_out_ms '' when no item of the index will leave the window).

local INDEX, EVENTS, CHANGED, PINS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local APREFIX, MIN_MS = ARGV[1], tonumber(ARGV[2])  -- MIN_MS nil: no age limit
local CURSOR_SCORE, CURSOR_ID = ARGV[3], ARGV[4]
local LIMIT, SECTION, WINDOW_MS = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local LABEL = ARGV[8]
local LANG, PIN_LANG, DEFAULT_LANG = ARGV[9], ARGV[10], ARGV[11]

local function in_lang(want, lang)
  if want == '' then return true end
  if not lang or lang == '' then lang = DEFAULT_LANG end
  return lang == want
end

-- a >= b in byte order, as the sorted set orders members. Lua's own string comparison uses
-- the server's collation locale (strcoll), which differs from byte order outside "C".
local function bytes_ge(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a >= #b
end

local max = '+inf'
if CURSOR_SCORE ~= '' then max = CURSOR_SCORE end
local min = '-inf'
if MIN_MS then min = string.format('%.0f', MIN_MS) end

local docs, last_score, last_id = {}, '', ''
local more = false
local offset, chunk = 0, LIMIT + 1
while not more do
  local batch = redis.call('ZREVRANGEBYSCORE', INDEX, max, min, 'WITHSCORES', 'LIMIT', offset, chunk)
  if #batch == 0 then break end
  offset = offset + #batch / 2
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    -- Items sharing the cursor's score sort by id (descending): skip those already shown.
    local seen = CURSOR_SCORE ~= '' and tonumber(score) == tonumber(CURSOR_SCORE) and bytes_ge(id, CURSOR_ID)
    if not seen then
      local fields = redis.call('HMGET', APREFIX .. id, 'doc', 'section', 'state', 'lang')
      if fields[1] and fields[3] == 'live' and (SECTION == '' or fields[2] == SECTION)
          and in_lang(LANG, fields[4]) then
        if #docs == LIMIT then more = true; break end
        docs[#docs + 1] = fields[1]
        last_score, last_id = score, id
      end
    end
  end
  chunk = 200
end

local latest = redis.call('XREVRANGE', EVENTS, '+', '-', 'COUNT', 1)
local event_id = '0-0'
if #latest > 0 then event_id = latest[1][1] end
if not more then last_score, last_id = '', '' end
-- The last change no event announced: a trim, or the newest item that aged out of the window
-- (at its published time + the window) and that the worker may not have trimmed yet.
local changed = tonumber(redis.call('GET', CHANGED) or '0')
if MIN_MS then
  local aged = redis.call('ZREVRANGEBYSCORE', INDEX, '(' .. string.format('%.0f', MIN_MS), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #aged > 0 then changed = math.max(changed, tonumber(aged[2]) + WINDOW_MS) end
end
-- Pinned items (the first page only), in the filter and the window.
local pinned = {}
if CURSOR_SCORE == '' then
  for _, id in ipairs(redis.call('ZREVRANGE', PINS, 0, 199)) do
    local f = redis.call('HMGET', APREFIX .. id, 'doc', 'state', 'labels', 'pub', 'section',
      'lang')
    local ok = f[1] and f[2] == 'live' and (not MIN_MS or tonumber(f[4]) >= MIN_MS)
      and (SECTION == '' or f[5] == SECTION) and in_lang(PIN_LANG, f[6])
    if ok and LABEL ~= '' then
      ok = false
      for l in string.gmatch(f[3] or '', '[^,]+') do if l == LABEL then ok = true end end
    end
    if ok then pinned[#pinned + 1] = f[1] end
  end
end
-- When the next item of this index ages out of the window (its published ms + the window):
-- until then, and until the next event, this read gives the same answer ('' when nothing will).
local ages_out = ''
if MIN_MS then
  local first = redis.call('ZRANGEBYSCORE', INDEX, string.format('%.0f', MIN_MS), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first > 0 then ages_out = string.format('%.0f', tonumber(first[2]) + WINDOW_MS) end
end
return {event_id, docs, last_score, last_id, string.format('%.0f', changed), pinned, ages_out}
