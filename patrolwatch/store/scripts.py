"""The Lua the ingest's batch write runs in Redis: one call per hash slot, batch in one argument.

Each script takes its part of the batch as one JSON argument (decoded by Redis's cjson), so
a batch of 500 messages costs a handful of commands instead of thousands, and everything a
rule needs to read and write about one unit happens atomically next to the data. Scripts
only touch keys of one hash slot (their KEYS), so the same code runs on Redis Cluster.
Numbers whose exact value matters (times) travel as strings and are stored as sent:
Lua's own number formatting keeps only 14 digits.
"""

from __future__ import annotations

# Live state ({live} slot). KEYS: pos, pos_ts, geo, status, status_ts, seen, lwt, duty.
# ARGV[1]: {"s": [[unit, ts, eff, arrival, emergency 0/1, status, json]],
#           "p": [[unit, ts, eff, arrival, json, lon, lat, acc, trail key index?]],
#           "seen": [[unit, eff]], "l": [[unit, ts]], "kept": N, "t"?: trims, "maxlen"?}
# On a single Redis, KEYS go on with the feed and the batch's trail keys (see below).
# Statuses first: a position in the same batch as its unit's OFF_DUTY is judged with it.
# The *_ts hashes hold "effective,arrival,emergency,ts" stamps (core.ordering.Stamp).
# Returns {moved, off-duty flag per position, lwt-applied flag per last-will,
#          [unit, from, to] trail ranges to delete (late OFF_DUTY), stored flag per point}.
LIVE = r"""
local b = cjson.decode(ARGV[1])
local kept = tonumber(b.kept)
local duty = {}
local function timeline(unit)
  local t = duty[unit]
  if t then return t end
  t = {}
  local raw = redis.call('HGET', KEYS[8], unit)
  if raw then
    for ts, st in string.gmatch(raw, '([^|;]+)|([^;]+)') do
      t[#t + 1] = {tonumber(ts), st, ts}
    end
  end
  duty[unit] = t
  return t
end
local function status_at(t, ts)
  local found = nil
  for i = 1, #t do
    if t[i][1] <= ts then found = t[i][2] else break end
  end
  return found
end
local function stamp(raw)
  if not raw then return nil end
  local e, a, em, ts = string.match(raw, '^([^,]+),([^,]+),([01]),(.+)$')
  if not e then  -- a bare event time, as stored before stamps: it arrived at that time
    local v = tonumber(raw)
    return {v, v, false, v}
  end
  return {tonumber(e), tonumber(a), em == '1', tonumber(ts)}
end
local function takes_effect(cur, e, a, em)
  if (not cur) or em then return true end
  if cur[3] then return a > cur[2] end
  return e > cur[1] or (e == cur[1] and a > cur[2])
end
local seen_str = {}
local function see_str(unit, e_str)
  local e = tonumber(e_str)
  if (not seen_str[unit]) or e > tonumber(seen_str[unit]) then seen_str[unit] = e_str end
end
local deletions = {}
local dirty = {}
for _, s in ipairs(b.s or {}) do
  local unit, ts_s, e_s, a_s, em, st, value = s[1], s[2], s[3], s[4], s[5] == 1, s[6], s[7]
  local ts = tonumber(ts_s)
  local t = timeline(unit)
  local at = #t + 1
  local dup = false
  for i = 1, #t do
    if t[i][1] == ts and t[i][2] == st then dup = true; break end
    if t[i][1] > ts then at = i; break end
  end
  if not dup then
    table.insert(t, at, {ts, st, ts_s})
    dirty[unit] = true
  end
  if st == 'OFF_DUTY' then
    local stop = '+inf'
    for i = 1, #t do
      if t[i][1] > ts then stop = '(' .. t[i][3]; break end
    end
    deletions[#deletions + 1] = {unit, ts_s, stop}
    local p = stamp(redis.call('HGET', KEYS[2], unit))
    if p and p[4] and p[4] >= ts and (stop == '+inf' or p[4] < tonumber(string.sub(stop, 2))) then
      redis.call('HDEL', KEYS[1], unit)
      redis.call('HDEL', KEYS[2], unit)
      redis.call('ZREM', KEYS[3], unit)
    end
  end
  local cur = stamp(redis.call('HGET', KEYS[5], unit))
  if takes_effect(cur, tonumber(e_s), tonumber(a_s), em) then
    redis.call('HSET', KEYS[4], unit, value)
    local flag = em and '1' or '0'
    redis.call('HSET', KEYS[5], unit, e_s .. ',' .. a_s .. ',' .. flag .. ',' .. ts_s)
  end
  see_str(unit, e_s)
end
for unit, _ in pairs(dirty) do
  local t = duty[unit]
  local first = math.max(1, #t - kept + 1)
  local parts = {}
  for i = first, #t do parts[#parts + 1] = t[i][3] .. '|' .. t[i][2] end
  redis.call('HSET', KEYS[8], unit, table.concat(parts, ';'))
end
local moved = 0
local off = {}
for i, p in ipairs(b.p or {}) do
  local unit, ts_s, e_s, a_s = p[1], p[2], p[3], p[4]
  local ts = tonumber(ts_s)
  local t = timeline(unit)
  if #t > 0 and status_at(t, ts) == 'OFF_DUTY' then
    off[i] = '1'
  else
    off[i] = '0'
    local cur = stamp(redis.call('HGET', KEYS[2], unit))
    if takes_effect(cur, tonumber(e_s), tonumber(a_s), false) then
      redis.call('HSET', KEYS[1], unit, p[5])
      redis.call('HSET', KEYS[2], unit, e_s .. ',' .. a_s .. ',0,' .. ts_s)
      redis.call('GEOADD', KEYS[3], p[6], p[7], unit)
      moved = moved + 1
    end
    see_str(unit, e_s)
  end
end
for _, s in ipairs(b.seen or {}) do see_str(s[1], s[2]) end
for unit, e_s in pairs(seen_str) do
  redis.call('ZADD', KEYS[6], 'GT', e_s, unit)
end
local lwt = {}
for i, l in ipairs(b.l or {}) do
  local last = redis.call('ZSCORE', KEYS[6], l[1])
  if (not last) or tonumber(l[2]) > tonumber(last) then
    redis.call('HSET', KEYS[7], l[1], l[2])
    lwt[i] = '1'
  else
    lwt[i] = '0'
  end
end
-- On a single Redis (b.t present) the trail points and their feed entries go in this call:
-- KEYS[9] is the feed, p[9] the index of the unit's trail key; b.t the trims.
local trail_flags = {}
if b.t then
  for i, p in ipairs(b.p or {}) do
    if off[i] == '0' then
      local member = p[2] .. ',' .. p[7] .. ',' .. p[6] .. ',' .. p[8]
      trail_flags[#trail_flags + 1] = tostring(redis.call('ZADD', KEYS[p[9]], p[2], member))
      redis.call('XADD', KEYS[9], 'MAXLEN', '~', b.maxlen, '*', 'k', 'p', 'u', p[1],
                 't', p[2], 'la', p[7], 'lo', p[6], 'a', p[8])
    end
  end
  for _, t in ipairs(b.t) do
    redis.call('ZREMRANGEBYSCORE', KEYS[t[1]], '-inf', t[2])
    redis.call('EXPIRE', KEYS[t[1]], t[3])
  end
end
-- Counted in this call too (b.ci: the stats hash), so a worker killed after it has counted
-- exactly what it stored, and the broker's re-delivery then counts as duplicates only.
if b.ci then
  local new = 0
  for _, f in ipairs(trail_flags) do
    if f == '1' then new = new + 1 end
  end
  local accepted = b.others + new
  if accepted > 0 then
    redis.call('HINCRBY', KEYS[b.ci], 'accepted_total', accepted)
    redis.call('HSET', KEYS[b.ci], 'last_message_ts', b.now)
  end
  if #trail_flags > new then
    redis.call('HINCRBY', KEYS[b.ci], 'duplicates_total', #trail_flags - new)
  end
end
local dels = {}
for _, d in ipairs(deletions) do
  dels[#dels + 1] = d[1]; dels[#dels + 1] = d[2]; dels[#dels + 1] = d[3]
end
return {moved, table.concat(off), table.concat(lwt), dels, table.concat(trail_flags)}
"""

# Trail points of the units in one hash slot. KEYS: their trail keys.
# ARGV[1]: [[key index, score, member]]; ARGV[2]: [[key index, cutoff, ttl]] trims.
# Returns one flag per point: "1" stored, "0" already there (a re-delivery).
TRAILS = r"""
local flags = {}
for i, p in ipairs(cjson.decode(ARGV[1])) do
  flags[i] = tostring(redis.call('ZADD', KEYS[p[1]], p[2], p[3]))
end
for _, t in ipairs(cjson.decode(ARGV[2])) do
  redis.call('ZREMRANGEBYSCORE', KEYS[t[1]], '-inf', t[2])
  redis.call('EXPIRE', KEYS[t[1]], t[3])
end
return table.concat(flags)
"""

# The coverage evaluator's change feed. KEYS: feed; ARGV[1]: maxlen; ARGV[2]: [[f, v, ...]].
FEED = r"""
local n = 0
for _, fields in ipairs(cjson.decode(ARGV[2])) do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
  n = n + 1
end
return n
"""

# Emergency alarms ({task} slot). KEYS: alarms hash, open zset, unit open-count hash.
# ARGV[1]: [[id, unit, arrival, json]]; ARGV[2]: most open alarms one unit may hold.
# A new id opens an alarm; a known one (the same message again) changes nothing, so an
# acknowledged alarm is never re-opened by a re-delivery. Past the per-unit cap, a unit's
# further EMERGENCYs count as repeats on its newest open alarm, so a flood cannot bury the
# others. Returns the number of alarms opened.
ALARMS = r"""
local opened = 0
local cap = tonumber(ARGV[2])
for _, a in ipairs(cjson.decode(ARGV[1])) do
  if redis.call('HEXISTS', KEYS[1], a[1]) == 0 then
    local n = tonumber(redis.call('HGET', KEYS[3], a[2]) or '0')
    if n < cap then
      redis.call('HSET', KEYS[1], a[1], a[4])
      redis.call('ZADD', KEYS[2], a[3], a[1])
      redis.call('HINCRBY', KEYS[3], a[2], 1)
      opened = opened + 1
    else
      local newest = nil
      for _, id in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, -1)) do
        local raw = redis.call('HGET', KEYS[1], id)
        if raw and cjson.decode(raw).unit == a[2] then newest = id; break end
      end
      if newest then
        local alarm = cjson.decode(redis.call('HGET', KEYS[1], newest))
        alarm.repeats = (alarm.repeats or 0) + 1
        alarm.last_arrival = tonumber(a[3])
        redis.call('HSET', KEYS[1], newest, cjson.encode(alarm))
      end
    end
  end
end
return opened
"""

# Acknowledge one open alarm ({task} slot). KEYS: alarms, open, unit open-count.
# ARGV: id, ack JSON fields (by, at). Returns the alarm JSON, or false if not open.
ACK_ALARM = r"""
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return false end
local alarm = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]))
alarm.acked_by = ARGV[2]
alarm.acked_at = tonumber(ARGV[3])
local raw = cjson.encode(alarm)
redis.call('HSET', KEYS[1], ARGV[1], raw)
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[3], alarm.unit, -1) <= 0 then
  redis.call('HDEL', KEYS[3], alarm.unit)
end
return raw
"""
