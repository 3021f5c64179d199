"""What the archiver reads from and removes in Redis: windows of trails and status logs.

Removal is exact: a window is removed only if Redis still holds exactly the members the
archive was written from (a Lua check of the count, else the members one by one), so a
late point that arrived in the window meanwhile stays in Redis for the next run. A point's
extras (``keys.k_trail_extras``) go in the same script call as the point itself, so no crash
leaves a point in Redis without them; extras nobody archived (those of a point that arrived
between the two reads) stay. A status-log entry's note (``keys.k_status_notes``) goes with
the entry in the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import orjson

from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text
from patrolwatch.store.keys import (
    K_ARCHIVE_LOCK,
    K_ARCHIVED_UNTIL,
    extras_bucket,
    k_status_log,
    k_status_notes,
    k_trail,
    k_trail_extras,
)

REMOVE_CHUNK = 5000  # members per ZREM when a window changed under the archiver

# KEYS: trail, then extras buckets; ARGV: lo, hi (exclusive), expected count, then the
# extras archived as JSON [[bucket key index, field]]. Remove the trail's window, and those
# extras, only if the window holds exactly what was read; else return -1 and let the caller
# remove members one by one.
_REMOVE_IF_COUNT = """
local n = redis.call('ZCOUNT', KEYS[1], ARGV[1], '(' .. ARGV[2])
if n ~= tonumber(ARGV[3]) then return -1 end
for _, f in ipairs(cjson.decode(ARGV[4])) do redis.call('HDEL', KEYS[f[1]], f[2]) end
return redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], '(' .. ARGV[2])
"""

# KEYS: trail, then extras buckets; ARGV: the extras of these points as JSON [[bucket key
# index, field]], then the trail members. Removes both in one call; returns how many
# trail points went.
_REMOVE_MEMBERS = """
for _, f in ipairs(cjson.decode(ARGV[1])) do redis.call('HDEL', KEYS[f[1]], f[2]) end
if #ARGV < 2 then return 0 end
return redis.call('ZREM', KEYS[1], unpack(ARGV, 2, #ARGV))
"""

# KEYS: status log, its notes (keys.k_status_notes); ARGV: log members. Removes the entries
# and their notes together: no crash leaves an entry in Redis without its note.
_REMOVE_STATUSES = """
redis.call('HDEL', KEYS[2], unpack(ARGV))
return redis.call('ZREM', KEYS[1], unpack(ARGV))
"""


def _extras_keys(unit: str, fields: Iterable[bytes | None]) -> tuple[list[str], list[list[Any]]]:
    """Return the trail key and the extras buckets of these fields, and [[index, field]]."""
    index = {k_trail(unit): 1}
    named: list[list[Any]] = []
    for field in fields:
        if field is not None:
            key = k_trail_extras(unit, extras_bucket(float(field.split(b",", 1)[0])))
            named.append([index.setdefault(key, len(index) + 1), field.decode()])
    return list(index), named


class ArchiveStore(StoreBase):
    """The archiver's lock, its progress mark and its window reads and removals."""

    def acquire_archive_lock(self, owner: str, ttl_s: float) -> bool:
        """Take or renew the single-archiver lock; tell whether this owner holds it."""
        ms = int(ttl_s * 1000)
        if self.r.set(K_ARCHIVE_LOCK, owner, nx=True, px=ms):
            return True
        holder = self.r.get(K_ARCHIVE_LOCK)
        if holder is not None and as_text(cast(bytes, holder)) == owner:
            self.r.pexpire(K_ARCHIVE_LOCK, ms)
            return True
        return False

    def release_archive_lock(self, owner: str) -> None:
        """Give up the archiver lock if this owner holds it."""
        holder = self.r.get(K_ARCHIVE_LOCK)
        if holder is not None and as_text(cast(bytes, holder)) == owner:
            self.r.delete(K_ARCHIVE_LOCK)

    def archived_until(self) -> float:
        """Return the time before which everything was archived at least once (-inf: never)."""
        raw = self.r.get(K_ARCHIVED_UNTIL)
        return float(cast(bytes, raw)) if raw else -math.inf

    def mark_archived_until(self, ts: float) -> None:
        """Move the archived-until mark forward (never back)."""
        current = self.archived_until()
        if ts > current:
            self.r.set(K_ARCHIVED_UNTIL, repr(ts))

    def oldest_point(self, units: Sequence[str]) -> float:
        """Return the event time of the oldest trail point of these units (inf if none)."""
        pipe = self.r.pipeline(transaction=False)
        for unit in units:
            pipe.zrange(k_trail(unit), 0, 0, withscores=True)
        oldest = math.inf
        for rows in pipe.execute():
            if rows:
                oldest = min(oldest, float(rows[0][1]))
        return oldest

    def trail_window(self, units: Sequence[str], lo: float, hi: float
                     ) -> dict[str, tuple[list[bytes], dict[bytes, bytes]]]:
        """Return each unit's raw trail members with lo <= ts < hi, and its extras fields.

        Units with no trail point there are left out. The extras are every field of the
        buckets those points fall in (``codec.join_extras`` pairs them). The trails are read
        before the extras: a point and its extras are written in one script call, so every
        point read finds its extras in the second read.
        """
        pipe = self.r.pipeline(transaction=False)
        for unit in units:
            pipe.zrangebyscore(k_trail(unit), lo, f"({hi!r}")
        read = {u: rows for u, rows in zip(units, pipe.execute(), strict=True) if rows}
        pipe = self.r.pipeline(transaction=False)
        asked: list[str] = []
        for unit, rows in read.items():
            first = extras_bucket(float(rows[0].split(b",", 1)[0]))
            last = extras_bucket(float(rows[-1].split(b",", 1)[0]))
            for bucket in range(first, last + 1):
                pipe.hgetall(k_trail_extras(unit, bucket))
                asked.append(unit)
        extras: dict[str, dict[bytes, bytes]] = {u: {} for u in read}
        for unit, fields in zip(asked, pipe.execute(), strict=True):
            extras[unit].update(fields)
        return {u: (rows, extras[u]) for u, rows in read.items()}

    def remove_trail_window(self, read: Mapping[str, Sequence[bytes]], lo: float,
                            hi: float,
                            extras: Mapping[str, Sequence[bytes | None]] | None = None) -> int:
        """Remove what ``trail_window`` returned, exactly; return how many points went.

        ``extras``: per unit, the extras field archived with each point read (in the same
        order; None: it had none). A point's extras leave with it, in the same call, so no
        point is ever left in Redis without them; extras not named stay.
        """
        extras = extras or {}
        units = list(read)
        pipe: Any = self.r.pipeline(transaction=False)
        for unit in units:
            keys, fields = _extras_keys(unit, extras.get(unit, ()))
            pipe.execute_command("EVAL", _REMOVE_IF_COUNT, len(keys), *keys, repr(lo),
                                 repr(hi), len(read[unit]), orjson.dumps(fields))
        removed = 0
        changed = []
        for unit, n in zip(units, pipe.execute(), strict=True):
            if int(n) < 0:
                changed.append(unit)
            else:
                removed += int(n)
        for unit in changed:  # rare: a late point arrived, or retention trimmed meanwhile
            members = list(read[unit])
            owners = list(extras.get(unit, ())) or [None] * len(members)
            for start in range(0, len(members), REMOVE_CHUNK):
                part = members[start:start + REMOVE_CHUNK]
                keys, fields = _extras_keys(unit, owners[start:start + REMOVE_CHUNK])
                removed += int(cast(int, self.r.execute_command(  # type: ignore[no-untyped-call]
                    "EVAL", _REMOVE_MEMBERS, len(keys), *keys, orjson.dumps(fields), *part)))
        return removed

    def status_members_before(self, units: Sequence[str], cutoff: float
                              ) -> dict[str, list[tuple[bytes, float, bytes | None]]]:
        """Return each unit's raw status-log entries older than ``cutoff``, oldest first,
        each with its note (``keys.k_status_notes``; None: it has none).

        The log is read before its notes (one pipeline, in order): an entry and its note are
        written in one script call, so every entry read finds its note.
        """
        pipe = self.r.pipeline(transaction=False)
        for unit in units:
            pipe.zrangebyscore(k_status_log(unit), "-inf", f"({cutoff!r}", withscores=True)
            pipe.hgetall(k_status_notes(unit))
        got = pipe.execute()
        out: dict[str, list[tuple[bytes, float, bytes | None]]] = {}
        for i, unit in enumerate(units):
            rows, notes = cast(list[Any], got[2 * i]), cast(dict[bytes, bytes], got[2 * i + 1])
            if rows:
                out[unit] = [(cast(bytes, m), float(s), notes.get(m)) for m, s in rows]
        return out

    def remove_status_members(self, members: Mapping[str, Sequence[bytes]]) -> None:
        """Remove exactly these status-log entries, and their notes in the same call."""
        pipe: Any = self.r.pipeline(transaction=False)
        for unit, rows in members.items():
            for start in range(0, len(rows), REMOVE_CHUNK):
                pipe.execute_command("EVAL", _REMOVE_STATUSES, 2, k_status_log(unit),
                                     k_status_notes(unit), *rows[start:start + REMOVE_CHUNK])
        pipe.execute()
