"""Live state: the ingest's batch writes, and the dashboard's one-round-trip reads of it.

The dashboard's reads are answered from indexes the writer keeps (hashes, a GEO set, sorted
sets), each in one pipelined round trip: no SCAN or KEYS.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any, cast

import orjson

from patrolwatch.core.model import Ack, Position, Rejection, StatusChange, UnitEvent
from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text, pack_point, position_json
from patrolwatch.store.keys import (
    FEED_MAXLEN,
    K_COVERAGE,
    K_FEED,
    K_GEO,
    K_LWT,
    K_POS,
    K_POS_TS,
    K_REJECTIONS,
    K_SEEN,
    K_STATS,
    K_STATUS,
    K_STATUS_TS,
    TRAIL_TRIM_EVERY_S,
    UNIT_EVENTS_KEPT,
    k_status_log,
    k_trail,
    k_unit_events,
)
from patrolwatch.store.picture import bump_live_version
from patrolwatch.store.types import Batch, LiveRows, Stats, WriteResult

_SET_IF_NEWER = """
local stride = tonumber(ARGV[1])
local moved = 0
for i = 2, #ARGV, stride do
  local f = ARGV[i]
  local ts = tonumber(ARGV[i + 1])
  local cur = redis.call('HGET', KEYS[2], f)
  if (not cur) or ts > tonumber(cur) then
    redis.call('HSET', KEYS[1], f, ARGV[i + 2])
    redis.call('HSET', KEYS[2], f, ARGV[i + 1])
    if stride == 5 then
      redis.call('GEOADD', KEYS[3], ARGV[i + 3], ARGV[i + 4], f)
    end
    moved = moved + 1
  end
end
return moved
"""


def _set_if_newer(pipe: Any, keys: list[str], args: list[Any]) -> None:
    """Queue the set-if-newer script as EVAL.

    Not EVALSHA through redis-py's Script: in a pipeline that costs a SCRIPT EXISTS round trip
    per execute, and cluster pipelines refuse EVALSHA; EVAL is routed by its keys (all one
    hash tag) and the server caches the compiled script.
    """
    pipe.execute_command("EVAL", _SET_IF_NEWER, len(keys), *keys, *args)



def _score_pairs(raw: list[Any]) -> dict[str, float]:
    """Return member -> score from a raw ZRANGE WITHSCORES reply (RESP3 pairs or RESP2 flat)."""
    if raw and isinstance(raw[0], list | tuple):
        return {as_text(m): float(s) for m, s in raw}
    it = iter(raw)
    return {as_text(m): float(s) for m, s in zip(it, it, strict=True)}


class LiveStore(StoreBase):
    """Writes of the ingest worker and reads of live state."""

    # --- writes (ingest) ------------------------------------------------------------------
    def write_batch(self, batch: Batch, now: float | None = None) -> WriteResult:
        """Store a batch in one pipelined round trip (plus one for counters); raises RedisError.

        Latest state only moves forward in event time; trail points are ZSET members, so the
        same message delivered twice is stored once. Safe to retry after a failure.
        """
        now = time.time() if now is None else now
        pipe = self.r.pipeline(transaction=False)
        cutoff = now - self.trail_retention_s
        for p in batch.positions:
            pipe.zadd(k_trail(p.unit), {pack_point(p): p.ts})
        # Trimming every touched trail in every batch added two commands per position; a
        # trail needs trimming about hourly, and its TTL outlasts retention by twice that.
        trimmed = 0
        for unit in {p.unit for p in batch.positions}:
            if now - self._trimmed.get(unit, -math.inf) < TRAIL_TRIM_EVERY_S:
                continue
            self._trimmed[unit] = now
            pipe.zremrangebyscore(k_trail(unit), "-inf", cutoff)
            pipe.expire(k_trail(unit), int(self.trail_retention_s + 2 * TRAIL_TRIM_EVERY_S))
            trimmed += 1
        if batch.positions:
            args: list[Any] = [5]
            for p in batch.positions:
                args += [p.unit, repr(p.ts), position_json(p), p.lon, p.lat]
            _set_if_newer(pipe, [K_POS, K_POS_TS, K_GEO], args)
        if batch.statuses:
            args = [3]
            for s in batch.statuses:
                value = json.dumps({"status": s.status.value, "ts": s.ts, "note": s.note})
                args += [s.unit, repr(s.ts), value]
                pipe.zadd(k_status_log(s.unit), {f"{s.ts!r}|{s.status.value}": s.ts})
                pipe.zremrangebyscore(k_status_log(s.unit), "-inf", cutoff)
            _set_if_newer(pipe, [K_STATUS, K_STATUS_TS], args)
        seen: dict[str, float] = {}
        stamped: list[Position | StatusChange | Ack | UnitEvent] = [
            *batch.positions, *batch.statuses, *batch.acks, *batch.events]
        for m in stamped:
            seen[m.unit] = max(seen.get(m.unit, m.ts), m.ts)
        if seen:
            pipe.zadd(K_SEEN, seen, gt=True)
        for lost in batch.lost:
            pipe.hset(K_LWT, lost.unit, repr(lost.ts))
            self._unit_event(pipe, lost.unit, {"ts": lost.ts, "event": "lwt"})
        for ev in batch.events:
            self._unit_event(pipe, ev.unit, {"ts": ev.ts, "event": ev.event,
                                              "description": ev.description})
        self._feed(pipe, batch)
        self._log_rejections(pipe, batch.rejections, now)
        # --- live picture (issue 11): tell the picture producer live state changed. Last in
        # the pipeline, so the result indexes read below stay where they are.
        if batch.accepted:
            bump_live_version(pipe)
        # --- end live picture
        results = pipe.execute()

        new = sum(int(results[i]) for i in range(len(batch.positions)))
        dup = len(batch.positions) - new
        moved = 0
        if batch.positions:
            idx = len(batch.positions) + 2 * trimmed
            moved = int(results[idx])
        self._count(batch, dup, now)
        return WriteResult(new_points=new, duplicate_points=dup, moved_units=moved)

    def _log_rejections(self, pipe: Any, rejections: Sequence[Rejection], now: float) -> None:
        for rej in rejections:
            pipe.lpush(K_REJECTIONS, json.dumps({
                "ts": now, "reason": rej.reason.value, "detail": rej.detail, "topic": rej.topic,
                "payload": rej.payload_head[:200].decode("utf-8", errors="backslashreplace"),
            }))
        if rejections:
            pipe.ltrim(K_REJECTIONS, 0, self.rejection_log_size - 1)

    def _count(self, batch: Batch, duplicates: int, now: float) -> None:
        """Count after the write: duplicates are only known from its results."""
        counters = self.r.pipeline(transaction=False)
        if batch.accepted:
            counters.hincrby(K_STATS, "accepted_total", batch.accepted - duplicates)
            counters.hset(K_STATS, "last_message_ts", repr(now))
        if duplicates:
            counters.hincrby(K_STATS, "duplicates_total", duplicates)
        if batch.rejections:
            counters.hincrby(K_STATS, "rejected_total", len(batch.rejections))
            by_reason: dict[str, int] = {}
            for rej in batch.rejections:
                by_reason[rej.reason.value] = by_reason.get(rej.reason.value, 0) + 1
            for reason, n in by_reason.items():
                counters.hincrby(K_STATS, f"rejected:{reason}", n)
        counters.execute()

    def _unit_event(self, pipe: Any, unit: str, event: dict[str, Any]) -> None:
        pipe.lpush(k_unit_events(unit), json.dumps(event))
        pipe.ltrim(k_unit_events(unit), 0, UNIT_EVENTS_KEPT - 1)
        pipe.expire(k_unit_events(unit), int(self.trail_retention_s))

    def _feed(self, pipe: Any, batch: Batch) -> None:
        """Append accepted positions and statuses to the coverage evaluator's change feed."""
        for p in batch.positions:
            fields = {"k": "p", "u": p.unit, "t": repr(p.ts), "la": repr(p.lat), "lo": repr(p.lon),
                      "a": "" if p.acc is None else repr(p.acc)}
            pipe.xadd(K_FEED, fields, maxlen=FEED_MAXLEN, approximate=True)
        for s in batch.statuses:
            pipe.xadd(K_FEED, {"k": "s", "u": s.unit, "t": repr(s.ts), "s": s.status.value},
                      maxlen=FEED_MAXLEN, approximate=True)
        for a in batch.acks:
            pipe.xadd(K_FEED, {"k": "a", "u": a.unit, "t": repr(a.ts), "i": a.id,
                               "ok": "1" if a.accepted else "0", "r": a.reason or ""},
                      maxlen=FEED_MAXLEN, approximate=True)

    # --- reads (dashboard, API) -----------------------------------------------------------
    def live_rows(self) -> LiveRows:
        """Read every unit's latest position, status, last-seen and last-will in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        self._queue_live(pipe)
        return self._live(*pipe.execute())

    def dashboard_state(self) -> tuple[LiveRows, dict[str, Any] | None, Stats]:
        """Read live rows, the coverage snapshot and the counters in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        self._queue_live(pipe)
        pipe.get(K_COVERAGE)
        pipe.hgetall(K_STATS)
        pos, status, seen, lwt, coverage, stats = pipe.execute()
        return (self._live(pos, status, seen, lwt),
                json.loads(coverage) if coverage else None, self._stats(stats))

    @staticmethod
    def _queue_live(pipe: Any) -> None:
        pipe.hgetall(K_POS)
        pipe.hgetall(K_STATUS)
        # Raw ZRANGE: redis-py 8 re-encodes every score to bytes and back for withscores=True,
        # a third of this read at 10,000 units (live picture, issue 11).
        pipe.execute_command("ZRANGE", K_SEEN, 0, -1, "WITHSCORES")
        pipe.hgetall(K_LWT)

    @staticmethod
    def _live(pos: dict[bytes, bytes], status: dict[bytes, bytes], seen: list[Any],
              lwt: dict[bytes, bytes]) -> LiveRows:
        return LiveRows(
            # orjson: parsing every unit's JSON is most of a dashboard refresh at 10,000 units
            positions={as_text(k): orjson.loads(v) for k, v in pos.items()},
            statuses={as_text(k): orjson.loads(v) for k, v in status.items()},
            seen=_score_pairs(seen),
            lwt={as_text(k): float(v) for k, v in lwt.items()},
        )

    def stats(self) -> Stats:
        """Return the ingest counters."""
        return self._stats(cast(dict[bytes, bytes], self.r.hgetall(K_STATS)))

    @staticmethod
    def _stats(rows: dict[bytes, bytes]) -> Stats:
        raw = {as_text(k): as_text(v) for k, v in rows.items()}
        by_reason = {
            k.split(":", 1)[1]: int(v) for k, v in raw.items() if k.startswith("rejected:")
        }
        last = raw.get("last_message_ts")
        return Stats(
            accepted_total=int(raw.get("accepted_total", 0)),
            rejected_total=int(raw.get("rejected_total", 0)),
            duplicates_total=int(raw.get("duplicates_total", 0)),
            rejected_by_reason=by_reason,
            last_message_ts=float(last) if last else None,
        )

    def recent_rejections(self, limit: int = 50) -> list[dict[str, Any]]:
        """Return the most recent rejections, newest first."""
        rows = cast(list[bytes], self.r.lrange(K_REJECTIONS, 0, limit - 1))
        return [json.loads(r) for r in rows]

    def units_near(self, lat: float, lon: float, radius_m: float) -> list[tuple[str, float]]:
        """Return units within a radius of a point, nearest first, with distances in metres."""
        rows = self.r.geosearch(K_GEO, longitude=lon, latitude=lat, radius=radius_m, unit="m",
                                withdist=True, sort="ASC")
        return [(as_text(name), float(dist)) for name, dist in cast(list[Any], rows)]

    def unit_status(self, unit: str) -> dict[str, Any] | None:
        """Return a unit's latest status (``{status, ts, note}``), or None if it sent none."""
        raw = self.r.hget(K_STATUS, unit)
        return json.loads(cast(bytes, raw)) if raw else None

    def last_seen(self, unit: str) -> float | None:
        """Return the event time of a unit's newest accepted message, or None if never seen."""
        score = self.r.zscore(K_SEEN, unit)
        return None if score is None else float(score)

    def seen_units(self) -> list[str]:
        """Return every unit that has sent an accepted message."""
        return [as_text(u) for u in cast(list[bytes], self.r.zrange(K_SEEN, 0, -1))]

