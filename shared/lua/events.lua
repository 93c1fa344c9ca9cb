-- Appending to the event log, the one way every script does it (prepended to apply.lua and
-- summary.lua when they are loaded: services/feed/store.py, shared/summary.py).

-- Append one event (``fields``: name, value, ...) to the stream ``events`` kept at ``maxlen``
-- entries; remember in ``horizon`` the newest id that trimming drops, so that a subscriber
-- asking to resume from before it is told to reset instead of silently missing events.
-- Every entry also carries ``ts``: Redis's clock at the append, in seconds to the microsecond
-- (push times its wake-up from it: shared.metrics.STAGES).
-- Returns the new entry's id.
local function append_event(events, horizon, maxlen, fields)
  local overflow = redis.call('XLEN', events) + 1 - maxlen
  if overflow > 0 then
    local dropped = redis.call('XRANGE', events, '-', '+', 'COUNT', overflow)
    if #dropped > 0 then redis.call('SET', horizon, dropped[#dropped][1]) end
  end
  local args = {'XADD', events, 'MAXLEN', maxlen, '*'}
  for _, v in ipairs(fields) do args[#args + 1] = v end
  local now = redis.call('TIME')
  args[#args + 1] = 'ts'
  args[#args + 1] = now[1] .. '.' .. string.format('%06d', tonumber(now[2]))
  return redis.call(unpack(args))
end

