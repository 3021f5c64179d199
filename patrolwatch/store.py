"""The one module that touches Redis: key names, TTLs, writes and reads of live state.

Keys that are read or written together share a hash tag (``{live}``, ``{stats}``,
``{cov}``, ``{task}``) so the same code runs on Redis/Valkey Cluster; per-unit trails carry
the unit id as their tag. The dashboard's reads are answered from indexes the writer keeps
(hashes, a GEO set, sorted sets), each in one pipelined round trip: no SCAN or KEYS.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import redis

from patrolwatch.core.model import (
    Ack,
    LostContact,
    Position,
    Rejection,
    StatusChange,
    UnitEvent,
)
from patrolwatch.settings import Settings

log = logging.getLogger(__name__)

# --- keys -------------------------------------------------------------------------------
K_POS = "pw:{live}:pos"  # HASH unit -> JSON latest position (by event time)
K_POS_TS = "pw:{live}:pos_ts"  # HASH unit -> event time of that position
K_GEO = "pw:{live}:geo"  # GEO unit -> latest position
K_STATUS = "pw:{live}:status"  # HASH unit -> JSON latest status
K_STATUS_TS = "pw:{live}:status_ts"  # HASH unit -> event time of that status
K_SEEN = "pw:{live}:seen"  # ZSET unit -> event time of the newest accepted message
K_LWT = "pw:{live}:lwt"  # HASH unit -> time of the last OwnTracks last-will
K_STATS = "pw:{stats}"  # HASH counters, last_message_ts
K_REJECTIONS = "pw:{stats}:rejections"  # LIST recent rejections, newest first
K_FEED = "pw:{cov}:feed"  # STREAM of accepted positions/statuses for the coverage evaluator
K_EVAL_LOCK = "pw:{cov}:lock"  # one coverage evaluator at a time
K_COVERAGE = "pw:{cov}:snapshot"  # STRING JSON of the latest coverage evaluation
K_COV_EVENTS = "pw:{cov}:events"  # LIST recent gap opened/closed events, newest first
K_TASKINGS = "pw:{task}:all"  # HASH tasking id -> JSON tasking
K_TASKINGS_OPEN = "pw:{task}:open"  # SET ids of open taskings
K_AUDIT = "pw:{task}:audit"  # ZSET score=time, member=JSON audit entry (taskings, emergencies)
K_EMERGENCY_ACK = "pw:{task}:emergency_ack"  # HASH unit -> JSON {by, ts, status_ts}


def k_trail(unit: str) -> str:
    """Return the key of a unit's trail (ZSET score=event time, member=packed point)."""
    return f"pw:trail:{{{unit}}}"


def k_status_log(unit: str) -> str:
    """Return the key of a unit's status history (ZSET score=event time)."""
    return f"pw:statuslog:{{{unit}}}"


def k_visits(hotspot: str) -> str:
    """Return the key of a hotspot's visits (ZSET score=start, member=JSON visit)."""
    return f"pw:visits:{{{hotspot}}}"


def k_unit_events(unit: str) -> str:
    """Return the key of a unit's recent events (OwnTracks transitions, last-wills)."""
    return f"pw:events:{{{unit}}}"


UNIT_EVENTS_KEPT = 200
COVERAGE_EVENTS_KEPT = 500
VISIT_MAX_S = 86_400.0  # visits are looked up by start time; none is assumed longer than this
VISITS_RETENTION_S = 400 * 86_400.0  # aggregated dosage outlives raw positions (DOMAIN.md)
FEED_MAXLEN = 2_000_000  # about 3 h of a 10,000-unit fleet at one position every 5 s
TRAIL_TRIM_EVERY_S = 3600.0  # trim a unit's trail and re-arm its TTL at most this often

# Set a hash field only if the new event time is later; GEOADD with it for positions.
# KEYS: value hash, ts hash, [geo]; ARGV: stride, then (field, ts, value[, lon, lat]) tuples.
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


def pack_point(p: Position) -> str:
    """Pack a trail point; identical messages pack identically, so re-deliveries store once."""
    acc = "" if p.acc is None else repr(p.acc)
    return f"{p.ts!r},{p.lat!r},{p.lon!r},{acc}"


def unpack_point(member: str | bytes) -> tuple[float, float, float, float | None]:
    """Unpack a trail point into (ts, lat, lon, acc)."""
    text = member.decode() if isinstance(member, bytes) else member
    ts, lat, lon, acc = text.split(",")
    return float(ts), float(lat), float(lon), (float(acc) if acc else None)


def _position_json(p: Position) -> str:
    return json.dumps(
        {"ts": p.ts, "lat": p.lat, "lon": p.lon, "acc": p.acc, "speed": p.speed,
         "heading": p.heading, "battery": p.battery, "seq": p.seq, "source": p.source},
        separators=(",", ":"),
    )


@dataclass
class Batch:
    """Everything one worker round trip stores."""

    positions: list[Position] = field(default_factory=list)
    statuses: list[StatusChange] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    lost: list[LostContact] = field(default_factory=list)
    events: list[UnitEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.positions) + len(self.statuses) + len(self.acks) + len(self.lost)
                + len(self.events) + len(self.rejections))

    @property
    def accepted(self) -> int:
        """Return how many accepted messages the batch holds."""
        return len(self) - len(self.rejections)


@dataclass(frozen=True)
class WriteResult:
    """What a batch write changed."""

    new_points: int
    duplicate_points: int
    moved_units: int


@dataclass(frozen=True)
class Stats:
    """Ingest counters for /healthz and the dashboard."""

    accepted_total: int
    rejected_total: int
    duplicates_total: int
    rejected_by_reason: dict[str, int]
    last_message_ts: float | None


@dataclass(frozen=True)
class LiveRows:
    """Raw live state of every unit that has sent anything, read in one round trip."""

    positions: dict[str, dict[str, Any]]
    statuses: dict[str, dict[str, Any]]
    seen: dict[str, float]
    lwt: dict[str, float]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Store:
    """Live state in Redis: writes for the ingest worker, reads for the dashboard and API."""

    def __init__(self, client: redis.Redis, *, trail_retention_s: float = 31 * 86400.0,
                 audit_retention_s: float = 31 * 86400.0, rejection_log_size: int = 500) -> None:
        self.r = client
        self.trail_retention_s = trail_retention_s
        self.audit_retention_s = audit_retention_s
        self.rejection_log_size = rejection_log_size
        # unit -> when this process last trimmed its trail: housekeeping, not shared state
        self._trimmed: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Connect with the settings' URL and retention periods."""
        return cls.from_url(settings.redis_url, trail_retention_s=settings.trail_retention_s,
                            audit_retention_s=settings.audit_retention_days * 86400.0,
                            rejection_log_size=settings.rejection_log_size)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        """Connect lazily to Redis/Valkey at ``url``; short timeouts so callers retry."""
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                      health_check_interval=10)
        return cls(client, **kwargs)

    def ping(self) -> bool:
        """Tell whether Redis answers now."""
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False

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
                args += [p.unit, repr(p.ts), _position_json(p), p.lon, p.lat]
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
        pipe.zrange(K_SEEN, 0, -1, withscores=True)
        pipe.hgetall(K_LWT)

    @staticmethod
    def _live(pos: dict[bytes, bytes], status: dict[bytes, bytes], seen: list[Any],
              lwt: dict[bytes, bytes]) -> LiveRows:
        return LiveRows(
            # orjson: parsing every unit's JSON is most of a dashboard refresh at 10,000 units
            positions={_text(k): orjson.loads(v) for k, v in pos.items()},
            statuses={_text(k): orjson.loads(v) for k, v in status.items()},
            seen={_text(k): float(v) for k, v in seen},
            lwt={_text(k): float(v) for k, v in lwt.items()},
        )

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
            ts, status = _text(row).split("|", 1)
            out.append((float(ts), status))
        return out

    def unit_events(self, unit: str, limit: int = 50) -> list[dict[str, Any]]:
        """Return a unit's recent events, newest first."""
        rows = cast(list[bytes], self.r.lrange(k_unit_events(unit), 0, limit - 1))
        return [json.loads(r) for r in rows]

    def stats(self) -> Stats:
        """Return the ingest counters."""
        return self._stats(cast(dict[bytes, bytes], self.r.hgetall(K_STATS)))

    @staticmethod
    def _stats(rows: dict[bytes, bytes]) -> Stats:
        raw = {_text(k): _text(v) for k, v in rows.items()}
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
        return [(_text(name), float(dist)) for name, dist in cast(list[Any], rows)]

    # --- coverage change feed ---------------------------------------------------------------
    def read_feed(self, after: str, count: int = 10_000) -> list[tuple[str, dict[str, str]]]:
        """Return change-feed entries after the given stream id."""
        rows = self.r.xread({K_FEED: after}, count=count)
        if not rows:
            return []
        entries = cast(list[Any], rows)[0][1]
        return [
            (_text(eid), {_text(k): _text(v) for k, v in data.items()}) for eid, data in entries
        ]

    def feed_last_id(self) -> str:
        """Return the id of the newest change-feed entry (``0-0`` when empty)."""
        info = cast(list[Any], self.r.xrevrange(K_FEED, count=1))
        return _text(info[0][0]) if info else "0-0"

    def acquire_evaluator_lock(self, owner: str, ttl_s: float) -> bool:
        """Take or renew the single-evaluator lock; tell whether this owner holds it."""
        ms = int(ttl_s * 1000)
        if self.r.set(K_EVAL_LOCK, owner, nx=True, px=ms):
            return True
        holder = self.r.get(K_EVAL_LOCK)
        if holder is not None and _text(cast(bytes, holder)) == owner:
            self.r.pexpire(K_EVAL_LOCK, ms)
            return True
        return False

    def release_evaluator_lock(self, owner: str) -> None:
        """Give up the evaluator lock if this owner holds it."""
        holder = self.r.get(K_EVAL_LOCK)
        if holder is not None and _text(cast(bytes, holder)) == owner:
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
            visits = [json.loads(r) for r in rows]
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
        return [_text(u) for u in cast(list[bytes], self.r.zrange(K_SEEN, 0, -1))]

    # --- taskings and audit ---------------------------------------------------------------------
    def save_tasking(self, tasking: dict[str, Any], is_open: bool,
                     audit: dict[str, Any] | None = None) -> None:
        """Store a tasking, keep the open set in step, and audit the change, in one transaction."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(K_TASKINGS, tasking["id"], json.dumps(tasking))
        if is_open:
            pipe.sadd(K_TASKINGS_OPEN, tasking["id"])
        else:
            pipe.srem(K_TASKINGS_OPEN, tasking["id"])
        if audit is not None:
            self._audit(pipe, audit)
        pipe.execute()

    def _audit(self, pipe: Any, entry: dict[str, Any]) -> None:
        pipe.zadd(K_AUDIT, {json.dumps(entry, sort_keys=True): entry["ts"]})
        pipe.zremrangebyscore(K_AUDIT, "-inf", entry["ts"] - self.audit_retention_s)

    def audit(self, entry: dict[str, Any]) -> None:
        """Append one entry to the audit log."""
        pipe = self.r.pipeline(transaction=False)
        self._audit(pipe, entry)
        pipe.execute()

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest audit entries first."""
        rows = cast(list[bytes], self.r.zrevrange(K_AUDIT, 0, limit - 1))
        return [json.loads(r) for r in rows]

    def tasking(self, tasking_id: str) -> dict[str, Any] | None:
        """Return one tasking, or None."""
        raw = self.r.hget(K_TASKINGS, tasking_id)
        return json.loads(cast(bytes, raw)) if raw else None

    def taskings(self) -> list[dict[str, Any]]:
        """Return every kept tasking, newest first."""
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_TASKINGS))
        out = [json.loads(v) for v in rows.values()]
        return sorted(out, key=lambda t: t["created"], reverse=True)

    def open_taskings(self) -> list[dict[str, Any]]:
        """Return the open taskings in one round trip."""
        ids = cast(set[bytes], self.r.smembers(K_TASKINGS_OPEN))
        if not ids:
            return []
        rows = cast(list[bytes | None], self.r.hmget(K_TASKINGS, list(ids)))
        return [json.loads(r) for r in rows if r]

    def forget_taskings(self, ids: Iterable[str]) -> None:
        """Drop closed taskings past retention (their audit entries expire on their own)."""
        names = list(ids)
        if names:
            self.r.hdel(K_TASKINGS, *names)

    def acknowledge_emergency(self, unit: str, by: str, status_ts: float, now: float) -> None:
        """Record that a supervisor acknowledged a unit's current emergency, and audit it."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(K_EMERGENCY_ACK, unit, json.dumps({"by": by, "ts": now,
                                                     "status_ts": status_ts}))
        self._audit(pipe, {"ts": now, "kind": "emergency_ack", "unit": unit, "actor": by,
                           "detail": f"emergency of {unit} acknowledged by {by}"})
        pipe.execute()

    def emergency_acks(self) -> dict[str, dict[str, Any]]:
        """Return the latest emergency acknowledgement per unit."""
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_EMERGENCY_ACK))
        return {_text(k): json.loads(v) for k, v in rows.items()}

    def units_in_trails(self, units: Iterable[str]) -> dict[str, int]:
        """Return trail sizes for the given units in one round trip."""
        names = list(units)
        pipe = self.r.pipeline(transaction=False)
        for unit in names:
            pipe.zcard(k_trail(unit))
        return dict(zip(names, (int(n) for n in pipe.execute()), strict=True))

    # --- observed time (coverage evaluator) --------------------------------------------------
    # Added by the coverage branch as one block, to move into the store package as it stands.
    # ZSET member "start|end" (repr floats), score = end: intervals are disjoint, so ordering
    # by end is ordering by start, and "overlaps [since, ...)" is one ZRANGEBYSCORE on end.
    K_OBSERVED = "pw:{cov}:observed"

    def replace_observed_after(self, changed_from: float,
                               intervals: Iterable[tuple[float, float]]) -> None:
        """Replace stored observed intervals ending after ``changed_from`` with these."""
        pipe = self.r.pipeline(transaction=True)
        pipe.zremrangebyscore(self.K_OBSERVED, f"({changed_from!r}", "+inf")
        members = {f"{a!r}|{b!r}": b for a, b in intervals}
        if members:
            pipe.zadd(self.K_OBSERVED, members)
        pipe.zremrangebyscore(self.K_OBSERVED, "-inf", time.time() - VISITS_RETENTION_S)
        pipe.expire(self.K_OBSERVED, int(VISITS_RETENTION_S))
        pipe.execute()

    def observed_intervals(self, since: float, until: float) -> list[tuple[float, float]]:
        """Return the stored observed intervals overlapping [since, until), oldest first."""
        rows = cast(list[bytes], self.r.zrangebyscore(self.K_OBSERVED, f"({since!r}", "+inf"))
        out = []
        for row in rows:
            a, b = (float(x) for x in _text(row).split("|", 1))
            if a >= until:
                break
            out.append((a, b))
        return out


def visit_member(visit: dict[str, Any]) -> str:
    """Serialise a visit deterministically, so the same visit is always the same member."""
    return json.dumps({"unit": visit["unit"], "start": visit["start"], "end": visit["end"],
                       "pings": visit["pings"]}, separators=(",", ":"), sort_keys=True)


def points_for(units: Sequence[str], store: Store, since: float, until: float
               ) -> dict[str, list[tuple[float, float, float, float | None]]]:
    """Read several units' trails in one pipelined round trip."""
    pipe = store.r.pipeline(transaction=False)
    for unit in units:
        pipe.zrangebyscore(k_trail(unit), since, until)
    return {unit: [unpack_point(m) for m in rows]
            for unit, rows in zip(units, pipe.execute(), strict=True)}
