-- Read the timeline around one headline (a permalink, ``?at=<id>``) or just above a cursor
-- (``?after=``: "Newer headlines"), with the last event id, in one atomic step.
--
-- KEYS and ARGV[1..11] are read.lua's (the page below the anchor is read.lua's page below it:
-- store.py wraps read.lua's text in ``read_page()`` here, so there is one paging rule), then:
-- ARGV[12] the anchor id ('': an ``after`` read)  ARGV[13] how many newer items to give
-- ARGV[14] the ``after`` cursor's score  ARGV[15] its id (both '' with an anchor)
-- ARGV[16] the section filter ('')  ARGV[17] history key prefix
-- Returns read.lua's answer (for the anchor: the page below it, or the newest page when the
-- anchor is not in the view), then: status ('found', 'retracted', 'expired', 'unknown'; '' for
-- an ``after`` read), the anchor's doc (''), {newer doc, ...} newest first, and the cursor
-- where newer items go on (score, id: '' when the newest item of the view is among them).

local ANCHOR, NEWER = ARGV[12], tonumber(ARGV[13])
local SECTION_FILTER, HPREFIX = ARGV[16], ARGV[17]
local SCAN_MAX = 2000  -- index entries looked at above the anchor, at most (filters skip some)

--@read.lua

local A_INDEX, A_PREFIX = KEYS[1], ARGV[1]
local A_MIN = tonumber(ARGV[2])
local ALSO_SECTION, LABEL, ALSO_LANG, LANG, DEFAULT = ARGV[6], ARGV[8], ARGV[9], ARGV[10],
  ARGV[11]

local function edition(lang)
  if not lang or lang == '' then return DEFAULT end
  return lang
end

-- a > b in byte order (as the sorted set orders members; Lua's own comparison is the locale's).
local function bytes_gt(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

-- Whether a live item of the index is in the view (the filters its index does not imply).
local function shown(f)
  return f[1] and f[3] == 'live' and (ALSO_SECTION == '' or f[2] == ALSO_SECTION)
    and (ALSO_LANG == '' or edition(f[4]) == ALSO_LANG)
end

-- Whether a record that left the timeline was in the view: its section, labels and edition.
local function was_in_view(f)
  if SECTION_FILTER ~= '' and f[2] ~= SECTION_FILTER then return false end
  if LANG ~= '' and edition(f[4]) ~= LANG then return false end
  if LABEL == '' then return true end
  for l in string.gmatch(f[5] or '', '[^,]+') do if l == LABEL then return true end end
  return false
end

-- Where the anchor is: its doc and score when the view shows it, else why not.
local function locate(id)
  local score = redis.call('ZSCORE', A_INDEX, id)
  local f = redis.call('HMGET', A_PREFIX .. id, 'doc', 'section', 'state', 'lang', 'labels')
  if score then
    if not shown(f) then return 'unknown' end
    if A_MIN and tonumber(score) < A_MIN then return 'expired' end
    return 'found', f[1], score
  end
  if (f[3] == 'retracted' or f[3] == 'expired') and was_in_view(f) then return f[3] end
  if not f[3] and SECTION_FILTER == '' and LABEL == '' and LANG == '' then
    -- The tombstone has expired (7 days); the history (LIVEFEED_HISTORY_DAYS) still knows.
    local last = redis.call('LINDEX', HPREFIX .. id, -1)
    if last and cjson.decode(last).action == 'retracted' then return 'retracted' end
  end
  return 'unknown'  -- never stored, embargoed, a draft, or not in this view
end

-- The ``count`` items of the view just above (score, id), newest first, and the cursor where
-- newer ones go on ('' when none is left above them). By rank: O(log n) to the position.
local function above(score, id, count)
  local pos = redis.call('ZCOUNT', A_INDEX, '-inf', '(' .. score)
  local found, scanned, more = {}, 0, false
  local last_score, last_id = '', ''
  while not more and scanned < SCAN_MAX do
    local batch = redis.call('ZRANGE', A_INDEX, pos, pos + 199, 'WITHSCORES')
    if #batch == 0 then break end
    pos = pos + #batch / 2
    for i = 1, #batch, 2 do
      local member, s = batch[i], batch[i + 1]
      scanned = scanned + 1
      local beyond = tonumber(s) > tonumber(score) or bytes_gt(member, id)
      if beyond and (not A_MIN or tonumber(s) >= A_MIN) then
        if shown(redis.call('HMGET', A_PREFIX .. member, 'doc', 'section', 'state', 'lang')) then
          if #found == count then more = true; break end
          found[#found + 1] = member
          last_score, last_id = s, member
        end
      end
      if scanned >= SCAN_MAX then
        more = true  -- looked far enough: the reader asks again from here
        if #found == 0 then last_score, last_id = s, member end
        break
      end
    end
  end
  local docs = {}
  for i = #found, 1, -1 do
    docs[#docs + 1] = redis.call('HGET', A_PREFIX .. found[i], 'doc')
  end
  if not more then last_score, last_id = '', '' end
  return docs, last_score, last_id
end

local status, anchor_doc, from_score, from_id = '', '', nil, nil
if ANCHOR ~= '' then
  local doc, score
  status, doc, score = locate(ANCHOR)
  if status == 'found' then
    anchor_doc, from_score, from_id = doc, score, ANCHOR
    ARGV[3], ARGV[4] = score, ANCHOR  -- the page below the anchor
  else
    ARGV[3], ARGV[4] = '', ''  -- the newest page, under the page's "no longer available"
  end
else
  from_score, from_id = ARGV[14], ARGV[15]
  ARGV[3], ARGV[4], ARGV[5] = from_score, from_id, '0'  -- no page below: the event id only
end

local newer, newer_score, newer_id = {}, '', ''
if from_score then newer, newer_score, newer_id = above(from_score, from_id, NEWER) end
local answer = read_page()
answer[#answer + 1] = status
answer[#answer + 1] = anchor_doc
answer[#answer + 1] = newer
answer[#answer + 1] = newer_score
answer[#answer + 1] = newer_id
return answer
