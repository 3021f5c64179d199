"""Hotspot state history for replay: what the evaluator decided, at least once a minute."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson

from patrolwatch.store.base import StoreBase
from patrolwatch.store.keys import HOTSPOT_STATES_EVERY_S, K_AUDIT, K_HOTSPOT_STATES

# (time, hotspot id -> state, whether the feed was fresh: time observed, DOMAIN.md)
StateEntry = tuple[float, dict[str, str], bool]


def _entry(ts: float, states: Mapping[str, str], observed: bool) -> bytes:
    return orjson.dumps({"t": ts, "s": dict(states), "o": observed},
                        option=orjson.OPT_SORT_KEYS)


def _parse(member: bytes | str) -> StateEntry:
    data = orjson.loads(member)
    return (float(data["t"]), {str(k): str(v) for k, v in data["s"].items()},
            bool(data.get("o", True)))


class ReplayStore(StoreBase):
    """Writes of hotspot states by the evaluator; reads for replay and the archiver."""

    # This process's last entry: housekeeping so each tick does not write, not shared state.
    _states_written: StateEntry | None = None

    def record_hotspot_states(self, now: float, states: Mapping[str, str],
                              observed: bool = True) -> bool:
        """Keep the hotspots' states when they change, and once a minute at least.

        ``observed`` is whether the feed was fresh (DOMAIN.md observed time), for the report.
        Return whether an entry was written. Entries are one JSON member each, so the day of a
        hundred hotspots at one a minute is a few MB, and the archiver moves them on.
        """
        last = self._states_written
        current = dict(states)
        if (last is not None and last[1] == current and last[2] == observed
                and now - last[0] < HOTSPOT_STATES_EVERY_S):
            return False
        self.r.zadd(K_HOTSPOT_STATES, {_entry(now, current, observed): now})
        self._states_written = (now, current, observed)
        return True

    def replace_hotspot_states(self, lo: float, hi: float,
                               entries: Sequence[StateEntry]) -> None:
        """Replace the entries in [lo, hi) by these re-evaluated ones, atomically.

        Late data changed what the states were (``ingest.past_states``); readers see the old
        entries or the new ones, never a hole between.
        """
        pipe = self.r.pipeline(transaction=True)
        pipe.zremrangebyscore(K_HOTSPOT_STATES, repr(lo), f"({hi!r}")
        if entries:
            pipe.zadd(K_HOTSPOT_STATES, {_entry(t, s, o): t for t, s, o in entries})
        pipe.execute()

    def hotspot_states_at(self, at: float) -> StateEntry | None:
        """Return the latest hotspot-state entry at or before ``at`` held in Redis."""
        rows = cast(list[bytes], self.r.zrevrangebyscore(K_HOTSPOT_STATES, at, "-inf",
                                                         start=0, num=1))
        return _parse(rows[0]) if rows else None

    def hotspot_states_between(self, since: float, until: float) -> list[StateEntry]:
        """Return hotspot-state entries in [since, until] held in Redis, oldest first."""
        rows = cast(list[bytes], self.r.zrangebyscore(K_HOTSPOT_STATES, since, until))
        return [_parse(r) for r in rows]

    def hotspot_state_members_before(self, cutoff: float) -> list[bytes]:
        """Return the raw entries older than ``cutoff`` (for the archiver)."""
        return cast(list[bytes], self.r.zrangebyscore(K_HOTSPOT_STATES, "-inf", f"({cutoff}"))

    def remove_hotspot_state_members(self, members: Sequence[bytes]) -> None:
        """Remove exactly these entries (after the archive holds them)."""
        for start in range(0, len(members), 5000):
            self.r.zrem(K_HOTSPOT_STATES, *members[start:start + 5000])

    def oldest_hotspot_state(self) -> float:
        """Return the time of the oldest entry in Redis (inf when there is none)."""
        rows = cast(list[Any], self.r.zrange(K_HOTSPOT_STATES, 0, 0, withscores=True))
        return float(rows[0][1]) if rows else math.inf


def parse_state_member(member: bytes | str) -> StateEntry:
    """Return one raw hotspot-state entry as (time, states)."""
    return _parse(member)


class ReportReads(StoreBase):
    """Reads the operation report needs beyond visits and taskings."""

    def audit_between(self, since: float, until: float) -> list[dict[str, Any]]:
        """Return audit entries (taskings, emergency acknowledgements) in [since, until]."""
        rows = cast(list[bytes], self.r.zrangebyscore(K_AUDIT, since, until))
        return [orjson.loads(r) for r in rows]
