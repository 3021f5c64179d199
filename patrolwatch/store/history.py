"""History held in Redis: trails, status logs and unit events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

from redis.cluster import RedisCluster

from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text, unpack_point
from patrolwatch.store.keys import k_status_log, k_trail, k_unit_events


class HistoryStore(StoreBase):
    """Reads of the trails and logs the ingest worker keeps."""

    def trail(self, unit: str, since: float, until: float,
              limit: int | None = None) -> list[tuple[float, float, float, float | None]]:
        """Return a unit's trail points in [since, until], oldest first."""
        kwargs: dict[str, Any] = {}
        if limit is not None:
            kwargs = {"start": 0, "num": limit}
        members = self.r.zrangebyscore(k_trail(unit), since, until, **kwargs)
        return [unpack_point(m) for m in cast(list[bytes], members)]

    def trail_count(self, unit: str) -> int:
        """Return how many points a unit's trail holds."""
        return int(self.r.zcard(k_trail(unit)))

    def status_history(self, unit: str, since: float, until: float) -> list[tuple[float, str]]:
        """Return a unit's status changes in [since, until], oldest first."""
        rows = cast(list[bytes], self.r.zrangebyscore(k_status_log(unit), since, until))
        out = []
        for row in rows:
            ts, status = as_text(row).split("|", 1)
            out.append((float(ts), status))
        return out

    def unit_events(self, unit: str, limit: int = 50) -> list[dict[str, Any]]:
        """Return a unit's recent events, newest first."""
        rows = cast(list[bytes], self.r.lrange(k_unit_events(unit), 0, limit - 1))
        return [json.loads(r) for r in rows]

    def units_in_trails(self, units: Iterable[str]) -> dict[str, int]:
        """Return trail sizes for the given units in one round trip."""
        names = list(units)
        pipe = self.r.pipeline(transaction=False)
        for unit in names:
            pipe.zcard(k_trail(unit))
        return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))


def points_for(units: Sequence[str], store: StoreBase, since: float, until: float
               ) -> dict[str, list[tuple[float, float, float, float | None]]]:
    """Read several units' trails in one pipelined round trip."""
    pipe = store.r.pipeline(transaction=False)
    for unit in units:
        pipe.zrangebyscore(k_trail(unit), since, until)
    return {unit: [unpack_point(m) for m in rows]
            for unit, rows in zip(units, pipe.execute(), strict=True)}



LATEST_CHUNK = 2000  # keys per script: a few milliseconds of server time each
_LATEST_EACH = """
local out = {}
for i, key in ipairs(KEYS) do
  local rows = redis.call('ZREVRANGEBYSCORE', key, ARGV[1], ARGV[2], 'LIMIT', 0, 1)
  out[i] = rows[1] or false
end
return out
"""


_COUNT_EACH = """
local n = 0
for _, key in ipairs(KEYS) do n = n + redis.call('ZCOUNT', key, ARGV[1], ARGV[2]) end
return n
"""


def _score(bound: float | str) -> str:
    return bound if isinstance(bound, str) else repr(bound)


class TierReads(StoreBase):
    """Reads the two-tier history (patrolwatch.archive.tiers) needs from Redis."""

    def trail_count_between(self, unit: str, lo: float, hi: float) -> int:
        """Return how many trail points a unit holds with lo <= ts <= hi."""
        return int(self.r.zcount(k_trail(unit), lo, hi))

    def trail_counts_between(self, units: Sequence[str], lo: float, hi: float) -> int:
        """Return how many trail points these units hold with lo <= ts <= hi, all together.

        On one Redis a Lua loop sums the counts, 2,000 keys a call (ten thousand pipelined
        ZCOUNTs cost a third of a second of client time); on a cluster, a pipeline.
        """
        keys = [k_trail(u) for u in units]
        if isinstance(self.r, RedisCluster):
            pipe = self.r.pipeline(transaction=False)
            for key in keys:
                pipe.zcount(key, lo, hi)
            return sum(int(n) for n in pipe.execute())
        total = 0
        for start in range(0, len(keys), LATEST_CHUNK):
            chunk = keys[start:start + LATEST_CHUNK]
            total += int(cast(int, self.r.execute_command(  # type: ignore[no-untyped-call]
                "EVAL", _COUNT_EACH, len(chunk), *chunk, repr(lo), repr(hi))))
        return total

    def trail_by_ranks(self, unit: str, lo: float, picks: Sequence[int]
                       ) -> list[tuple[float, float, float, float | None]]:
        """Return the points at these 0-based positions among the unit's points from ``lo`` on.

        Rank reads are O(log n) each, so thinning a huge trail never loads all of it.
        """
        if not picks:
            return []
        base = int(self.r.zcount(k_trail(unit), "-inf", f"({lo!r}"))
        pipe = self.r.pipeline(transaction=False)
        for i in picks:
            pipe.zrange(k_trail(unit), base + i, base + i)
        return [unpack_point(rows[0]) for rows in pipe.execute() if rows]

    def _latest_each(self, keys: Sequence[str], hi: float | str, lo: float | str
                     ) -> list[bytes | None]:
        """Return each sorted set's highest member with lo <= score <= hi (None if none).

        On one Redis: a Lua loop per chunk of keys, one round trip each, because ten thousand
        pipelined commands cost a second of client time. A cluster spreads the keys over
        slots, which one script may not span: there, a pipeline.
        """
        out: list[bytes | None] = []
        if isinstance(self.r, RedisCluster):
            pipe = self.r.pipeline(transaction=False)
            for key in keys:
                pipe.zrevrangebyscore(key, hi, lo, start=0, num=1)
            return [rows[0] if rows else None for rows in pipe.execute()]
        for start in range(0, len(keys), LATEST_CHUNK):
            chunk = keys[start:start + LATEST_CHUNK]
            out.extend(cast(list[bytes | None], self.r.execute_command(  # type: ignore[no-untyped-call]
                "EVAL", _LATEST_EACH, len(chunk), *chunk, _score(hi), _score(lo))))
        return out

    def last_points_at(self, units: Sequence[str], at: float | str, since: float
                       ) -> dict[str, tuple[float, float, float]]:
        """Return each unit's last trail point in [since, at] as (ts, lat, lon).

        ``at`` may be a Redis score bound such as ``(123.5`` (exclusive).
        """
        out = {}
        for unit, row in zip(units, self._latest_each([k_trail(u) for u in units], at, since),
                             strict=True):
            if row:
                ts, lat, lon, _ = unpack_point(row)
                out[unit] = (ts, lat, lon)
        return out

    def statuses_at(self, units: Sequence[str], at: float) -> dict[str, tuple[float, str]]:
        """Return each unit's newest status change at or before ``at`` held in Redis."""
        out = {}
        rows = self._latest_each([k_status_log(u) for u in units], at, "-inf")
        for unit, row in zip(units, rows, strict=True):
            if row:
                ts, status = as_text(row).split("|", 1)
                out[unit] = (float(ts), status)
        return out

    def status_logs(self, units: Sequence[str], since: float, until: float
                    ) -> dict[str, list[tuple[float, str]]]:
        """Return several units' status changes in [since, until] in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for unit in units:
            pipe.zrangebyscore(k_status_log(unit), since, until)
        out: dict[str, list[tuple[float, str]]] = {}
        for unit, rows in zip(units, pipe.execute(), strict=True):
            parsed = []
            for row in rows:
                ts, status = as_text(row).split("|", 1)
                parsed.append((float(ts), status))
            out[unit] = parsed
        return out
