"""Lua for alarms beyond the emergency button and welfare check-ins (all in the {task} slot).

Each script is one atomic step, so two ingest workers (or a worker and its restart) doing the
same step find the same answer: a cause is raised once, a check-in answered once.
"""

from __future__ import annotations

# Raise one alarm for one cause. KEYS: alarms, open, unit open-count, latch.
# ARGV: id, unit, kind, now, record JSON, most open alarms per unit, fold window (s).
# Returns 1 raised, 2 folded into the unit's alarm of that kind, 0 nothing (a cause already
# handled, or the unit at its cap). A new cause of a kind whose last alarm is still open, or
# was cleared (not acknowledged) within the fold window, folds into that alarm (count +1,
# re-opened if cleared): a unit crossing a threshold back and forth raises one alarm.
RAISE = r"""
local id, unit, kind, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HEXISTS', KEYS[1], id) == 1 then return 0 end
local lk = unit .. '|' .. kind
local latch = redis.call('HGET', KEYS[4], lk)
if latch then
  latch = cjson.decode(latch)
  if latch.cause == id then return 0 end
  local raw = redis.call('HGET', KEYS[1], latch.alarm)
  if raw then
    local a = cjson.decode(raw)
    local open = redis.call('ZSCORE', KEYS[2], latch.alarm)
    local cleared = a.closed_at and not a.acked_by and now - a.closed_at < tonumber(ARGV[7])
    if open or cleared then
      a.repeats = (a.repeats or 0) + 1
      a.last_arrival = now
      if not open then
        a.closed_at = nil
        redis.call('ZADD', KEYS[2], a.arrival, latch.alarm)
        redis.call('HINCRBY', KEYS[3], unit, 1)
      end
      redis.call('HSET', KEYS[1], latch.alarm, cjson.encode(a))
      redis.call('HSET', KEYS[4], lk, cjson.encode({alarm = latch.alarm, cause = id}))
      return 2
    end
  end
end
if tonumber(redis.call('HGET', KEYS[3], unit) or '0') >= tonumber(ARGV[6]) then return 0 end
redis.call('HSET', KEYS[1], id, ARGV[5])
redis.call('ZADD', KEYS[2], now, id)
redis.call('HINCRBY', KEYS[3], unit, 1)
redis.call('HSET', KEYS[4], lk, cjson.encode({alarm = id, cause = id}))
return 1
"""

# Clear an open alarm its unit itself ended (lost contact: a message came). KEYS: alarms,
# open, unit open-count. ARGV: id, now. Returns the record JSON, or false if not open.
CLOSE = r"""
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return false end
local a = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]))
a.closed_at = tonumber(ARGV[2])
local raw = cjson.encode(a)
redis.call('HSET', KEYS[1], ARGV[1], raw)
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[3], a.unit, -1) <= 0 then redis.call('HDEL', KEYS[3], a.unit) end
return raw
"""

# Mark alarms escalated, once each. KEYS: alarms, open. ARGV: now, then ids.
# Returns the records marked now (JSON); one already escalated or no longer open is skipped.
ESCALATE = r"""
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[2], id) then
    local a = cjson.decode(redis.call('HGET', KEYS[1], id))
    if not a.escalated_at then
      a.escalated_at = tonumber(ARGV[1])
      local raw = cjson.encode(a)
      redis.call('HSET', KEYS[1], id, raw)
      table.insert(out, raw)
    end
  end
end
return out
"""

# Answer or miss an open check-in, once. KEYS: check-ins, open, last-answer.
# ARGV: id, unit ('' for any), new state (OK, HELP, MISSED), answered at, quiet spell restart.
# Returns the record JSON, or false if it is not open (or another unit's).
CHECKIN_END = r"""
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return false end
local c = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]))
if ARGV[2] ~= '' and c.unit ~= ARGV[2] then return false end
c.state = ARGV[3]
c.answered_at = tonumber(ARGV[4])
local raw = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], raw)
redis.call('ZREM', KEYS[2], ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[3], c.unit) or '0')
if tonumber(ARGV[5]) > last then redis.call('HSET', KEYS[3], c.unit, ARGV[5]) end
return raw
"""
