"""The Lua the ingest's batch write runs in Redis: one call per hash slot, batch in one argument.

Each script takes its part of the batch as one JSON argument (decoded by Redis's cjson), so
a batch of 500 messages costs a handful of commands instead of thousands, and everything a
rule needs to read and write about one unit happens atomically next to the data. Scripts
only touch keys of one hash slot (their KEYS), so the same code runs on Redis Cluster.
Numbers whose exact value matters (times) travel as strings and are stored as sent:
Lua's own number formatting keeps only 14 digits.
"""

from __future__ import annotations

# A new status's row in its unit's status log (keys.k_status_log) and its note
# (keys.k_status_notes, same hash tag), then the log's retention trim: one Lua function
# that LIVE (single Redis) and STATUS_LOG (Cluster) both run. The note is set only when
# the ZADD added the row, so a re-delivery (same ts and status, another note) changes
# nothing; the rows the trim removes take their notes with them. Only statuses with a note
# make a field.
_LOG_STATUS = r"""
local function log_status(log, notes, ts_s, member, note, cut_s, ttl)
  if redis.call('ZADD', log, ts_s, member) == 1 and note ~= '' then
    redis.call('HSET', notes, member, note)
    redis.call('EXPIRE', notes, ttl)
  end
  if redis.call('EXISTS', notes) == 1 then
    local old = redis.call('ZRANGEBYSCORE', log, '-inf', cut_s)
    for i = 1, #old, 1000 do  -- unpack takes a few thousand values at most
      redis.call('HDEL', notes, unpack(old, i, math.min(i + 999, #old)))
    end
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', cut_s)
end
"""

# Live state ({live} slot). KEYS: pos, pos_ts, geo, status, status_ts, seen, lwt, alarm
# outbox, then per unit (b.u[unit] = i): its timeline KEYS[i], identities KEYS[i+1] and
# EMERGENCY runs KEYS[i+2] (core.timeline; keys.k_timeline and neighbours).
# ARGV[1]: {"s": [[unit, ts, eff, arrival, emergency 0/1, status, json, arrival µs padded,
#                  alarm id?, alarm json?]],
#           "p": [[unit, ts, eff, arrival, json, lon, lat, acc, extras, trail key index?,
#                  extras key index?]],
#           "seen": [[unit, eff]], "l": [[unit, ts]], "u": {unit: i}, "cut": cutoff,
#           "ttl": seconds, "t"?: trims, "maxlen"?}
# On a single Redis, KEYS go on with the feed and the batch's trail keys (see below).
# Statuses first: a position in the same batch as its unit's OFF_DUTY is judged with it.
# Timeline members are "arrival µs (17 digits)|ts|STATUS" scored by their place ``at``, so
# equal places sort by arrival. The *_ts hashes hold "at,arrival,emergency,ts" stamps.
# Returns {moved, off-duty flag per position, lwt-applied flag per last-will,
#          [unit, from, to] trail ranges to delete (late OFF_DUTY), stored flag per point,
#          flag per status ("1" new, "r" EMERGENCY repeat, "0" seen), alarm outbox rows}.
LIVE = _LOG_STATUS + r"""
local b = cjson.decode(ARGV[1])
local cut = tonumber(b.cut)
local function entry(m, score)
  local a, ts, st = string.match(m, '^(%d+)|([^|]+)|(.+)$')
  return {tonumber(score), a, ts, st, m}
end
local function last_entry(k)
  local r = redis.call('ZREVRANGE', k, 0, 0, 'WITHSCORES')
  if #r == 0 then return nil end
  return entry(r[1], r[2])
end
local function entry_at(k, t)
  local r = redis.call('ZREVRANGEBYSCORE', k, t, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #r == 0 then return nil end
  return entry(r[1], r[2])
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
-- An EMERGENCY of a time inside a run of presses already seen is that run again.
local function in_run(k, ts, a_s)
  local runs = redis.call('HGETALL', k)
  for i = 1, #runs, 2 do
    local lo, hi, seen = string.match(runs[i + 1], '^([^|]+)|([^|]+)|(.+)$')
    if tonumber(lo) <= ts and ts <= tonumber(hi) then
      if tonumber(a_s) > tonumber(seen) then
        redis.call('HSET', k, runs[i], lo .. '|' .. hi .. '|' .. a_s)
      end
      return true
    end
  end
  return false
end
local deletions = {}
local sflags = {}
local outbox = {}
local touched = {}
local late = {}
for i, s in ipairs(b.s or {}) do
  local unit, ts_s, e_s, a_s, em, st, value = s[1], s[2], s[3], s[4], s[5] == 1, s[6], s[7]
  local ts = tonumber(ts_s)
  local ki = b.u[unit]
  local tl, sid, runs = KEYS[ki], KEYS[ki + 1], KEYS[ki + 2]
  touched[unit] = ki
  local last = last_entry(tl)
  local flag = '1'
  if em then
    if in_run(runs, ts, a_s) then
      flag = '0'
    elseif last and last[4] == 'EMERGENCY' then
      local raw = redis.call('HGET', runs, last[2])
      local lo, hi = ts_s, ts_s
      if raw then
        local l, h = string.match(raw, '^([^|]+)|([^|]+)|')
        if tonumber(l) < ts then lo = l end
        if tonumber(h) > ts then hi = h end
      end
      redis.call('HSET', runs, last[2], lo .. '|' .. hi .. '|' .. a_s)
      flag = 'r'
    else
      redis.call('HSET', runs, s[8], ts_s .. '|' .. ts_s .. '|' .. a_s)
    end
  else
    local key = ts_s .. '|' .. st
    if redis.call('ZSCORE', sid, key) then
      redis.call('ZADD', sid, 'GT', a_s, key)
      flag = '0'
    elseif ts < cut then
      flag = '0'
    else
      redis.call('ZADD', sid, a_s, key)
    end
  end
  sflags[i] = flag
  if em and flag ~= '0' then
    outbox[#outbox + 1] = {s[9], unit, a_s, s[10]}
    redis.call('HSET', KEYS[8], s[9], cjson.encode(outbox[#outbox]))
  end
  if flag == '1' then
    local at_s = e_s
    if em or (last and last[4] == 'EMERGENCY') then at_s = a_s end
    local at = tonumber(at_s)
    local member = s[8] .. '|' .. ts_s .. '|' .. st
    redis.call('ZADD', tl, at_s, member)
    local latest = (not last) or at > last[1] or (at == last[1] and s[8] > last[2])
    if latest then
      redis.call('HSET', KEYS[4], unit, value)
      redis.call('HSET', KEYS[5], unit, at_s .. ',' .. a_s .. ',' .. (em and '1' or '0')
                 .. ',' .. ts_s)
    end
    if st == 'OFF_DUTY' then late[#late + 1] = {unit, tl, member, at, at_s} end
  end
  see_str(unit, e_s)
end
-- A new OFF_DUTY's period ends at the next entry once the batch's statuses are all placed:
-- an EMERGENCY that arrived after it in the same batch ends it.
for _, o in ipairs(late) do
  local unit, tl, member, at, since = o[1], o[2], o[3], o[4], o[5]
  local rank = redis.call('ZRANK', tl, member)
  local nxt = redis.call('ZRANGE', tl, rank + 1, rank + 1, 'WITHSCORES')
  if at < cut then since = b.cut end
  local stop = '+inf'
  if #nxt > 0 then stop = '(' .. nxt[2] end
  deletions[#deletions + 1] = {unit, since, stop}
  local p = stamp(redis.call('HGET', KEYS[2], unit))
  if p and p[4] >= tonumber(since) and (#nxt == 0 or p[4] < tonumber(nxt[2])) then
    redis.call('HDEL', KEYS[1], unit)
    redis.call('HDEL', KEYS[2], unit)
    redis.call('ZREM', KEYS[3], unit)
  end
end
-- Forget what is older than retention, keeping the timeline entry in force at the cutoff.
for unit, ki in pairs(touched) do
  local older = redis.call('ZCOUNT', KEYS[ki], '-inf', '(' .. b.cut)
  if older > 1 then redis.call('ZREMRANGEBYRANK', KEYS[ki], 0, older - 2) end
  redis.call('ZREMRANGEBYSCORE', KEYS[ki + 1], '-inf', '(' .. b.cut)
  local runs = redis.call('HGETALL', KEYS[ki + 2])
  for j = 1, #runs, 2 do
    local seen = string.match(runs[j + 1], '|([^|]+)$')
    if tonumber(seen) < cut then redis.call('HDEL', KEYS[ki + 2], runs[j]) end
  end
  for j = 0, 2 do redis.call('EXPIRE', KEYS[ki + j], b.ttl) end
end
local moved = 0
local off = {}
local lasts = {}
for i, p in ipairs(b.p or {}) do
  local unit, ts_s, e_s, a_s = p[1], p[2], p[3], p[4]
  local tl = KEYS[b.u[unit]]
  local last = lasts[unit]
  if last == nil then
    last = last_entry(tl) or false
    lasts[unit] = last
  end
  local e = tonumber(e_s)
  local here = last
  if last and e < last[1] then here = entry_at(tl, e_s) end
  if here and here[4] == 'OFF_DUTY' then
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
-- Alarms raised by an earlier call whose second round trip never ran (a worker killed
-- between the two) are handed on again with this call's: nothing is raised twice (ids).
for _, raw in ipairs(redis.call('HVALS', KEYS[8])) do
  local row = cjson.decode(raw)
  local mine = false
  for _, o in ipairs(outbox) do if o[1] == row[1] then mine = true end end
  if not mine then outbox[#outbox + 1] = row end
end
-- On a single Redis (b.t present) the trail points and their feed entries go in this call:
-- KEYS[b.fi] is the feed, p[10] the index of the unit's trail key, p[11] of its extras
-- bucket (keys.k_trail_extras); b.t the trims, b.xe the buckets' TTLs. A point's
-- extras (speed|heading|battery|source, p[9]) are added only when the point is new, so a
-- re-delivery never adds a second; their field is the point's ts, or its whole trail
-- member when that ts is taken by another point (codec.join_extras). HSETNX: one call
-- for the usual case.
local trail_flags = {}
if b.t then
  for i, p in ipairs(b.p or {}) do
    if off[i] == '0' then
      local member = p[2] .. ',' .. p[7] .. ',' .. p[6] .. ',' .. p[8]
      local added = redis.call('ZADD', KEYS[p[10]], p[2], member)
      trail_flags[#trail_flags + 1] = tostring(added)
      if added == 1 and redis.call('HSETNX', KEYS[p[11]], p[2], p[9]) == 0 then
        redis.call('HSET', KEYS[p[11]], member, p[9])
      end
      redis.call('XADD', KEYS[b.fi], 'MAXLEN', '~', b.maxlen, '*', 'k', 'p', 'u', p[1],
                 't', p[2], 'la', p[7], 'lo', p[6], 'a', p[8])
    end
  end
  for _, t in ipairs(b.t) do
    redis.call('ZREMRANGEBYSCORE', KEYS[t[1]], '-inf', t[2])
    redis.call('EXPIRE', KEYS[t[1]], t[3])
  end
  for _, x in ipairs(b.xe) do redis.call('EXPIRE', KEYS[x[1]], x[2]) end
end
-- On a single Redis (b.sl: each status's log key, its notes key next; b.sn: each status's
-- note, '' for none) new statuses' log rows, notes and feed entries go in this call too,
-- after the positions' as before: a worker killed after it loses none.
if b.sl then
  for i, s in ipairs(b.s) do
    if sflags[i] == '1' then
      log_status(KEYS[b.sl[i]], KEYS[b.sl[i] + 1], s[2], s[2] .. '|' .. s[6], b.sn[i],
                 b.slcut, b.ttl)
      redis.call('XADD', KEYS[b.fi], 'MAXLEN', '~', b.maxlen, '*', 'k', 's', 'u', s[1],
                 't', s[2], 's', s[6])
    end
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
local alarms = {}
for _, o in ipairs(outbox) do alarms[#alarms + 1] = cjson.encode(o) end
return {moved, table.concat(off), table.concat(lwt), dels, table.concat(trail_flags),
        table.concat(sflags), alarms}
"""

# Trail points of the units in one hash slot (Cluster). KEYS: the trail keys and extras
# buckets of these units (same hash tag each). ARGV[1]: [[trail key index, score, member,
# extras, extras key index]]; ARGV[2]: [[trail key index, cutoff, ttl]] trims;
# ARGV[3]: [[extras key index, TTL]]. Extras as in LIVE: only with a new point.
# Returns one flag per point: "1" stored, "0" already there (a re-delivery).
TRAILS = r"""
local flags = {}
for i, p in ipairs(cjson.decode(ARGV[1])) do
  local added = redis.call('ZADD', KEYS[p[1]], p[2], p[3])
  flags[i] = tostring(added)
  if added == 1 and redis.call('HSETNX', KEYS[p[5]], p[2], p[4]) == 0 then
    redis.call('HSET', KEYS[p[5]], p[3], p[4])
  end
end
for _, t in ipairs(cjson.decode(ARGV[2])) do
  redis.call('ZREMRANGEBYSCORE', KEYS[t[1]], '-inf', t[2])
  redis.call('EXPIRE', KEYS[t[1]], t[3])
end
for _, x in ipairs(cjson.decode(ARGV[3])) do redis.call('EXPIRE', KEYS[x[1]], x[2]) end
return table.concat(flags)
"""

# A new status's log row and note on a Cluster (the {unit} slot; LIVE does it on a single
# Redis). KEYS: status log, its notes; ARGV: ts, member ``ts|STATUS``, note ('' for none),
# retention cutoff, notes TTL.
STATUS_LOG = _LOG_STATUS + r"""
log_status(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]))
return 1
"""

# Remove a range of one unit's trail and the extras of the points in it (a late OFF_DUTY's
# period). KEYS: trail, then the extras buckets of the points read in the range;
# ARGV: min, max scores, then [[bucket key index, field]...] as JSON (each point's ts and
# whole member: its extras are under one of them). Returns how many trail points went.
REMOVE_TRAIL_RANGE = r"""
for _, f in ipairs(cjson.decode(ARGV[3])) do redis.call('HDEL', KEYS[f[1]], f[2]) end
return redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
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

# Emergency alarms ({task} slot). KEYS: alarms hash, open zset, unit open-count hash, unit
# -> its newest emergency alarm id. ARGV[1]: [[id, unit, arrival, json]]: the EMERGENCYs the
# live script found new (never one seen before: store.scripts.LIVE, core.timeline).
# While the unit's emergency alarm is open, an EMERGENCY folds into it (repeats + 1,
# last_arrival) and stores nothing else; otherwise it opens an alarm named by its own
# identity (store.batch.alarm_id), so the same one handed on twice opens it once.
# Returns the number of alarms opened.
ALARMS = r"""
local opened = 0
for _, a in ipairs(cjson.decode(ARGV[1])) do
  if redis.call('HEXISTS', KEYS[1], a[1]) == 0 then
    local current = redis.call('HGET', KEYS[4], a[2])
    if current and redis.call('ZSCORE', KEYS[2], current) then
      -- Edited as text: cjson would round its times to 14 digits.
      local raw = redis.call('HGET', KEYS[1], current)
      local n = string.match(raw, '"repeats":(%d+)')
      if n and string.find(raw, '"last_arrival":[-+%d.eE]+') then
        raw = (string.gsub(raw, '"repeats":%d+', '"repeats":' .. (tonumber(n) + 1), 1))
        raw = (string.gsub(raw, '"last_arrival":[-+%d.eE]+', '"last_arrival":' .. a[3], 1))
      else
        local alarm = cjson.decode(raw)
        alarm.repeats = (alarm.repeats or 0) + 1
        alarm.last_arrival = tonumber(a[3])
        raw = cjson.encode(alarm)
      end
      redis.call('HSET', KEYS[1], current, raw)
    else
      redis.call('HSET', KEYS[1], a[1], a[4])
      redis.call('ZADD', KEYS[2], a[3], a[1])
      redis.call('HINCRBY', KEYS[3], a[2], 1)
      redis.call('HSET', KEYS[4], a[2], a[1])
      opened = opened + 1
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
