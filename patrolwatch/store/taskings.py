"""Taskings, the audit log, and emergency alarms with their acknowledgements."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from patrolwatch.store.base import StoreBase
from patrolwatch.store.codec import as_text
from patrolwatch.store.keys import (
    K_ALARMS,
    K_ALARMS_OPEN,
    K_ALARMS_UNIT,
    K_AUDIT,
    K_EMERGENCY_ACK,
    K_TASKINGS,
    K_TASKINGS_OPEN,
)
from patrolwatch.store.scripts import ACK_ALARM


class TaskingStore(StoreBase):
    """Taskings with their open set, and every audited action."""

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
        """Acknowledge every open alarm of a unit, and its current emergency (the banner's).

        Kept for the banner that acknowledges per unit; each alarm is still acknowledged,
        and audited, on its own (:meth:`acknowledge_alarm`).
        """
        acked = [a["id"] for a in self.open_alarms()
                 if a["unit"] == unit and self._ack_alarm(a["id"], by, now) is not None]
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(K_EMERGENCY_ACK, unit, json.dumps({"by": by, "ts": now,
                                                     "status_ts": status_ts}))
        self._audit(pipe, {"ts": now, "kind": "emergency_ack", "unit": unit, "actor": by,
                           "alarms": acked,
                           "detail": f"emergency of {unit} acknowledged by {by}"})
        pipe.execute()

    def note_emergency_ack(self, unit: str, by: str, status_ts: float, now: float) -> None:
        """Record who acknowledged a unit's current EMERGENCY (its alarms are audited alone).

        Set once the last open alarm of a unit still in EMERGENCY is acknowledged, so the
        banner keeps an "acknowledged by" card and the marker stops pulsing.
        """
        self.r.hset(K_EMERGENCY_ACK, unit, json.dumps({"by": by, "ts": now,
                                                       "status_ts": status_ts}))

    # --- alarms: one per EMERGENCY that arrived --------------------------------------------
    def open_alarms(self) -> list[dict[str, Any]]:
        """Return the alarms no supervisor has acknowledged yet, oldest first, in one round trip.

        Each is ``{id, unit, ts, arrival, note, repeats?, last_arrival?}``: ``ts`` is the
        device's time, ``arrival`` when the worker received it; ``repeats`` counts further
        EMERGENCYs folded into it once the unit held ALARMS_OPEN_PER_UNIT open alarms.
        """
        ids = cast(list[bytes], self.r.zrange(K_ALARMS_OPEN, 0, -1))
        if not ids:
            return []
        rows = cast(list[bytes | None], self.r.hmget(K_ALARMS, ids))
        # Other kinds share these records (store/alarms.py): this list is the EMERGENCYs'.
        return [a for r in rows
                if r and (a := json.loads(r)).get("kind", "emergency") == "emergency"]

    def alarm(self, alarm_id: str) -> dict[str, Any] | None:
        """Return one alarm, open or acknowledged (``acked_by``, ``acked_at``), or None."""
        raw = self.r.hget(K_ALARMS, alarm_id)
        return json.loads(cast(bytes, raw)) if raw else None

    def acknowledge_alarm(self, alarm_id: str, by: str, now: float) -> dict[str, Any] | None:
        """Acknowledge one open alarm and audit it; None if unknown or already acknowledged."""
        alarm = self._ack_alarm(alarm_id, by, now)
        if alarm is None:
            return None
        self.audit({"ts": now, "kind": "emergency_ack", "unit": alarm["unit"], "actor": by,
                    "alarm": alarm_id,
                    "detail": f"emergency {alarm_id} of {alarm['unit']} acknowledged by {by}"})
        self._forget_alarms(now)
        return alarm

    def _ack_alarm(self, alarm_id: str, by: str, now: float) -> dict[str, Any] | None:
        raw = cast(bytes | None, self.r.eval(ACK_ALARM, 3, K_ALARMS, K_ALARMS_OPEN,
                                             K_ALARMS_UNIT, alarm_id, by, repr(now)))
        return json.loads(raw) if raw else None

    def _forget_alarms(self, now: float) -> None:
        """Drop acknowledged alarms older than the audit retention (their audit entry stays)."""
        cutoff = now - self.audit_retention_s
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_ALARMS))
        old = [k for k, v in rows.items()
               if "acked_by" in (a := json.loads(v)) and float(a["arrival"]) < cutoff]
        if old:
            self.r.hdel(K_ALARMS, *old)

    def emergency_acks(self) -> dict[str, dict[str, Any]]:
        """Return the latest emergency acknowledgement per unit."""
        rows = cast(dict[bytes, bytes], self.r.hgetall(K_EMERGENCY_ACK))
        return {as_text(k): json.loads(v) for k, v in rows.items()}

