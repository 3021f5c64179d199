"""The ingest's batch write: a whole batch in two round trips of a few commands.

Live state is one script on the ``{live}`` slot (``scripts.LIVE``): latest position and status
by effective time, EMERGENCY on arrival, the off-duty test, last-wills. On a single Redis the
same call also adds the trail points and their change-feed entries, so a batch of plain
positions is one command plus the counters. On Redis Cluster, where one script may only
touch one hash slot, trails follow in one script per slot and the feed in one more.

Positions found off duty are moved into ``batch.rejections``, so whatever reads the batch
afterwards (counters, metrics, callbacks) sees them as rejected. Trail points are ZSET
members, so the same message delivered twice is stored once; safe to retry after a failure.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from typing import Any, cast

import orjson
from redis.cluster import RedisCluster

from patrolwatch.core.model import Ack, Position, Reason, Rejection, Status, StatusChange
from patrolwatch.core.payloads import format_time
from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text, extras_tail, position_json
from patrolwatch.store.keys import (
    FEED_MAXLEN,
    K_ALARM_OUTBOX,
    K_ALARMS,
    K_ALARMS_EMERGENCY,
    K_ALARMS_OPEN,
    K_ALARMS_UNIT,
    K_AUDIT,
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
    extras_bucket,
    extras_expire_at,
    k_emergency_runs,
    k_status_ids,
    k_status_log,
    k_status_notes,
    k_timeline,
    k_trail,
    k_trail_extras,
    k_unit_events,
)
from patrolwatch.store.picture import batch_units, bump_live_version, mark_changed
from patrolwatch.store.scripts import (
    ALARMS,
    FEED,
    LIVE,
    REMOVE_TRAIL_RANGE,
    STATUS_LOG,
    TRAILS,
)
from patrolwatch.store.types import Batch, WriteResult

LIVE_KEYS = (K_POS, K_POS_TS, K_GEO, K_STATUS, K_STATUS_TS, K_SEEN, K_LWT, K_ALARM_OUTBOX)
ALARM_KEYS = (K_ALARMS, K_ALARMS_OPEN, K_ALARMS_UNIT, K_ALARMS_EMERGENCY)


def alarm_id(s: StatusChange) -> str:
    """Name the alarm an EMERGENCY raises from the message's identity (unit, ts, status).

    Not from its arrival: the same message delivered again (a retained copy at a restart or
    reconnect) names the same alarm, so it can never open a second one.
    """
    digest = hashlib.sha256(f"{s.ts!r}|{s.status.value}".encode()).hexdigest()[:16]
    return f"{s.unit}.{digest}"


def arrival_key(arrival: float) -> str:
    """Return an arrival as the fixed-width µs text timeline members sort by."""
    return f"{round(arrival * 1_000_000):017d}"


def _eval(pipe: Any, script: str, keys: Sequence[str], *args: Any) -> None:
    """Queue a script as EVAL.

    Not EVALSHA through redis-py's Script: in a pipeline that costs a SCRIPT EXISTS round trip
    per execute, and cluster pipelines refuse EVALSHA; EVAL is routed by its keys (all one
    hash slot on a cluster) and the server caches the compiled script.
    """
    pipe.execute_command("EVAL", script, len(keys), *keys, *args)


def _off_duty_rejection(p: Position) -> Rejection:
    """Reject a position sent off duty; no payload is kept of it (that is the point)."""
    topic = f"patrol/{p.unit}/position" if p.source == "native" else f"{p.source} ({p.unit})"
    return Rejection(Reason.OFF_DUTY, f"position at {format_time(p.ts)} falls in an OFF_DUTY "
                     f"period of unit {p.unit}; positions sent off duty are not kept",
                     topic, b"")


class _Prepared:
    """A batch's positions as the scripts take them: exact strings, computed once."""

    def __init__(self, positions: Sequence[Position]) -> None:
        # (unit, ts, effective, arrival, latest JSON, lon, lat, acc, extras)
        self.rows: list[list[Any]] = []
        for p in positions:
            ts = repr(p.ts)
            arrival = p.arrival
            if arrival is None:
                arrival = p.ts
            self.rows.append([p.unit, ts, ts if p.ts <= arrival else repr(arrival),
                              repr(arrival), position_json(p), repr(p.lon), repr(p.lat),
                              "" if p.acc is None else repr(p.acc), extras_tail(p)])


class BatchStore(StoreBase):
    """The ingest worker's writes."""

    def write_batch(self, batch: Batch, now: float | None = None) -> WriteResult:
        """Store a batch (module docstring); raises RedisError."""
        now = time.time() if now is None else now
        single = not isinstance(self.r, RedisCluster)
        prepared = _Prepared(batch.positions)
        pipe = self.r.pipeline(transaction=False)
        has_live = self._queue_live_script(pipe, batch, prepared, now, single)
        counted = single and has_live and bool(prepared.rows)  # the script counts (LIVE)
        cutoff = now - self.trail_retention_s
        for ev in batch.events:
            self._unit_event(pipe, ev.unit, {"ts": ev.ts, "event": ev.event,
                                              "description": ev.description})
        self._feed_others(pipe, batch.acks)
        # Which units the producer must read again (issue 20), before the version it polls.
        mark_changed(pipe, batch_units(batch))
        if batch.accepted:
            # Tell the live-picture producer live state changed (issue 11); last in the
            # pipeline, so the live script's result stays at index 0.
            bump_live_version(pipe)
        results = pipe.execute()
        moved, off, lwt, dels, trail_flags, sflags, alarms = (
            _live_result(results[0]) if has_live else (0, "", "", [], "", "", []))

        if "1" in off:
            gone = [p for p, f in zip(batch.positions, off, strict=True) if f == "1"]
            batch.positions[:] = [p for p, f in zip(batch.positions, off, strict=True)
                                  if f == "0"]
            prepared.rows = [r for r, f in zip(prepared.rows, off, strict=True) if f == "0"]
            batch.rejections.extend(_off_duty_rejection(p) for p in gone)
        pipe = self.r.pipeline(transaction=False)
        trail_calls = 0 if single else self._queue_trails(pipe, prepared, now)
        if not single and prepared.rows:
            _eval(pipe, FEED, [K_FEED], FEED_MAXLEN, orjson.dumps(
                [["k", "p", "u", r[0], "t", r[1], "la", r[6], "lo", r[5], "a", r[7]]
                 for r in prepared.rows]))
        self._queue_statuses(pipe, batch.statuses, sflags, alarms, cutoff)
        for lost, applied in zip(batch.lost, lwt, strict=True):
            self._unit_event(pipe, lost.unit, {"ts": lost.ts, "event": "lwt",
                                               "lost": applied == "1",
                                               "retained": lost.retained})
        self._log_rejections(pipe, batch.rejections, now)
        if single:
            new = trail_flags.count("1")
            # With positions, the live script counted what it stored (see scripts.LIVE).
            self._queue_counts(pipe, batch, len(batch.positions) - new, now,
                               stored_counted=counted)
            pipe.execute()
        else:
            results = pipe.execute()
            new = sum(as_text(results[i]).count("1") for i in range(trail_calls))
            counts = self.r.pipeline(transaction=False)
            self._queue_counts(counts, batch, len(batch.positions) - new, now)
            counts.execute()
        if dels:
            self._delete_off_duty(dels, now)
        return WriteResult(new_points=new, duplicate_points=len(batch.positions) - new,
                           moved_units=moved, off_duty=off.count("1"))

    def _queue_live_script(self, pipe: Any, batch: Batch, prepared: _Prepared, now: float,
                           single: bool) -> bool:
        """Queue the live-state script (with trails and feed on a single Redis)."""
        if not (batch.positions or batch.statuses or batch.lost or batch.acks or batch.events):
            return False
        statuses = []
        for s in batch.statuses:
            arrived = s.ts if s.arrival is None else s.arrival
            value = orjson.dumps({"status": s.status.value, "ts": s.ts, "note": s.note,
                                  "arrival": arrived}).decode()
            row = [s.unit, repr(s.ts), repr(min(s.ts, arrived)), repr(arrived),
                   1 if s.status is Status.EMERGENCY else 0, s.status.value, value,
                   arrival_key(arrived)]
            if s.status is Status.EMERGENCY:
                row += [alarm_id(s), orjson.dumps({
                    "id": alarm_id(s), "unit": s.unit, "ts": s.ts, "arrival": arrived,
                    "repeats": 0, "last_arrival": arrived, "note": s.note}).decode()]
            statuses.append(row)
        seen = [[a.unit, repr(min(a.ts, now))] for a in batch.acks]
        seen += [[e.unit, repr(min(e.ts, now))] for e in batch.events]
        keys = list(LIVE_KEYS)
        units: dict[str, int] = {}
        for unit in [*(s.unit for s in batch.statuses), *(p.unit for p in batch.positions)]:
            if unit not in units:
                units[unit] = len(keys) + 1
                keys += [k_timeline(unit), k_status_ids(unit), k_emergency_runs(unit)]
        body: dict[str, Any] = {"s": statuses, "p": prepared.rows, "seen": seen,
                                "l": [[lost.unit, repr(lost.ts)] for lost in batch.lost],
                                "u": units, "cut": repr(now - self.trail_retention_s),
                                "ttl": int(self.trail_retention_s + 2 * TRAIL_TRIM_EVERY_S)}
        if single and prepared.rows:
            keys.append(K_FEED)
            body["fi"] = len(keys)
            trails, trims, expires = self._trail_keys(prepared, now, first=len(keys) + 1)
            keys += trails
            body["t"] = trims
            body["xe"] = expires
            body["maxlen"] = FEED_MAXLEN
            keys.append(K_STATS)
            body["ci"] = len(keys)
            body["others"] = batch.accepted - len(batch.positions)
            body["now"] = repr(now)
        if single and batch.statuses:  # their log rows and feed entries in this call too
            if "fi" not in body:
                keys.append(K_FEED)
                body["fi"] = len(keys)
                body["maxlen"] = FEED_MAXLEN
            logs: dict[str, int] = {}
            for st in batch.statuses:
                if st.unit not in logs:
                    keys += [k_status_log(st.unit), k_status_notes(st.unit)]  # notes: +1
                    logs[st.unit] = len(keys) - 1
            body["sl"] = [logs[st.unit] for st in batch.statuses]
            body["sn"] = [st.note or "" for st in batch.statuses]
            body["slcut"] = repr(now - self.trail_retention_s)
        _eval(pipe, LIVE, keys, orjson.dumps(body))
        return True

    def _trail_keys(self, prepared: _Prepared, now: float, first: int
                    ) -> tuple[list[str], list[list[Any]], list[list[int]]]:
        """Number each row's trail key and extras bucket from ``first`` (appended to the row).

        Return the keys, the trims and the buckets' TTLs. Trimming every touched
        trail in every batch added two commands per position; a trail needs trimming about
        hourly, and its TTL outlasts retention by twice that. An extras bucket needs no
        trim: it expires whole once its points are past retention.
        """
        index: dict[str, int] = {}
        trails: dict[str, int] = {}
        buckets: dict[str, int] = {}
        for row in prepared.rows:
            trail = k_trail(row[0])
            bucket = extras_bucket(float(row[1]))
            extras = k_trail_extras(row[0], bucket)
            for key in (trail, extras):
                if key not in index:
                    index[key] = first + len(index)
            trails.setdefault(row[0], index[trail])
            buckets.setdefault(extras, bucket)
            row += [index[trail], index[extras]]
        cutoff = repr(now - self.trail_retention_s)
        ttl = int(self.trail_retention_s + 2 * TRAIL_TRIM_EVERY_S)
        trims = []
        for unit, i in trails.items():
            if now - self._trimmed.get(unit, -math.inf) >= TRAIL_TRIM_EVERY_S:
                self._trimmed[unit] = now
                trims.append([i, cutoff, ttl])
        # Seconds from the batch's own clock, as the trail's TTL is (EXPIRE, not EXPIREAT).
        expires = [[index[key], max(1, extras_expire_at(bucket, self.trail_retention_s)
                                    - int(now))] for key, bucket in buckets.items()]
        return list(index), trims, expires

    def _queue_trails(self, pipe: Any, prepared: _Prepared, now: float) -> int:
        """Queue one trail script per hash slot (Cluster); return how many were queued."""
        if not prepared.rows:
            return 0
        cluster = cast(RedisCluster, self.r)
        groups: dict[int, list[list[Any]]] = {}
        for row in prepared.rows:
            slot = cluster.keyslot(k_trail(row[0]))  # type: ignore[no-untyped-call]
            groups.setdefault(slot, []).append(row)
        for rows in groups.values():
            group = _Prepared([])
            group.rows = [r[:9] for r in rows]
            keys, trims, expires = self._trail_keys(group, now, first=1)
            points = [[r[9], r[1], f"{r[1]},{r[6]},{r[5]},{r[7]}", r[8], r[10]]
                      for r in group.rows]
            _eval(pipe, TRAILS, keys, orjson.dumps(points), orjson.dumps(trims),
                  orjson.dumps(expires))
        return len(groups)

    def _queue_statuses(self, pipe: Any, statuses: Sequence[StatusChange], flags: str,
                        alarms: Sequence[str], cutoff: float) -> None:
        """Queue what follows the live script for statuses new to it (core.timeline).

        The status log (with the status's note, ``scripts.STATUS_LOG``) and the change feed
        take each new status (on a single Redis the live script already did, in the same
        call); a status seen before or an EMERGENCY repeat takes nothing. The alarms the
        live script handed on (its outbox) are raised or folded, then taken off the outbox.
        """
        if not isinstance(self.r, RedisCluster):
            statuses, flags = [], ""  # the live script wrote their rows (scripts.LIVE, b.sl)
        entries: list[list[str]] = []
        for s, flag in zip(statuses, flags, strict=True):
            if flag != "1":
                continue
            _eval(pipe, STATUS_LOG, [k_status_log(s.unit), k_status_notes(s.unit)],
                  repr(s.ts), f"{s.ts!r}|{s.status.value}", s.note or "", repr(cutoff),
                  int(self.trail_retention_s + 2 * TRAIL_TRIM_EVERY_S))
            entries.append(["k", "s", "u", s.unit, "t", repr(s.ts), "s", s.status.value])
        if entries:
            _eval(pipe, FEED, [K_FEED], FEED_MAXLEN, orjson.dumps(entries))
        if alarms:
            rows = [orjson.loads(a) for a in alarms]
            _eval(pipe, ALARMS, ALARM_KEYS, orjson.dumps(rows))
            pipe.hdel(K_ALARM_OUTBOX, *(r[0] for r in rows))

    def _delete_off_duty(self, dels: Sequence[tuple[str, str, str]], now: float) -> None:
        """Delete what late OFF_DUTY statuses cover, and audit each deletion (period, count)."""
        pipe = self.r.pipeline(transaction=False)
        for unit, since, until in dels:
            pipe.zrangebyscore(k_trail(unit), since, until)
        found = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for (unit, since, until), members in zip(dels, found, strict=True):
            # The points' extras with them, in one call (one slot): under its ts or its member.
            index = {k_trail(unit): 1}
            fields: list[list[Any]] = []
            for m in members:
                ts = m.split(b",", 1)[0].decode()
                i = index.setdefault(k_trail_extras(unit, extras_bucket(float(ts))),
                                     len(index) + 1)
                fields += [[i, ts], [i, m.decode()]]
            _eval(pipe, REMOVE_TRAIL_RANGE, list(index), since, until, orjson.dumps(fields))
        counts = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for (unit, since, until), count in zip(dels, counts, strict=True):
            if not count:
                continue
            end = None if until == "+inf" else float(until.lstrip("("))
            entry = {"ts": now, "kind": "off_duty_deletion", "unit": unit, "actor": "ingest",
                     "since": float(since), "until": end, "count": int(count),
                     "detail": f"{count} positions of {unit} sent while OFF_DUTY from "
                               f"{format_time(float(since))} to "
                               f"{'now' if end is None else format_time(end)} deleted"}
            pipe.zadd(K_AUDIT, {json.dumps(entry, sort_keys=True): now})
        if len(pipe):
            pipe.execute()

    def _feed_others(self, pipe: Any, acks: Sequence[Ack]) -> None:
        """Append acks to the coverage evaluator's change feed (statuses: _queue_statuses)."""
        entries: list[list[str]] = []
        for a in acks:
            entries.append(["k", "a", "u", a.unit, "t", repr(a.ts), "i", a.id,
                            "ok", "1" if a.accepted else "0", "r", a.reason or ""])
        if entries:
            _eval(pipe, FEED, [K_FEED], FEED_MAXLEN, orjson.dumps(entries))

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

    @staticmethod
    def _queue_counts(pipe: Any, batch: Batch, duplicates: int, now: float,
                      stored_counted: bool = False) -> None:
        """Queue the counters; duplicates are only known from the write's results."""
        if batch.accepted and not stored_counted:
            pipe.hincrby(K_STATS, "accepted_total", batch.accepted - duplicates)
            pipe.hset(K_STATS, "last_message_ts", repr(now))
        if duplicates and not stored_counted:
            pipe.hincrby(K_STATS, "duplicates_total", duplicates)
        if batch.rejections:
            pipe.hincrby(K_STATS, "rejected_total", len(batch.rejections))
            by_reason: dict[str, int] = {}
            for rej in batch.rejections:
                by_reason[rej.reason.value] = by_reason.get(rej.reason.value, 0) + 1
            for reason, n in by_reason.items():
                pipe.hincrby(K_STATS, f"rejected:{reason}", n)

    def _unit_event(self, pipe: Any, unit: str, event: dict[str, Any]) -> None:
        pipe.lpush(k_unit_events(unit), json.dumps(event))
        pipe.ltrim(k_unit_events(unit), 0, UNIT_EVENTS_KEPT - 1)
        pipe.expire(k_unit_events(unit), int(self.trail_retention_s))


def _live_result(raw: Any
                 ) -> tuple[int, str, str, list[tuple[str, str, str]], str, str, list[str]]:
    """Decode the live script's reply: moved, off-duty, lwt flags, deletions, trails, statuses,
    alarms handed on."""
    moved, off, lwt, dels, trails, sflags, alarms = raw
    flat = [as_text(d) for d in dels]
    deletions = [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]
    return (int(moved), as_text(off), as_text(lwt), deletions, as_text(trails),
            as_text(sflags), [as_text(a) for a in alarms])
