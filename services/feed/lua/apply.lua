-- Apply a batch of article writes in one atomic step: the timeline and the event log never
-- disagree, and a re-run of the same batch (a worker killed mid-job) changes nothing.
--
-- KEYS[1] timeline zset   KEYS[2] events stream   KEYS[3] events horizon   KEYS[4] embargo zset
-- KEYS[5] last change (ms) that no event announces (an item trimmed off the window)
-- KEYS[6] set once every live article is in its edition's index (see index_editions())
-- KEYS[7] every draft id (zset, scored by its last change)  KEYS[8] the desk's event stream
-- ARGV[1] article key prefix  ARGV[2] section key prefix  ARGV[3] label key prefix
-- ARGV[4] now (ms)  ARGV[5] oldest published ms kept ('': no age limit)  ARGV[6] max items
-- ARGV[7] stream max length  ARGV[8] tombstone ttl (s)  ARGV[9] correction notes kept per item
-- ARGV[10] history key prefix  ARGV[11] history ttl (s)  ARGV[12] pinned key prefix (one zset
-- per section, '_' for none)  ARGV[13] every pinned id (zset)  ARGV[14] pins per section
-- ARGV[15] JSON array of operations  ARGV[16] edition (language) key prefix
-- ARGV[17] the edition of a stored article without one (LIVEFEED_LANGUAGE: records written
-- before editions existed have no ``lang`` field)
-- ARGV[18] draft key prefix  ARGV[19] the desk stream's max length
-- An operation may carry ``by`` (the token's name: recorded in the article's history) and
-- ``scope`` (the token's sections: a change to a record of another section, live or not, is
-- rejected; see refusal()). An upsert may carry ``bv``/``bu``: the stored (version, ms) a PATCH
-- was merged onto; it applies only while that record is still the one shown (else ``stale``).
-- Drafts (see "Drafts" below): an upsert with ``draft`` saves a draft instead; one with
-- ``publish`` (the draft's version) publishes the stored draft; ``return`` sends a draft back.
-- ``ifrev`` (If-Match): the write applies only while its record (the draft for a draft, else
-- the article) is at that version (``rev``), else ``stale`` with ``current``. ``role`` is
-- 'contributor' for a contributor's token: it may save drafts of ids without an article only.
-- Returns a JSON array: one {"id", "outcome", "event_id"?} per operation.

local TIMELINE, EVENTS, HORIZON, EMBARGO, CHANGED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local EDITIONS_INDEXED = KEYS[6]
local APREFIX, SPREFIX, LPREFIX = ARGV[1], ARGV[2], ARGV[3]
local NOW, MIN_MS = tonumber(ARGV[4]), tonumber(ARGV[5])  -- MIN_MS nil: no age limit
local MAX_ITEMS, MAXLEN, TOMB_TTL = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local MAX_CORRECTIONS = tonumber(ARGV[9])
local HPREFIX, HISTORY_TTL = ARGV[10], tonumber(ARGV[11])
local PPREFIX, PINNED_ALL, MAX_PINNED = ARGV[12], ARGV[13], tonumber(ARGV[14])
local ops = cjson.decode(ARGV[15])
local GPREFIX, DEFAULT_LANG = ARGV[16], ARGV[17]
local DRAFTS, DESK = KEYS[7], KEYS[8]
local DPREFIX, DESK_MAXLEN = ARGV[18], tonumber(ARGV[19])
local HISTORY_MAX = 1000  -- entries kept per article (the newest)

-- Lua 5.1 prints large numbers with 14 digits; integers up to 2^53 are written exactly.
local function int(n)
  return string.format('%.0f', n)
end

local function split(csv)
  local out = {}
  if csv then for part in string.gmatch(csv, '[^,]+') do out[#out + 1] = part end end
  return out
end

local function union(a, b)
  local seen, out = {}, {}
  for _, list in ipairs({a, b}) do
    for _, v in ipairs(list) do
      if not seen[v] then seen[v] = true; out[#out + 1] = v end
    end
  end
  return table.concat(out, ',')
end

-- Pins: one zset per section (scored by when it was pinned) and one of every pin.
local function pin_key(section)
  if section == nil or section == '' then return PPREFIX .. '_' end
  return PPREFIX .. section
end

-- A stored article's edition: its ``lang`` field, else LIVEFEED_LANGUAGE's.
local function lang_of(lang)
  if lang == nil or lang == false or lang == '' then return DEFAULT_LANG end
  return lang
end

local function unindex(id, section, labels_csv, lang)
  redis.call('ZREM', GPREFIX .. lang_of(lang), id)
  redis.call('ZREM', pin_key(section), id)
  redis.call('ZREM', PINNED_ALL, id)
  redis.call('ZREM', TIMELINE, id)
  if section and section ~= '' then redis.call('ZREM', SPREFIX .. section, id) end
  for _, l in ipairs(split(labels_csv)) do redis.call('ZREM', LPREFIX .. l, id) end
end

local function index(id, pub, section, labels_csv, lang)
  local score = int(pub)
  redis.call('ZADD', TIMELINE, score, id)
  redis.call('ZADD', GPREFIX .. lang_of(lang), score, id)
  if section ~= '' then redis.call('ZADD', SPREFIX .. section, score, id) end
  for _, l in ipairs(split(labels_csv)) do redis.call('ZADD', LPREFIX .. l, score, id) end
end

-- AT: when ingest accepted the operation being applied (ms, '' if unknown), written on each
-- event as 'at' so that push can measure freshness (acceptance to frame sent).
local AT = ''

-- Events are appended once the whole batch and the window trims are done (flush below), so
-- that an item this same call trims is answered "expired" and never announced.
local pending = {}
local trimmed = {}

-- Queue one event for ``result`` (the item's outcome, which gets its event_id at the flush).
-- sections/labels: where the article is shown now (for a retraction: where it was shown);
-- lang: its edition (for a retraction: the one it was shown in); psections/plabels/plang
-- (updates only): where it was shown before, so that a subscriber whose filter it left is
-- told so (a retraction with reason "filter").
-- note (corrections only): the correction this change makes, {"text", "at"} as JSON.
-- pin: 'pinned' or 'unpinned' when this change pins or unpins the article.
local function announce(result, kind, id, sections, labels, lang, headline, rid, psections,
                        plabels, plang, note, pin)
  pending[#pending + 1] = {result = result, kind = kind, id = id, sections = sections,
    labels = labels, lang = lang_of(lang), headline = headline, rid = rid or '', at = AT,
    psections = psections, plabels = plabels, plang = lang_of(plang), note = note, pin = pin}
  return result
end

-- Append one event (events.lua: the log's horizon is kept there).
local function append(e)
  local args = {'type', e.kind, 'id', e.id, 'sections', e.sections, 'labels', e.labels,
    'headline', e.headline, 'rid', e.rid, 'at', e.at, 'lang', e.lang}
  if e.psections then
    args[#args + 1] = 'psections'; args[#args + 1] = e.psections
    args[#args + 1] = 'plabels'; args[#args + 1] = e.plabels
    args[#args + 1] = 'plang'; args[#args + 1] = e.plang
  end
  if e.note then
    args[#args + 1] = 'correction'; args[#args + 1] = e.note
  end
  if e.pin then
    args[#args + 1] = 'pin'; args[#args + 1] = e.pin
  end
  return append_event(EVENTS, HORIZON, MAXLEN, args)
end

local function flush()
  for _, e in ipairs(pending) do
    if trimmed[e.id] and e.kind ~= 'retracted' then
      e.result.outcome = 'expired'  -- shown to nobody: not announced
    else
      e.result.event_id = append(e)
    end
  end
end

local function retraction_headline(id)
  return cjson.encode({id = id})
end

local results = {}

-- An article that is not (or no longer) shown keeps a record of its rank, so that an older
-- copy arriving later is "stale" instead of bringing it back; the record expires.
local function keep_record(key, state)
  redis.call('HDEL', key, 'doc', 'embargo', 'corr')
  redis.call('HSET', key, 'state', state)
  redis.call('EXPIRE', key, TOMB_TTL)
end

local function changed()
  redis.call('SET', CHANGED, int(NOW))
end

-- Whether an item just indexed at (pub, id) falls beyond MAX_ITEMS at once: the count trim
-- removes the lowest (score, id) first, so it would be gone before any reader saw it.
local function beyond_max(id)
  local excess = redis.call('ZCARD', TIMELINE) - MAX_ITEMS
  return excess > 0 and redis.call('ZRANK', TIMELINE, id) < excess
end

-- The item's correction notes (JSON, newest last, at most MAX_CORRECTIONS): the stored ones
-- plus ``note`` (this write's correction, JSON, or '').
local function corrections(stored, note)
  local list = {}
  if stored and stored ~= '' then list = cjson.decode(stored) end
  if note and note ~= '' then list[#list + 1] = cjson.decode(note) end
  while #list > MAX_CORRECTIONS do table.remove(list, 1) end
  if #list == 0 then return '[]' end
  return cjson.encode(list)
end

-- The headline JSON (an object from orjson) with its "corrections" list and "pinned" added.
-- Spliced as text: a cjson round trip would print large integers (versions) with 14 digits.
local function with_extras(doc, list, pinned)
  return string.sub(doc, 1, -2) .. ',"corrections":' .. list .. ',"pinned":'
    .. (pinned and 'true' or 'false') .. '}'
end

-- A stored doc's own part (before the spliced extras): the last ',"corrections":' is ours,
-- since a quote inside any text value is escaped.
local function base_doc(doc)
  local at, from = nil, 1
  while true do
    local found = string.find(doc, ',"corrections":', from, true)
    if not found then break end
    at, from = found, found + 1
  end
  if not at then return doc end
  return string.sub(doc, 1, at - 1) .. '}'
end


-- The fields of the public headline an editor changes (the history names them).
local FIELDS = {'title', 'url', 'labels', 'section', 'tags', 'summary', 'byline', 'language',
  'urgency', 'published_at'}

local function value_text(v)
  if v == nil then return 'null' end
  return cjson.encode(v)
end

-- Which FIELDS differ between two headline docs (old_doc nil: those the new one sets).
local function changed_fields(old_doc, new_doc)
  local new, out = cjson.decode(new_doc), {}
  local old = old_doc and cjson.decode(old_doc) or nil
  for _, f in ipairs(FIELDS) do
    local now = value_text(new[f])
    if old then
      if value_text(old[f]) ~= now then out[#out + 1] = f end
    elseif now ~= 'null' and now ~= '{}' and now ~= '[]' then
      out[#out + 1] = f
    end
  end
  return out
end

-- One entry of the article's history, in the same call as the change itself.
local function record(id, action, op, fields, note)
  local entry = {at = int(NOW), by = op.by or '', action = action, fields = fields or {}}
  if op.v and op.v > 0 then entry.version = int(op.v) end
  if note then entry.correction = cjson.decode(note).text end
  if op.reason and op.reason ~= '' then entry.reason = op.reason end
  if op.rid and op.rid ~= '' then entry.request_id = op.rid end
  local key = HPREFIX .. id
  redis.call('RPUSH', key, cjson.encode(entry))
  redis.call('LTRIM', key, -HISTORY_MAX, -1)
  redis.call('EXPIRE', key, HISTORY_TTL)
end

-- A scoped token (op.scope: its sections) may touch only articles in those sections.
local function in_scope(scope, section)
  if not scope then return true end
  for _, s in ipairs(scope) do if s == section then return true end end
  return false
end

-- Which record a scoped token may change (ingest's early answer applies the same rule,
-- shared/tokens.py; this script is the authority). Every stored record belongs to sections:
-- an article's record (live, embargoed, retracted or expired) to its ``section`` ('' none);
-- a tombstone a scoped token left for an id without an article to that token's sections
-- (``tscope``, comma-separated); any other tombstone to every section. A scoped token may
-- change a record only if it belongs to none but the token's sections. Returns nil when it
-- may, else what the refusal names.
local function refusal(scope, section, tscope)
  if section then
    if in_scope(scope, section) then return nil end
    return section ~= '' and 'section ' .. section or 'an article without a section'
  end
  if tscope then
    for _, s in ipairs(split(tscope)) do
      if not in_scope(scope, s) then return 'section ' .. s end
    end
    return nil
  end
  return 'an id retracted for every section'
end

local function out_of_scope(op, where)
  return {id = op.id, outcome = 'rejected',
    reason = 'section: forbidden: the token ' .. tostring(op.by) .. ' may not change ' .. where}
end

-- Unpin the oldest pins of ``section`` beyond MAX_PINNED (not ``keep``): each is an update
-- that says so. Returns their ids.
local function enforce_pins(section, keep, op)
  local key = pin_key(section)
  local over = redis.call('ZCARD', key) - MAX_PINNED
  local dropped = {}
  if over <= 0 then return dropped end
  for _, old in ipairs(redis.call('ZRANGE', key, 0, over - 1)) do
    if old ~= keep then
      redis.call('ZREM', key, old)
      redis.call('ZREM', PINNED_ALL, old)
      local okey = APREFIX .. old
      local o = redis.call('HMGET', okey, 'doc', 'corr', 'section', 'labels', 'state', 'lang')
      if o[1] and o[5] == 'live' then
        local odoc = with_extras(base_doc(o[1]), o[2] or '[]', false)
        redis.call('HSET', okey, 'doc', odoc)
        record(old, 'unpinned', {by = op.by, rid = op.rid}, {'pinned'}, nil)
        announce({id = old, outcome = 'unpinned'}, 'updated', old, o[3] or '', o[4] or '', o[6],
          odoc, op.rid, o[3] or '', o[4] or '', o[6], nil, 'unpinned')
      end
      dropped[#dropped + 1] = old
    end
  end
  return dropped
end

-- Who last changed the article (not its draft), and when: the newest such history entry.
local DRAFT_ACTIONS = {drafted = true, returned = true, discarded = true}
local function last_change(id)
  local entries = redis.call('LRANGE', HPREFIX .. id, -50, -1)
  for i = #entries, 1, -1 do
    local e = cjson.decode(entries[i])
    if not DRAFT_ACTIONS[e.action] then return e.by or '', tonumber(e.at) or 0 end
  end
  return '', 0
end

-- ``stale`` for a write whose If-Match (or reviewed version) is not the record's version now:
-- ``current`` says what it is, who changed it and when (nil fields: no such record).
local function conflict(id, rev, by, at, title)
  local current = cjson.null
  if rev then current = {version = tonumber(rev), by = by, at = tonumber(at), title = title} end
  return {id = id, outcome = 'stale', current = current,
    reason = 'changed since the version this write started from: reload, or send it again '
      .. 'without If-Match to overwrite'}
end

local function upsert(op)
  local key = APREFIX .. op.id
  local cur = redis.call('HMGET', key, 'v', 'u', 'state', 'section', 'labels', 'rat', 'corr',
    'doc', 'tscope', 'lang', 'rev')
  -- A scoped token's tombstone for an id without an article holds in its sections only: an
  -- article in another section is written as if there were no record.
  if not cur[4] and cur[9] and not in_scope(split(cur[9]), op.section) then cur = {} end
  local state = cur[3]
  local shown = state == 'live' or state == 'embargoed'
  if op.scope then
    if state or cur[1] or cur[6] then
      local where = refusal(op.scope, cur[4], cur[9])
      if where then return out_of_scope(op, where) end
    end
    if not in_scope(op.scope, op.section) then
      return out_of_scope(op, op.section ~= '' and 'section ' .. op.section
        or 'an article without a section')
    end
  end
  -- If-Match first: a write that started from another version of the record is a conflict
  -- that names who changed it, whatever else would refuse it (an older rank, a PATCH's stale
  -- base: two editors patching one item). A re-run of this very write (the same rank stored)
  -- is answered ``unchanged`` below, as any re-run is.
  if op.ifrev and tonumber(cur[11] or 0) ~= op.ifrev
      and not (cur[1] and tonumber(cur[1]) == op.v and tonumber(cur[2]) == op.u) then
    local by, at = last_change(op.id)
    return conflict(op.id, cur[11], by, at, cur[8] and cjson.decode(cur[8]).title or nil)
  end
  if cur[1] then
    local sv, su = tonumber(cur[1]), tonumber(cur[2])
    if op.v < sv or (op.v == sv and op.u < su) then
      return {id = op.id, outcome = 'stale', state = state}
    end
    if op.v == sv and op.u == su then
      -- A version stored as expired (the window, or MAX_ITEMS) is judged again, as ingest
      -- answers: it comes back once the window would show it (a wider LIVEFEED_WINDOW_DAYS,
      -- or room under MAX_ITEMS); until then it stays as it is, with no history or event.
      if state ~= 'expired' then return {id = op.id, outcome = 'unchanged', state = state} end
      if MIN_MS and op.pub < MIN_MS then return {id = op.id, outcome = 'expired'} end
      redis.call('ZADD', TIMELINE, int(op.pub), op.id)
      local beyond = beyond_max(op.id)
      redis.call('ZREM', TIMELINE, op.id)
      if beyond then return {id = op.id, outcome = 'unchanged', state = state} end
    end
  end
  -- A PATCH merged onto a record that has changed since (a newer write, a retraction, the
  -- window) would put back what that change replaced: it changes nothing.
  if op.bv and (not shown or tonumber(cur[1]) ~= op.bv or tonumber(cur[2]) ~= op.bu) then
    return {id = op.id, outcome = 'stale', state = state,
      reason = 'the article changed after the patch was read: patch it again'}
  end
  if op.ifrev and tonumber(cur[11] or 0) ~= op.ifrev then
    local by, at = last_change(op.id)
    return conflict(op.id, cur[11], by, at, cur[8] and cjson.decode(cur[8]).title or nil)
  end
  -- A retraction without a version wins over every write accepted before it, whichever
  -- worker happens to apply them first.
  local at = tonumber(op.at) or 0
  if state == 'retracted' and cur[6] and at > 0 and at < tonumber(cur[6]) then
    return {id = op.id, outcome = 'stale', state = state}
  end
  redis.call('HINCRBY', key, 'rev', 1)  -- the version If-Match names
  local old_section, old_labels, old_lang = cur[4] or '', cur[5] or '', lang_of(cur[10])
  -- When it was pinned (ms), if it is; a pin moves with the article to a new section.
  local was_pinned = nil
  if state == 'live' then
    was_pinned = redis.call('ZSCORE', pin_key(old_section), op.id)
  end
  local pin_ms = was_pinned and tonumber(was_pinned) or nil
  if op.pin == false then pin_ms = nil end
  if op.pin == true and not pin_ms then pin_ms = NOW end
  if pin_ms and old_section ~= op.section then pin_ms = NOW end
  if state == 'live' then unindex(op.id, old_section, old_labels, old_lang) end
  if state == 'embargoed' then redis.call('ZREM', EMBARGO, op.id) end

  local function expire()
    -- Older than the rolling window, or beyond MAX_ITEMS: it would fall off at once, so it is
    -- neither shown nor published; its rank is remembered.
    redis.call('HSET', key, 'v', int(op.v), 'u', int(op.u), 'pub', int(op.pub),
      'section', op.section, 'labels', op.labels, 'lang', lang_of(op.lang))
    redis.call('HDEL', key, 'rat', 'tscope')
    keep_record(key, 'expired')
    record(op.id, 'expired', op, {}, nil)
    if state == 'live' then
      changed()
      return announce({id = op.id, outcome = 'expired'}, 'retracted', op.id, old_section,
        old_labels, old_lang, retraction_headline(op.id), op.rid)
    end
    return {id = op.id, outcome = 'expired'}
  end

  if MIN_MS and op.pub < MIN_MS then return expire() end

  local embargoed = op.embargo > NOW
  local corr = corrections(state ~= 'retracted' and state ~= 'expired' and cur[7] or nil,
    op.corr)
  local pinned = pin_ms ~= nil and not embargoed
  local doc = with_extras(op.doc, corr, pinned)
  local note = nil
  if op.corr and op.corr ~= '' then note = op.corr end
  redis.call('HSET', key, 'doc', doc, 'corr', corr, 'v', int(op.v), 'u', int(op.u),
    'pub', int(op.pub), 'section', op.section, 'labels', op.labels, 'embargo', int(op.embargo),
    'lang', lang_of(op.lang),
    'state', embargoed and 'embargoed' or 'live')
  redis.call('HDEL', key, 'rat', 'tscope')
  redis.call('PERSIST', key)
  if embargoed then
    redis.call('ZADD', EMBARGO, int(op.embargo), op.id)
    record(op.id, 'embargoed', op, changed_fields(shown and cur[8] or nil, doc), note)
    if state == 'live' then
      -- An embargo added to a live article takes it off every reader's page.
      return announce({id = op.id, outcome = 'embargoed'}, 'retracted', op.id, old_section,
        old_labels, old_lang, retraction_headline(op.id), op.rid)
    end
    return {id = op.id, outcome = 'embargoed'}
  end
  index(op.id, op.pub, op.section, op.labels, op.lang)
  if beyond_max(op.id) then
    unindex(op.id, op.section, op.labels, op.lang)
    return expire()
  end
  local pin = nil  -- what this change does to the pin, said on its frame
  if pinned and not was_pinned then pin = 'pinned' end
  if was_pinned and not pinned then pin = 'unpinned' end
  local fields = changed_fields(shown and cur[8] or nil, doc)
  if pin then fields[#fields + 1] = 'pinned' end
  local action = note and 'corrected' or (state == 'live' and 'updated' or 'published')
  record(op.id, action, op, fields, note)
  local result
  if state == 'live' then
    if note then
      result = announce({id = op.id, outcome = 'corrected'}, 'corrected', op.id, op.section,
        op.labels, op.lang, doc, op.rid, old_section, old_labels, old_lang, note, pin)
    else
      result = announce({id = op.id, outcome = 'updated'}, 'updated', op.id, op.section,
        op.labels, op.lang, doc, op.rid, old_section, old_labels, old_lang, nil, pin)
    end
  else
    result = announce({id = op.id, outcome = 'published'}, 'published', op.id, op.section,
      op.labels, op.lang, doc, op.rid, nil, nil, nil, nil, pin)
  end
  if pinned then
    redis.call('ZADD', pin_key(op.section), int(pin_ms), op.id)
    redis.call('ZADD', PINNED_ALL, int(pin_ms), op.id)
    result.pinned = true
    local dropped = enforce_pins(op.section, op.id, op)
    if #dropped > 0 then result.unpinned = dropped end
  end
  return result
end

local function retract(op)
  local key = APREFIX .. op.id
  local cur = redis.call('HMGET', key, 'state', 'section', 'labels', 'v', 'u', 'tscope', 'rat',
    'lang')
  local state = cur[1]
  if op.scope and (state or cur[4] or cur[7]) then
    local where = refusal(op.scope, cur[2], cur[6])
    if where then return out_of_scope(op, where) end
  end
  -- A versioned retraction (a canceled ninjs item: op.v/op.u) older than the stored copy changes
  -- nothing; otherwise its rank stays on the tombstone, so a delayed older copy cannot return.
  if op.v and cur[4] then
    local sv, su = tonumber(cur[4]), tonumber(cur[5])
    if op.v < sv or (op.v == sv and op.u < su) then return {id = op.id, outcome = 'stale'} end
  end
  -- Whether this retraction changes the record (a re-run of its job does not): if it does, the
  -- change is in the history, tombstones included.
  local changes = false
  if op.v then
    changes = not cur[4] or tonumber(cur[4]) ~= op.v or tonumber(cur[5]) ~= op.u
    redis.call('HSET', key, 'v', int(op.v), 'u', int(op.u))
  end
  local at = tonumber(op.at) or 0
  if not op.v and at > 0 then
    -- When it was accepted: writes accepted before it cannot bring the article back.
    changes = changes or tonumber(cur[7] or 0) ~= at
    redis.call('HSET', key, 'rat', int(at))
    redis.call('EXPIRE', key, TOMB_TTL)
  end
  if not state or state == 'retracted' or state == 'expired' then
    if (op.v or at > 0) and state ~= 'expired' then
      changes = changes or state ~= 'retracted'
      redis.call('HSET', key, 'state', 'retracted')
      redis.call('EXPIRE', key, TOMB_TTL)
    end
    if changes then
      if not cur[2] then
        -- No article behind it: the tombstone holds in the sections of the token that wrote
        -- it (a scoped token may extend its own; refusal() kept it off anyone else's), or in
        -- every section.
        if op.scope then
          redis.call('HSET', key, 'tscope', table.concat(op.scope, ','))
        else
          redis.call('HDEL', key, 'tscope')
        end
      end
      record(op.id, 'retracted', op, {}, nil)
    end
    return {id = op.id, outcome = 'not_found'}
  end
  if state == 'live' then unindex(op.id, cur[2], cur[3], cur[8]) end
  if state == 'embargoed' then redis.call('ZREM', EMBARGO, op.id) end
  redis.call('HINCRBY', key, 'rev', 1)
  record(op.id, 'retracted', op, {}, nil)
  -- Keep a tombstone (the version only) so that an older copy cannot bring it back.
  keep_record(key, 'retracted')
  if state == 'live' then
    return announce({id = op.id, outcome = 'retracted'}, 'retracted', op.id, cur[2] or '',
      cur[3] or '', cur[8], retraction_headline(op.id), op.rid)
  end
  return {id = op.id, outcome = 'retracted'}
end

-- Drafts (issue 25). A draft lives in its own hash (DPREFIX .. id), indexed in DRAFTS, next to
-- whatever article record the id has, which it never touches: it is not on the timeline, in
-- an index or the event log. Each change of one appends one record to the desk's stream and
-- one entry to the article's history, in this same call.
local function desk_event(kind, id, by)
  redis.call('XADD', DESK, 'MAXLEN', '~', DESK_MAXLEN, '*', 'data', '{"type":' .. cjson.encode(kind)
    .. ',"id":' .. cjson.encode(id) .. ',"by":' .. cjson.encode(by or '') .. ',"at":' .. int(NOW)
    .. '}')
end

local function role_refusal(op, what)
  return {id = op.id, outcome = 'rejected',
    reason = 'role: forbidden: the contributor ' .. tostring(op.by) .. ' may not ' .. what}
end

-- Save a draft: op is an upsert op with ``draft`` and ``fields`` (the article as posted, JSON).
local function save_draft(op)
  local dkey = DPREFIX .. op.id
  local a = redis.call('HMGET', APREFIX .. op.id, 'state', 'section', 'tscope', 'v', 'rat',
    'rev', 'doc')
  local d = redis.call('HMGET', dkey, 'rev', 'section', 'author', 'by', 'at', 'title', 'doc')
  if op.scope then
    if a[1] or a[4] or a[5] then
      local where = refusal(op.scope, a[2], a[3])
      if where then return out_of_scope(op, where) end
    end
    for _, s in ipairs({d[1] and d[2] or op.section, op.section}) do
      if not in_scope(op.scope, s) then
        return out_of_scope(op, s ~= '' and 'section ' .. s or 'an article without a section')
      end
    end
  end
  if op.role == 'contributor' and a[1] then
    return role_refusal(op, 'change an article that is ' .. a[1] .. ' (drafts only)')
  end
  -- If-Match names the draft's version; with no draft yet, the article's (an editor drafting a
  -- change to a live item starts from the article).
  if op.ifrev and d[1] and tonumber(d[1]) ~= op.ifrev then
    return conflict(op.id, d[1], d[4], d[5], d[6])
  end
  if op.ifrev and not d[1] and tonumber(a[6] or 0) ~= op.ifrev then
    local by, at = last_change(op.id)
    return conflict(op.id, a[6], by, at, a[7] and cjson.decode(a[7]).title or nil)
  end
  local rev = redis.call('HINCRBY', dkey, 'rev', 1)
  redis.call('HSET', dkey, 'fields', op.fields, 'doc', op.doc, 'section', op.section,
    'title', cjson.decode(op.doc).title, 'by', op.by or '', 'at', int(NOW))
  if not d[3] then redis.call('HSET', dkey, 'author', op.by or '') end
  redis.call('HDEL', dkey, 'returned')  -- a new version answers the editor's note
  redis.call('ZADD', DRAFTS, int(NOW), op.id)
  record(op.id, 'drafted', op, changed_fields(d[7], op.doc), nil)
  desk_event('draft', op.id, op.by)
  return {id = op.id, outcome = 'draft', version = rev}
end

-- The stored draft's guard for a publish or a return: nil when ``op.publish``/``op.dv`` (the
-- version reviewed) is the draft's version, else the outcome to answer.
local function draft_guard(op, reviewed)
  local d = redis.call('HMGET', DPREFIX .. op.id, 'rev', 'section', 'by', 'at', 'title')
  if not d[1] then return {id = op.id, outcome = 'not_found', reason = 'no draft with this id'} end
  if op.scope and not in_scope(op.scope, d[2]) then
    return out_of_scope(op, d[2] ~= '' and 'section ' .. d[2] or 'an article without a section')
  end
  if reviewed and tonumber(d[1]) ~= reviewed then return conflict(op.id, d[1], d[3], d[4], d[5]) end
  return nil
end

-- Publish: op is the draft's article as an ordinary upsert (ingest read the draft at version
-- ``op.publish``); applied only while the draft is still at that version, and then the draft
-- is gone. A re-run finds no draft: ``not_found``, nothing changes.
local function publish(op)
  local refused = draft_guard(op, op.publish)
  if refused then return refused end
  local result = upsert(op)
  local o = result.outcome
  if o == 'published' or o == 'updated' or o == 'corrected' or o == 'embargoed' then
    redis.call('DEL', DPREFIX .. op.id)
    redis.call('ZREM', DRAFTS, op.id)
    desk_event('published', op.id, op.by)
  end
  return result
end

-- Return a draft to its author with a note (op.note): it stays a draft, ``returned`` set.
local function return_draft(op)
  local refused = draft_guard(op, op.ifrev)  -- the version the editor reviewed
  if refused then return refused end
  local note = '{"note":' .. cjson.encode(op.note) .. ',"by":' .. cjson.encode(op.by or '')
    .. ',"at":' .. int(NOW) .. '}'
  redis.call('HSET', DPREFIX .. op.id, 'returned', note)
  record(op.id, 'returned', {by = op.by, rid = op.rid, reason = op.note}, {}, nil)
  desk_event('returned', op.id, op.by)
  return {id = op.id, outcome = 'returned'}
end

-- A retraction of an id discards its draft, if it has one; with no article record either,
-- that is all it does (no tombstone: the id stays free).
local function discard_draft(op)
  if redis.call('DEL', DPREFIX .. op.id) == 0 then return false end
  redis.call('ZREM', DRAFTS, op.id)
  record(op.id, 'discarded', op, {}, nil)
  desk_event('discarded', op.id, op.by)
  return true
end

local function retract_or_discard(op)
  local a = redis.call('HMGET', APREFIX .. op.id, 'state', 'section', 'tscope', 'v', 'rat')
  local has_record = a[1] or a[4] or a[5]
  if op.scope and has_record then
    local where = refusal(op.scope, a[2], a[3])
    if where then return out_of_scope(op, where) end
  end
  if op.scope then
    local ds = redis.call('HGET', DPREFIX .. op.id, 'section')
    if ds and not in_scope(op.scope, ds) then
      return out_of_scope(op, ds ~= '' and 'section ' .. ds or 'an article without a section')
    end
  end
  -- A versioned retraction older than the stored copy changes nothing (retract() answers
  -- ``stale``): the draft stays too.
  if op.v and a[4] then
    local sv, su = tonumber(a[4]), tonumber(redis.call('HGET', APREFIX .. op.id, 'u'))
    if op.v < sv or (op.v == sv and op.u < su) then return {id = op.id, outcome = 'stale'} end
  end
  local discarded = discard_draft(op)
  if discarded and not has_record then return {id = op.id, outcome = 'discarded'} end
  local result = retract(op)
  if discarded then result.draft = 'discarded' end
  return result
end

-- Embargoed articles whose time has come go live, pushed as published; one that the window
-- or MAX_ITEMS would drop at once is not published.
local function release_due()
  local due = redis.call('ZRANGEBYSCORE', EMBARGO, '-inf', NOW, 'LIMIT', 0, 500)
  for _, id in ipairs(due) do
    redis.call('ZREM', EMBARGO, id)
    local key = APREFIX .. id
    local cur = redis.call('HMGET', key, 'state', 'pub', 'section', 'labels', 'doc', 'lang')
    if cur[1] == 'embargoed' then
      local pub = tonumber(cur[2])
      if MIN_MS and pub < MIN_MS then
        keep_record(key, 'expired')
        results[#results + 1] = {id = id, outcome = 'expired'}
      else
        index(id, pub, cur[3], cur[4], cur[6])
        if beyond_max(id) then
          unindex(id, cur[3], cur[4], cur[6])
          keep_record(key, 'expired')
          results[#results + 1] = {id = id, outcome = 'expired'}
        else
          redis.call('HSET', key, 'state', 'live')
          record(id, 'released', {}, {}, nil)
          results[#results + 1] = announce({id = id, outcome = 'published'}, 'published', id,
            cur[3], cur[4], cur[6], cur[5], '')
        end
      end
    end
  end
end

-- Articles stored before editions existed have no ``lang``: the first release tick (the
-- embargo clock, twice a second) files each live one under LIVEFEED_LANGUAGE's edition, once.
local function index_editions()
  if redis.call('EXISTS', EDITIONS_INDEXED) == 1 then return end
  local ids = redis.call('ZRANGE', TIMELINE, 0, -1, 'WITHSCORES')
  local filed = false
  for i = 1, #ids, 2 do
    local key = APREFIX .. ids[i]
    if not redis.call('HGET', key, 'lang') then
      redis.call('HSET', key, 'lang', DEFAULT_LANG)
      redis.call('ZADD', GPREFIX .. DEFAULT_LANG, ids[i + 1], ids[i])
      filed = true
    end
  end
  -- The edition views rendered before this showed none of them: they are stale now.
  if filed then changed() end
  redis.call('SET', EDITIONS_INDEXED, '1')
end

-- Trimmed off the window: not shown any more (no event: readers' pages roll by themselves),
-- but feeds' Last-Modified moves and the rank is remembered against older copies.
local function remove_item(id)
  local key = APREFIX .. id
  local cur = redis.call('HMGET', key, 'section', 'labels', 'lang')
  unindex(id, cur[1], cur[2], cur[3])
  keep_record(key, 'expired')
  trimmed[id] = true
  changed()
end

for _, op in ipairs(ops) do
  AT = (tonumber(op.at) or 0) > 0 and int(op.at) or ''
  if op.role == 'contributor' and not (op.op == 'upsert' and op.draft) then
    results[#results + 1] = role_refusal(op, 'publish, retract or return (drafts only)')
  elseif op.op == 'upsert' and op.draft then results[#results + 1] = save_draft(op)
  elseif op.op == 'upsert' and op.publish then results[#results + 1] = publish(op)
  elseif op.op == 'upsert' then results[#results + 1] = upsert(op)
  elseif op.op == 'retract' then results[#results + 1] = retract_or_discard(op)
  elseif op.op == 'return' then results[#results + 1] = return_draft(op)
  elseif op.op == 'release' then index_editions(); release_due()
  else return redis.error_reply('unknown operation ' .. tostring(op.op)) end
end

-- The rolling window: age first, then count. Bounded per call so a script never runs long.
if MIN_MS then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', TIMELINE, '-inf', '(' .. int(MIN_MS), 'LIMIT', 0, 1000)) do
    remove_item(id)
  end
end
local excess = redis.call('ZCARD', TIMELINE) - MAX_ITEMS
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', TIMELINE, 0, math.min(excess, 1000) - 1)) do
    remove_item(id)
  end
end

flush()

if #results == 0 then return '[]' end
return cjson.encode(results)
