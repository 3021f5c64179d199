"""The live picture: the live-state version counter, the producer's lock, the built parts.

The producer (dashboard/picture/producer.py) writes one hash of pre-serialised parts per
version and one small map delta ("step") per version; every dashboard process reads them.
All picture keys share the ``{pic}`` hash tag, so a read of several is one slot on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import orjson

from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text
from patrolwatch.store.keys import (
    K_COVERAGE,
    K_LIVE_DIRTY,
    K_LIVE_VERSION,
    K_LWT,
    K_PICTURE,
    K_PICTURE_LOCK,
    K_POS,
    K_SEEN,
    K_STATS,
    K_STATUS,
    PICTURE_STEP_TTL_S,
    k_picture_step,
)
from patrolwatch.store.types import Batch, LiveRows

DIRTY_TAKE_MAX = 1_000_000  # SPOP's count: more than any fleet, so one call empties the set

# Take the lock if free, or renew it if this owner holds it: one round trip, no race
# between the GET and the PEXPIRE.
_TAKE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def bump_live_version(pipe: Any) -> None:
    """Queue the increment that tells the picture producer live state changed."""
    pipe.incr(K_LIVE_VERSION)


def batch_units(batch: Batch) -> set[str]:
    """Return the units whose live rows (position, status, seen, last-will) a batch may write."""
    units = {p.unit for p in batch.positions}
    units.update(s.unit for s in batch.statuses)
    units.update(a.unit for a in batch.acks)
    units.update(lost.unit for lost in batch.lost)
    units.update(e.unit for e in batch.events)
    return units


def mark_changed(pipe: Any, units: Iterable[str]) -> None:
    """Queue the SADD that tells the picture producer which units to read again (issue 20)."""
    members = list(units)
    if members:
        pipe.sadd(K_LIVE_DIRTY, *members)


class PictureStore(StoreBase):
    """Reads and writes of the live picture and its producer's lock."""

    def live_version(self) -> int:
        """Return the live-state version counter (0 before the first batch)."""
        raw = self.r.get(K_LIVE_VERSION)
        return int(cast(bytes, raw)) if raw else 0

    def take_changed(self) -> tuple[list[str], int]:
        """Empty the set of changed units; return them and the live version, one round trip.

        SPOP, not SMEMBERS then DEL: a unit the ingest marks just after stays for next time.
        """
        pipe = self.r.pipeline(transaction=False)
        pipe.spop(K_LIVE_DIRTY, DIRTY_TAKE_MAX)
        pipe.get(K_LIVE_VERSION)
        units, version = pipe.execute()
        return [as_text(u) for u in units or ()], int(version) if version else 0

    def coverage_and_counters(self) -> tuple[bytes | None, dict[bytes, bytes]]:
        """Return the raw coverage snapshot and the ingest counters, one round trip."""
        pipe = self.r.pipeline(transaction=False)
        pipe.get(K_COVERAGE)
        pipe.hgetall(K_STATS)
        coverage, stats = pipe.execute()
        return coverage, stats

    def live_rows_of(self, units: Sequence[str]) -> LiveRows:
        """Read these units' latest position, status, last seen and last-will, one round trip."""
        if not units:
            return LiveRows({}, {}, {}, {})
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(K_POS, list(units))
        pipe.hmget(K_STATUS, list(units))
        pipe.zmscore(K_SEEN, list(units))
        pipe.hmget(K_LWT, list(units))
        pos, status, seen, lwt = pipe.execute()
        return LiveRows(
            positions={u: orjson.loads(v) for u, v in zip(units, pos, strict=True) if v},
            statuses={u: orjson.loads(v) for u, v in zip(units, status, strict=True) if v},
            seen={u: float(v) for u, v in zip(units, seen, strict=True) if v is not None},
            lwt={u: float(v) for u, v in zip(units, lwt, strict=True) if v},
        )

    def acquire_picture_lock(self, owner: str, ttl_s: float) -> bool:
        """Take or renew the single-producer lock; tell whether this owner holds it."""
        got = self.r.eval(_TAKE_OR_RENEW, 1, K_PICTURE_LOCK, owner, int(ttl_s * 1000))
        return bool(got)

    def release_picture_lock(self, owner: str) -> None:
        """Give up the producer lock if this owner holds it."""
        self.r.eval(_RELEASE, 1, K_PICTURE_LOCK, owner)

    def picture_fields(self, names: Sequence[str]) -> list[bytes | None]:
        """Return these fields of the current picture (None for a missing one), one HMGET."""
        return cast(list[bytes | None], self.r.hmget(K_PICTURE, list(names)))

    def picture_steps(self, after: int, upto: int) -> list[bytes | None]:
        """Return the map deltas of versions ``after + 1`` to ``upto``, oldest first."""
        if upto <= after:
            return []
        keys = [k_picture_step(v) for v in range(after + 1, upto + 1)]
        return cast(list[bytes | None], self.r.mget(keys))

    def write_picture(self, fields: Mapping[str, bytes | str], version: int | None = None,
                      step: bytes | None = None) -> None:
        """Store picture fields and, with a new version, its map delta, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        if version is not None and step is not None:
            # The step goes first: a reader that sees the new version finds its step.
            pipe.set(k_picture_step(version), step, ex=PICTURE_STEP_TTL_S)
        pipe.hset(K_PICTURE, mapping=dict(fields))  # type: ignore[arg-type]  # bytes|str values
        pipe.execute()

    def picture_holder(self) -> str | None:
        """Return who holds the producer lock now (None when nobody does)."""
        raw = self.r.get(K_PICTURE_LOCK)
        return as_text(cast(bytes, raw)) if raw else None
