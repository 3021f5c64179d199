"""The tasking lifecycle (pure): SENT -> ACKNOWLEDGED/DECLINED -> ARRIVED -> COMPLETED/EXPIRED.

Every change returns a new Tasking and an audit entry; nothing here does I/O.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from patrolwatch.core.model import Ack


class TaskState(StrEnum):
    """Where a tasking is in its lifecycle."""

    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    DECLINED = "DECLINED"
    ARRIVED = "ARRIVED"
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"


OPEN_STATES = frozenset({TaskState.SENT, TaskState.ACKNOWLEDGED, TaskState.ARRIVED})


def rfc3339(ts: float | None) -> str | None:
    """Format epoch seconds as an RFC 3339 UTC string (``...Z``), or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_tasking_id(now: float) -> str:
    """Return a fresh tasking id: readable, sortable by time, unguessable suffix."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    return f"T{stamp}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Tasking:
    """A redeployment order to one unit for one hotspot."""

    id: str
    unit: str
    hotspot: str
    name: str
    lat: float
    lon: float
    by: str
    created: float
    state: TaskState = TaskState.SENT
    updated: float = 0.0
    note: str | None = None
    reason: str | None = None  # the crew's reason when declining

    @property
    def open(self) -> bool:
        """Tell whether the tasking still binds the unit."""
        return self.state in OPEN_STATES

    def to_json(self) -> dict[str, Any]:
        """Return the stored form (epoch seconds)."""
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tasking:
        """Rebuild a tasking from its stored form."""
        return cls(**{**data, "state": TaskState(data["state"])})

    def api(self) -> dict[str, Any]:
        """Return the contract's API form (RFC 3339 times)."""
        return {"id": self.id, "unit": self.unit, "hotspot": self.hotspot, "name": self.name,
                "state": self.state.value, "created": rfc3339(self.created), "by": self.by,
                "updated": rfc3339(self.updated), "note": self.note, "reason": self.reason}

    def message(self) -> dict[str, Any]:
        """Return the payload published on ``patrol/{unit}/tasking`` (CONTRACT.md)."""
        body: dict[str, Any] = {"id": self.id, "ts": self.created, "kind": "REDEPLOY",
                                "hotspot": self.hotspot, "name": self.name, "lat": self.lat,
                                "lon": self.lon, "by": self.by}
        if self.note:
            body["note"] = self.note
        return body


@dataclass(frozen=True)
class Change:
    """One lifecycle step, for the audit log."""

    tasking: Tasking
    before: TaskState | None
    after: TaskState
    ts: float
    actor: str
    detail: str

    def audit(self) -> dict[str, Any]:
        """Return the audit entry."""
        return {"ts": self.ts, "kind": "tasking", "tasking": self.tasking.id,
                "unit": self.tasking.unit, "hotspot": self.tasking.hotspot,
                "from": self.before.value if self.before else None, "to": self.after.value,
                "actor": self.actor, "detail": self.detail}


def create(unit: str, hotspot: str, name: str, lat: float, lon: float, by: str, now: float,
           note: str | None = None) -> Change:
    """Create a tasking in state SENT."""
    t = Tasking(new_tasking_id(now), unit, hotspot, name, lat, lon, by, now, TaskState.SENT, now,
                note)
    return Change(t, None, TaskState.SENT, now, by, f"{unit} tasked to {name}")


def _step(t: Tasking, state: TaskState, now: float, actor: str, detail: str,
          **changes: Any) -> Change:
    return Change(replace(t, state=state, updated=now, **changes), t.state, state, now, actor,
                  detail)


def apply_ack(t: Tasking, ack: Ack, now: float) -> Change | None:
    """Apply a crew's answer; only a SENT tasking of the same unit takes one."""
    if ack.id != t.id or ack.unit != t.unit or t.state is not TaskState.SENT:
        return None
    if ack.accepted:
        return _step(t, TaskState.ACKNOWLEDGED, now, t.unit, "accepted by the crew")
    reason = (ack.reason or "").strip() or None
    return _step(t, TaskState.DECLINED, now, t.unit,
                 f"declined by the crew{': ' + reason if reason else ''}", reason=reason)


def advance(t: Tasking, present: bool, qualifying_since_created: bool, now: float,
            ack_timeout_s: float, arrival_timeout_s: float) -> Change | None:
    """Move a tasking on from what the coverage engine sees, or expire it."""
    if t.state in (TaskState.SENT, TaskState.ACKNOWLEDGED) and present:
        return _step(t, TaskState.ARRIVED, now, "system", "unit present at the hotspot")
    if t.state is TaskState.ARRIVED and qualifying_since_created:
        return _step(t, TaskState.COMPLETED, now, "system", "qualifying visit delivered")
    if t.state is TaskState.SENT and now - t.created > ack_timeout_s:
        return _step(t, TaskState.EXPIRED, now, "system",
                     f"no acknowledgement within {ack_timeout_s / 60:.0f} min")
    if t.state in (TaskState.SENT, TaskState.ACKNOWLEDGED) and now - t.created > arrival_timeout_s:
        return _step(t, TaskState.EXPIRED, now, "system",
                     f"no arrival within {arrival_timeout_s / 60:.0f} min")
    return None


def busy_units(taskings: Iterable[Tasking]) -> set[str]:
    """Return the units holding an open tasking."""
    return {t.unit for t in taskings if t.open}
