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
from redis.cluster import RedisCluster

from patrolwatch.core.model import Position, Reason, Rejection, Status, StatusChange
from patrolwatch.core.ordering import effective_time
from patrolwatch.core.payloads import format_time
from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text, pack_point, position_json
from patrolwatch.store.keys import (
    ALARMS_OPEN_PER_UNIT,
    DUTY_KEPT,
    FEED_MAXLEN,
    K_ALARMS,
    K_ALARMS_OPEN,
    K_ALARMS_UNIT,
    K_COVERAGE,
    K_DUTY,
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
from patrolwatch.store.scripts import ALARMS, FEED, LIVE, TRAILS
from patrolwatch.store.types import Batch, LiveRows, Stats, WriteResult


def _stamp(ts: float, arrival: float | None) -> tuple[str, str]:
    """Return (effective time, arrival) as exact strings for the Lua (core.ordering)."""
    arrived = ts if arrival is None else arrival
    return repr(effective_time(ts, arrived)), repr(arrived)


def alarm_id(s: StatusChange) -> str:
    """Name the alarm an EMERGENCY raises: the same message again names the same alarm."""
    arrived = s.ts if s.arrival is None else s.arrival
    return f"{s.unit}.{round(arrived * 1_000_000)}"


def _eval(pipe: Any, script: str, keys: Sequence[str], *args: Any) -> None:
    """Queue a script as EVAL.

    Not EVALSHA through redis-py's Script: in a pipeline that costs a SCRIPT EXISTS round trip
    per execute, and cluster pipelines refuse EVALSHA; EVAL is routed by its keys (all one
    hash slot) and the server caches the compiled script.
    """
    pipe.execute_command("EVAL", script, len(keys), *keys, *args)


def _off_duty_rejection(p: Position) -> Rejection:
    """Reject a position sent off duty; no payload is kept of it (that is the point)."""
    topic = f"patrol/{p.unit}/position" if p.source == "native" else f"owntracks ({p.unit})"
    return Rejection(Reason.OFF_DUTY, f"position at {format_time(p.ts)} falls in an OFF_DUTY "
                     f"period of unit {p.unit}; positions sent off duty are not kept",
                     topic, b"")


class LiveStore(StoreBase):
    """Writes of the ingest worker and reads of live state."""

    # --- writes (ingest) ------------------------------------------------------------------
    def write_batch(self, batch: Batch, now: float | None = None) -> WriteResult:
        """Store a batch in three round trips of a few commands each; raises RedisError.

        First live state (one script on the ``{live}`` slot: latest position and status by
        effective time, EMERGENCY on arrival, off-duty test, last-wills); then trails (one
        script per hash slot), status logs, the change feed, alarms and the rejection log;
        then counters. Positions found off duty are moved into ``batch.rejections``, so
        whatever reads the batch afterwards (metrics, callbacks) sees them as rejected.
        Trail points are ZSET members, so the same message delivered twice is stored once;
        safe to retry after a failure.
        """
        now = time.time() if now is None else now
        moved, off_flags, lwt_flags, deletions = self._write_live(batch, now)
        if "1" in off_flags:
            kept = [p for p, f in zip(batch.positions, off_flags, strict=True) if f == "0"]
            gone = [p for p, f in zip(batch.positions, off_flags, strict=True) if f == "1"]
            batch.positions[:] = kept
            batch.rejections.extend(_off_duty_rejection(p) for p in gone)
        pipe = self.r.pipeline(transaction=False)
        trail_calls = self._queue_trails(pipe, batch.positions, now)
        cutoff = now - self.trail_retention_s
        for unit, since, until in deletions:
            pipe.zremrangebyscore(k_trail(unit), since, until)
        for s in batch.statuses:
            pipe.zadd(k_status_log(s.unit), {f"{s.ts!r}|{s.status.value}": s.ts})
            pipe.zremrangebyscore(k_status_log(s.unit), "-inf", cutoff)
        for lost, applied in zip(batch.lost, lwt_flags, strict=True):
            self._unit_event(pipe, lost.unit, {"ts": lost.ts, "event": "lwt",
                                               "lost": applied == "1",
                                               "retained": lost.retained})
        for ev in batch.events:
            self._unit_event(pipe, ev.unit, {"ts": ev.ts, "event": ev.event,
                                              "description": ev.description})
        self._queue_alarms(pipe, [s for s in batch.statuses if s.status is Status.EMERGENCY])
        self._feed(pipe, batch)
        self._log_rejections(pipe, batch.rejections, now)
        results = pipe.execute()

        new = sum(str(flags).count("1") for flags in
                  (as_text(results[i]) for i in range(trail_calls)))
        dup = len(batch.positions) - new
        self._count(batch, dup, now)
        return WriteResult(new_points=new, duplicate_points=dup, moved_units=moved,
                           off_duty=off_flags.count("1"))

    def _write_live(self, batch: Batch, now: float
                    ) -> tuple[int, str, str, list[tuple[str, str, str]]]:
        """Run the live-state script; return (moved, off-duty flags, lwt flags, deletions)."""
        if not (batch.positions or batch.statuses or batch.lost or batch.acks or batch.events):
            return 0, "", "", []
        statuses = []
        for s in batch.statuses:
            eff, arrived = _stamp(s.ts, s.arrival)
            value = orjson.dumps({"status": s.status.value, "ts": s.ts, "note": s.note,
                                  "arrival": float(arrived)}).decode()
            statuses.append([s.unit, repr(s.ts), eff, arrived,
                             1 if s.status is Status.EMERGENCY else 0, s.status.value, value])
        positions = []
        for p in batch.positions:
            eff, arrived = _stamp(p.ts, p.arrival)
            positions.append([p.unit, repr(p.ts), eff, arrived, position_json(p),
                              repr(p.lon), repr(p.lat)])
        seen = [[a.unit, repr(min(a.ts, now))] for a in batch.acks]
        seen += [[e.unit, repr(min(e.ts, now))] for e in batch.events]
        payload = orjson.dumps({"s": statuses, "p": positions, "seen": seen,
                                "l": [[lost.unit, repr(lost.ts)] for lost in batch.lost],
                                "kept": DUTY_KEPT})
        pipe = self.r.pipeline(transaction=False)
        _eval(pipe, LIVE, [K_POS, K_POS_TS, K_GEO, K_STATUS, K_STATUS_TS, K_SEEN, K_LWT, K_DUTY],
              payload)
        moved, off, lwt, dels = pipe.execute()[0]
        flat = [as_text(d) for d in dels]
        deletions = [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]
        return int(moved), as_text(off), as_text(lwt), deletions

    def _queue_trails(self, pipe: Any, positions: Sequence[Position], now: float) -> int:
        """Queue one trail script per hash slot; return how many were queued."""
        if not positions:
            return 0
        groups: dict[int, tuple[list[str], list[list[Any]], list[list[Any]]]] = {}
        index: dict[str, tuple[int, int]] = {}
        cluster = isinstance(self.r, RedisCluster)
        for p in positions:
            key = k_trail(p.unit)
            where = index.get(key)
            if where is None:
                slot = cast(RedisCluster, self.r).keyslot(key) if cluster else 0  # type: ignore[no-untyped-call]
                keys, _, _ = groups.setdefault(slot, ([], [], []))
                keys.append(key)
                where = index[key] = (slot, len(keys))
            groups[where[0]][1].append([where[1], repr(p.ts), pack_point(p)])
        # Trimming every touched trail in every batch added two commands per position; a
        # trail needs trimming about hourly, and its TTL outlasts retention by twice that.
        cutoff = repr(now - self.trail_retention_s)
        ttl = int(self.trail_retention_s + 2 * TRAIL_TRIM_EVERY_S)
        for key, (slot, i) in index.items():
            unit = key[len("pw:trail:{"):-1]
            if now - self._trimmed.get(unit, -math.inf) < TRAIL_TRIM_EVERY_S:
                continue
            self._trimmed[unit] = now
            groups[slot][2].append([i, cutoff, ttl])
        for keys, points, trims in groups.values():
            _eval(pipe, TRAILS, keys, orjson.dumps(points), orjson.dumps(trims))
        return len(groups)

    def _queue_alarms(self, pipe: Any, emergencies: Sequence[StatusChange]) -> None:
        """Open one alarm per EMERGENCY that arrived (CONTRACT.md: each acknowledged alone)."""
        if not emergencies:
            return
        rows = [[alarm_id(s), s.unit, repr(s.ts if s.arrival is None else s.arrival),
                 orjson.dumps({"id": alarm_id(s), "unit": s.unit, "ts": s.ts,
                               "arrival": s.ts if s.arrival is None else s.arrival,
                               "note": s.note}).decode()]
                for s in emergencies]
        _eval(pipe, ALARMS, [K_ALARMS, K_ALARMS_OPEN, K_ALARMS_UNIT], orjson.dumps(rows),
              ALARMS_OPEN_PER_UNIT)

    def _log_rejections(self, pipe: Any, rejections: Sequence[Rejection], now: float) -> None:
        """Push the batch's rejections in one command: a flood must not cost one per message."""
        if not rejections:
            return
        keep = rejections[-self.rejection_log_size:]
        pipe.lpush(K_REJECTIONS, *(orjson.dumps({
            "ts": now, "reason": rej.reason.value, "detail": rej.detail, "topic": rej.topic,
            "payload": rej.payload_head[:200].decode("utf-8", errors="backslashreplace"),
        }) for rej in keep))
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
        """Append accepted positions, statuses and acks to the coverage evaluator's feed."""
        entries: list[list[str]] = []
        for p in batch.positions:
            entries.append(["k", "p", "u", p.unit, "t", repr(p.ts), "la", repr(p.lat),
                            "lo", repr(p.lon), "a", "" if p.acc is None else repr(p.acc)])
        for s in batch.statuses:
            entries.append(["k", "s", "u", s.unit, "t", repr(s.ts), "s", s.status.value])
        for a in batch.acks:
            entries.append(["k", "a", "u", a.unit, "t", repr(a.ts), "i", a.id,
                            "ok", "1" if a.accepted else "0", "r", a.reason or ""])
        if entries:
            _eval(pipe, FEED, [K_FEED], FEED_MAXLEN, orjson.dumps(entries))

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
        pipe.zrange(K_SEEN, 0, -1, withscores=True)
        pipe.hgetall(K_LWT)

    @staticmethod
    def _live(pos: dict[bytes, bytes], status: dict[bytes, bytes], seen: list[Any],
              lwt: dict[bytes, bytes]) -> LiveRows:
        return LiveRows(
            # orjson: parsing every unit's JSON is most of a dashboard refresh at 10,000 units
            positions={as_text(k): orjson.loads(v) for k, v in pos.items()},
            statuses={as_text(k): orjson.loads(v) for k, v in status.items()},
            seen={as_text(k): float(v) for k, v in seen},
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
            acks_unknown_total=int(raw.get("acks_unknown_total", 0)),
            acks_repeated_total=int(raw.get("acks_repeated_total", 0)),
        )

    def count_unknown_acks(self, unknown: int, repeated: int = 0) -> None:
        """Count acks not audited: for no open tasking of their unit, or a repeated answer."""
        if unknown or repeated:
            pipe = self.r.pipeline(transaction=False)
            pipe.hincrby(K_STATS, "acks_unknown_total", unknown)
            pipe.hincrby(K_STATS, "acks_repeated_total", repeated)
            pipe.execute()

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

