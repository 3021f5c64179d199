"""Alarms of every kind on the emergency's records, welfare check-ins, and the webhook queue.

Every alarm is a record in ``K_ALARMS`` (open ones in ``K_ALARMS_OPEN``), whatever its kind;
this part raises the kinds beyond EMERGENCY (once per cause: ``RAISE``), clears, escalates and
acknowledges them, announces each change once (to devices and webhooks), and keeps the
check-ins a welfare rule asks. Key names: ``store/keys.py``; Lua: ``store/alarm_scripts.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any, cast

import redis

from patrolwatch.core.alarms import EMERGENCY, Raise, kind_of
from patrolwatch.store.alarm_scripts import CHECKIN_END, CLOSE, ESCALATE, RAISE
from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text
from patrolwatch.store.keys import (
    ALARM_FOLD_WINDOW_S,
    ALARMS_OPEN_PER_UNIT,
    K_ALARM_LATCH,
    K_ALARM_LOCK,
    K_ALARM_OUTBOX,
    K_ALARM_SPELLS,
    K_ALARMS,
    K_ALARMS_ACKED,
    K_ALARMS_ANNOUNCED,
    K_ALARMS_EMERGENCY,
    K_ALARMS_OPEN,
    K_ALARMS_UNIT,
    K_AUDIT,
    K_CHECKIN_LAST,
    K_CHECKINS,
    K_CHECKINS_OPEN,
    K_WEBHOOKS,
)
from patrolwatch.store.scripts import ACK_ALARM

# Past this many open alarms of the kinds below EMERGENCY, a unit's new causes are not stored
# (at most one open alarm per kind anyway, through the latch): EMERGENCY keeps its room.
RULE_ALARMS_OPEN_PER_UNIT = 8
CHECKINS_KEPT_S = 7 * 86_400.0
Body = Callable[[dict[str, Any], str], str]  # (record, event) -> JSON body of a webhook call


def _decode(raw: Any) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(raw))


class AlarmStore(StoreBase):
    """Alarms beyond EMERGENCY, check-ins and webhook jobs."""

    # --- raising and clearing -----------------------------------------------------------------
    def raise_alarm(self, found: Raise, now: float) -> int:
        """Store an alarm for a cause once (1), fold it into the unit's open one (2), or 0."""
        record = {"id": found.id, "unit": found.unit, "kind": found.kind, "ts": found.cause,
                  "arrival": now, "repeats": 0, "last_arrival": now, "detail": found.detail}
        return int(cast(int, self.r.eval(
            RAISE, 4, K_ALARMS, K_ALARMS_OPEN, K_ALARMS_UNIT, K_ALARM_LATCH, found.id,
            found.unit, found.kind, repr(now), json.dumps(record),
            min(RULE_ALARMS_OPEN_PER_UNIT, ALARMS_OPEN_PER_UNIT), ALARM_FOLD_WINDOW_S)))

    def close_alarm(self, alarm_id: str, now: float) -> dict[str, Any] | None:
        """Clear an open alarm its unit ended itself; None if it was not open."""
        raw = self.r.eval(CLOSE, 3, K_ALARMS, K_ALARMS_OPEN, K_ALARMS_UNIT, alarm_id, repr(now))
        return _decode(raw) if raw else None

    def escalate(self, ids: Iterable[str], now: float) -> list[dict[str, Any]]:
        """Mark open alarms escalated, each once; return those marked now."""
        names = list(ids)
        if not names:
            return []
        rows = cast(list[bytes], self.r.eval(ESCALATE, 2, K_ALARMS, K_ALARMS_OPEN, repr(now),
                                             *names))
        return [_decode(r) for r in rows]

    def battery_spells(self) -> dict[str, float]:
        """Return each unit's low-battery spell start."""
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_ALARM_SPELLS))
        return {as_text(k).split("|")[0]: float(v) for k, v in rows.items()}

    def set_battery_spells(self, started: dict[str, float], ended: Iterable[str]) -> None:
        """Record spells that began and forget those that ended, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for unit, since in started.items():
            pipe.hset(K_ALARM_SPELLS, f"{unit}|battery_low", repr(since))
        for unit in ended:
            pipe.hdel(K_ALARM_SPELLS, f"{unit}|battery_low")
        pipe.execute()

    # --- reading --------------------------------------------------------------------------
    def recent_alarms(self, now: float, recent_s: float = 3600.0) -> list[dict[str, Any]]:
        """Return open alarms and those acknowledged within ``recent_s``, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrange(K_ALARMS_OPEN, 0, -1)
        pipe.zrangebyscore(K_ALARMS_ACKED, now - recent_s, "+inf")
        open_ids, acked = pipe.execute()
        ids = list(dict.fromkeys([*open_ids, *acked]))
        if not ids:
            return []
        rows = cast(list[bytes | None], self.r.hmget(K_ALARMS, ids))
        return [_decode(r) for r in rows if r]

    def all_alarms(self) -> list[dict[str, Any]]:
        """Return every kept alarm record (the operation report)."""
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_ALARMS))
        return [_decode(v) for v in rows.values()]

    def emergency_units(self) -> set[str]:
        """Return every unit an EMERGENCY alarm was raised or folded for, or waits to be.

        Every EMERGENCY new to a unit's timeline (the ones its status log keeps) goes through
        the alarm outbox into ``K_ALARMS_EMERGENCY`` (unit -> its newest emergency alarm),
        which nothing trims: so a unit outside this set has no EMERGENCY in Redis, however
        long ago its alarms were forgotten. The operation report reads only these status logs.
        """
        units = {as_text(u) for u in cast(list[bytes], self.r.hkeys(K_ALARMS_EMERGENCY))}
        for raw in cast(list[bytes], self.r.hvals(K_ALARM_OUTBOX)):
            units.add(str(json.loads(raw)[1]))  # [id, unit, arrival, record]
        return units

    # --- acknowledging ------------------------------------------------------------------------
    def acknowledge(self, alarm_id: str, by: str, now: float) -> dict[str, Any] | None:
        """Acknowledge one open alarm of any kind and audit it; None if not open."""
        raw = self.r.eval(ACK_ALARM, 3, K_ALARMS, K_ALARMS_OPEN, K_ALARMS_UNIT, alarm_id, by,
                          repr(now))
        if not raw:
            return None
        record = _decode(raw)
        kind = kind_of(record)
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(K_ALARMS_ACKED, {alarm_id: now})
        pipe.zremrangebyscore(K_ALARMS_ACKED, "-inf", now - self.audit_retention_s)
        entry = {"ts": now, "kind": "emergency_ack" if kind == EMERGENCY else "alarm_ack",
                 "unit": record["unit"], "actor": by, "alarm": alarm_id, "alarm_kind": kind,
                 "detail": f"{kind} alarm {alarm_id} of {record['unit']} acknowledged by {by}"}
        pipe.zadd(K_AUDIT, {json.dumps(entry, sort_keys=True): now})
        pipe.execute()
        return record

    # --- announcing each change once ------------------------------------------------------------
    def announce(self, now: float, urls: Iterable[str],
                 body: Body) -> list[tuple[dict[str, Any], str]]:
        """Find alarms opened, acknowledged or cleared since the last call; queue their webhooks.

        Returns ``(record, state)`` pairs for the devices. The announced set and the webhook
        jobs change in one transaction watched on that set, so two evaluators (a lock that
        lapsed) never announce one change twice.
        """
        targets = list(urls)
        with self.r.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(K_ALARMS_ANNOUNCED)  # type: ignore[no-untyped-call]
                    open_ids = {as_text(i) for i in cast(list[bytes],
                                                         pipe.zrange(K_ALARMS_OPEN, 0, -1))}
                    told = {as_text(i) for i in cast(set[bytes],
                                                     pipe.smembers(K_ALARMS_ANNOUNCED))}
                    new, gone = sorted(open_ids - told), sorted(told - open_ids)
                    if not new and not gone:
                        pipe.unwatch()
                        return []
                    rows = pipe.hmget(K_ALARMS, [*new, *gone])
                    out: list[tuple[dict[str, Any], str]] = []
                    pipe.multi()
                    for alarm_id, raw in zip([*new, *gone], rows, strict=True):
                        record = _decode(raw) if raw else {"id": alarm_id}
                        if alarm_id in open_ids:
                            pipe.sadd(K_ALARMS_ANNOUNCED, alarm_id)
                            out.append((record, "OPEN"))
                            self._queue_hooks(pipe, targets, body(record, "raised"), now)
                            continue
                        pipe.srem(K_ALARMS_ANNOUNCED, alarm_id)
                        if record.get("acked_by") is not None:
                            pipe.zadd(K_ALARMS_ACKED, {alarm_id: float(record["acked_at"])})
                            out.append((record, "ACKNOWLEDGED"))
                            self._queue_hooks(pipe, targets, body(record, "acknowledged"), now)
                        elif raw:
                            out.append((record, "CLOSED"))
                    pipe.execute()
                    return out
                except redis.WatchError:
                    continue

    # --- webhook queue --------------------------------------------------------------------------
    @staticmethod
    def _queue_hooks(pipe: Any, urls: list[str], body: str, now: float) -> None:
        for url in urls:
            job = {"job": uuid.uuid4().hex, "url": url, "body": body, "attempt": 0}
            pipe.zadd(K_WEBHOOKS, {json.dumps(job): now})

    def queue_webhooks(self, urls: Iterable[str], body: str, now: float) -> None:
        """Queue one POST of ``body`` to each URL, due now."""
        pipe = self.r.pipeline(transaction=True)
        self._queue_hooks(pipe, list(urls), body, now)
        pipe.execute()

    def take_webhook_jobs(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        """Claim the jobs due now (each by one sender only: ZREM decides)."""
        rows = cast(list[bytes], self.r.zrangebyscore(K_WEBHOOKS, "-inf", now, 0, limit))
        return [_decode(raw) for raw in rows if self.r.zrem(K_WEBHOOKS, raw)]

    def retry_webhook(self, job: dict[str, Any], due: float) -> None:
        """Put a failed job back, due at ``due``, one attempt more."""
        job = {**job, "attempt": int(job.get("attempt", 0)) + 1}
        self.r.zadd(K_WEBHOOKS, {json.dumps(job): due})

    def webhook_jobs(self) -> int:
        """Return how many webhook calls wait."""
        return int(self.r.zcard(K_WEBHOOKS))

    # --- the single evaluator -----------------------------------------------------------------
    def take_alarm_lock(self, owner: str, ttl_s: float) -> bool:
        """Take or renew the alarm evaluator's lock; tell whether this owner holds it."""
        ms = int(ttl_s * 1000)
        if self.r.set(K_ALARM_LOCK, owner, nx=True, px=ms):
            return True
        holder = self.r.get(K_ALARM_LOCK)
        if holder is not None and as_text(cast(bytes, holder)) == owner:
            self.r.pexpire(K_ALARM_LOCK, ms)
            return True
        return False

    # --- welfare check-ins ----------------------------------------------------------------------
    def open_checkin(self, record: dict[str, Any]) -> bool:
        """Store a check-in once (its id names its quiet spell); tell whether it is new."""
        if not self.r.hsetnx(K_CHECKINS, record["id"], json.dumps(record)):
            return False
        self.r.zadd(K_CHECKINS_OPEN, {record["id"]: record["answer_by"]})
        return True

    def open_checkins(self) -> list[dict[str, Any]]:
        """Return the check-ins waiting for an answer, soonest due first."""
        ids = cast(list[bytes], self.r.zrange(K_CHECKINS_OPEN, 0, -1))
        rows = cast(list[bytes | None], self.r.hmget(K_CHECKINS, ids)) if ids else []
        return [_decode(r) for r in rows if r]

    def checkin(self, checkin_id: str) -> dict[str, Any] | None:
        """Return one check-in, or None."""
        raw = self.r.hget(K_CHECKINS, checkin_id)
        return _decode(raw) if raw else None

    def end_checkin(self, checkin_id: str, unit: str, state: str, at: float,
                    restart: float) -> dict[str, Any] | None:
        """Answer (OK, HELP) or miss (MISSED) an open check-in once; None if not open.

        ``restart`` is when the unit's next quiet spell counts from.
        """
        raw = self.r.eval(CHECKIN_END, 3, K_CHECKINS, K_CHECKINS_OPEN, K_CHECKIN_LAST,
                          checkin_id, unit, state, repr(at), repr(restart))
        return _decode(raw) if raw else None

    def checkin_answers(self) -> dict[str, float]:
        """Return each unit's last answer (or miss) time: its quiet spell counts from there."""
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_CHECKIN_LAST))
        return {as_text(k): float(v) for k, v in rows.items()}

    def forget_closed_alarms(self, now: float) -> None:
        """Drop alarms their unit cleared (never acknowledged) once past the audit retention."""
        cutoff = now - self.audit_retention_s
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_ALARMS))
        old = [k for k, v in rows.items() if (a := _decode(v)).get("closed_at") is not None
               and a.get("acked_by") is None and float(a["closed_at"]) < cutoff]
        if old:
            self.r.hdel(K_ALARMS, *old)

    def forget_checkins(self, now: float) -> None:
        """Drop answered check-ins older than a week."""
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_CHECKINS))
        cutoff = now - CHECKINS_KEPT_S
        old = [k for k, v in rows.items()
               if (c := _decode(v)).get("state") != "OPEN" and float(c["ts"]) < cutoff]
        if old:
            self.r.hdel(K_CHECKINS, *old)

    def open_alarm_records(self) -> list[dict[str, Any]]:
        """Return every open alarm, whatever its kind, in one round trip."""
        ids = cast(list[bytes], self.r.zrange(K_ALARMS_OPEN, 0, -1))
        rows = cast(list[bytes | None], self.r.hmget(K_ALARMS, ids)) if ids else []
        return [_decode(r) for r in rows if r]
