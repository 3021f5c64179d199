"""Coverage: the evaluator's change feed and lock, visits, the snapshot and gap events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

import orjson

from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text, visit_member
from patrolwatch.store.keys import (
    COVERAGE_EVENTS_KEPT,
    K_COV_EVENTS,
    K_COVERAGE,
    K_EVAL_LOCK,
    K_FEED,
    K_OBSERVED,
    VISIT_MAX_S,
    VISITS_RETENTION_S,
    k_visits,
)


class CoverageStore(StoreBase):
    """What the coverage evaluator writes and the dashboard reads of it."""

    # --- coverage change feed ---------------------------------------------------------------
    def read_feed(self, after: str, count: int = 10_000) -> list[tuple[str, dict[str, str]]]:
        """Return change-feed entries after the given stream id."""
        rows = self.r.xread({K_FEED: after}, count=count)
        if not rows:
            return []
        entries = cast(list[Any], rows)[0][1]
        return [
            (as_text(eid), {as_text(k): as_text(v) for k, v in data.items()})
            for eid, data in entries
        ]

    def feed_last_id(self) -> str:
        """Return the id of the newest change-feed entry (``0-0`` when empty)."""
        info = cast(list[Any], self.r.xrevrange(K_FEED, count=1))
        return as_text(info[0][0]) if info else "0-0"

    def acquire_evaluator_lock(self, owner: str, ttl_s: float) -> bool:
        """Take or renew the single-evaluator lock; tell whether this owner holds it."""
        ms = int(ttl_s * 1000)
        if self.r.set(K_EVAL_LOCK, owner, nx=True, px=ms):
            return True
        holder = self.r.get(K_EVAL_LOCK)
        if holder is not None and as_text(cast(bytes, holder)) == owner:
            self.r.pexpire(K_EVAL_LOCK, ms)
            return True
        return False

    def release_evaluator_lock(self, owner: str) -> None:
        """Give up the evaluator lock if this owner holds it."""
        holder = self.r.get(K_EVAL_LOCK)
        if holder is not None and as_text(cast(bytes, holder)) == owner:
            self.r.delete(K_EVAL_LOCK)

    # --- coverage (written by the evaluator, read by the dashboard and API) -----------------
    def apply_visit_delta(self, removed: Iterable[dict[str, Any]],
                          added: Iterable[dict[str, Any]]) -> None:
        """Replace changed visits in one round trip (dicts: unit, hotspot, start, end, pings)."""
        pipe = self.r.pipeline(transaction=False)
        hotspots: set[str] = set()
        for visit in removed:
            pipe.zrem(k_visits(visit["hotspot"]), visit_member(visit))
        for visit in added:
            pipe.zadd(k_visits(visit["hotspot"]), {visit_member(visit): visit["start"]})
            hotspots.add(visit["hotspot"])
        for hotspot in hotspots:
            pipe.expire(k_visits(hotspot), int(VISITS_RETENTION_S))
        pipe.execute()

    def replace_visits_since(self, hotspot_ids: Iterable[str], since: float,
                             visits: Iterable[dict[str, Any]]) -> None:
        """Drop stored visits starting at or after ``since`` and store these instead (rebuild).

        Not one transaction: each hotspot's visits are a key (and a cluster slot) of their own.
        Commands on one key run in order, and only the evaluator holding the lock writes here.
        """
        pipe = self.r.pipeline(transaction=False)
        for hotspot in hotspot_ids:
            pipe.zremrangebyscore(k_visits(hotspot), since, "+inf")
        for visit in visits:
            pipe.zadd(k_visits(visit["hotspot"]), {visit_member(visit): visit["start"]})
        pipe.execute()

    def visits(self, hotspot: str, since: float, until: float,
               min_minutes: float | None = None) -> list[dict[str, Any]]:
        """Return a hotspot's visits overlapping [since, until], oldest first."""
        key = k_visits(hotspot)
        rows = cast(list[bytes], self.r.zrangebyscore(key, since - VISIT_MAX_S, until))
        out = []
        for row in rows:
            v = json.loads(row)
            if v["end"] < since:
                continue
            v["minutes"] = round((v["end"] - v["start"]) / 60.0, 2)
            if min_minutes is not None:
                v["qualifying"] = v["minutes"] >= min_minutes
            out.append(v)
        return out

    def visits_many(self, hotspots: Sequence[str], since: float, until: float
                    ) -> dict[str, list[dict[str, Any]]]:
        """Return several hotspots' visits overlapping [since, until] in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for hotspot in hotspots:
            pipe.zrangebyscore(k_visits(hotspot), since - VISIT_MAX_S, until)
        out: dict[str, list[dict[str, Any]]] = {}
        for hotspot, rows in zip(hotspots, pipe.execute(), strict=True):
            visits = [orjson.loads(r) for r in rows]  # a week's are many: 12x json
            out[hotspot] = [{**v, "hotspot": hotspot} for v in visits if v["end"] >= since]
        return out

    def write_coverage(self, snapshot: dict[str, Any],
                       events: Sequence[dict[str, Any]] = ()) -> None:
        """Store the latest coverage snapshot and any gap events in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        pipe.set(K_COVERAGE, json.dumps(snapshot, separators=(",", ":")))
        for event in events:
            pipe.lpush(K_COV_EVENTS, json.dumps(event))
        if events:
            pipe.ltrim(K_COV_EVENTS, 0, COVERAGE_EVENTS_KEPT - 1)
        pipe.execute()

    def coverage(self) -> dict[str, Any] | None:
        """Return the latest coverage snapshot, or None before the first evaluation."""
        raw = self.r.get(K_COVERAGE)
        return json.loads(cast(bytes, raw)) if raw else None

    def coverage_events(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return recent gap opened/closed events, newest first."""
        rows = cast(list[bytes], self.r.lrange(K_COV_EVENTS, 0, limit - 1))
        return [json.loads(r) for r in rows]

    # --- observed time ------------------------------------------------------------------
    # ZSET member "start|end" (repr floats), score = end: intervals are disjoint, so ordering
    # by end is ordering by start, and "overlaps [since, ...)" is one ZRANGEBYSCORE on end.
    def replace_observed_after(self, changed_from: float,
                               intervals: Iterable[tuple[float, float]]) -> None:
        """Replace stored observed intervals ending after ``changed_from`` with these."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zremrangebyscore(K_OBSERVED, f"({changed_from!r}", "+inf")
        members = {f"{a!r}|{b!r}": b for a, b in intervals}
        if members:
            pipe.zadd(K_OBSERVED, members)
        pipe.zremrangebyscore(K_OBSERVED, "-inf", time.time() - VISITS_RETENTION_S)
        pipe.expire(K_OBSERVED, int(VISITS_RETENTION_S))
        pipe.execute()

    def observed_intervals(self, since: float, until: float) -> list[tuple[float, float]]:
        """Return the stored observed intervals overlapping [since, until), oldest first."""
        rows = cast(list[bytes], self.r.zrangebyscore(K_OBSERVED, f"({since!r}", "+inf"))
        out = []
        for row in rows:
            a, b = (float(x) for x in as_text(row).split("|", 1))
            if a >= until:
                break
            out.append((a, b))
        return out
