"""Stored alarm records as people and other systems see them: API rows, webhook bodies, report.

A record (one shape for every kind, CONTRACT.md section 4) is the JSON kept in ``K_ALARMS``:
``{id, unit, kind?, ts, arrival, repeats, last_arrival, detail?, acked_by?, acked_at?,
escalated_at?, closed_at?}``; ``kind`` absent is an emergency; count is 1 + repeats.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from patrolwatch.core.alarms import EMERGENCY, SEVERITY, WARNING_KINDS, kind_of
from patrolwatch.core.taskings import rfc3339

RECENT_ACK_S = 3600.0  # /api/alarms lists acknowledged alarms this long


def raised_at(record: Mapping[str, Any]) -> float:
    """Return when an alarm was raised (its arrival), falling back to its event time."""
    return float(record.get("arrival", record.get("ts", 0.0)) or 0.0)


def state_of(record: Mapping[str, Any]) -> str:
    """Return OPEN, ACKNOWLEDGED or CLOSED (cleared by the unit itself, e.g. contact resumed)."""
    if record.get("acked_by") is not None:
        return "ACKNOWLEDGED"
    return "CLOSED" if record.get("closed_at") is not None else "OPEN"


def alarm_row(record: Mapping[str, Any], callsign: str | None) -> dict[str, Any]:
    """Return one alarm as ``GET /api/alarms`` lists it (and as webhooks carry it)."""
    kind = kind_of(dict(record))
    row: dict[str, Any] = {
        "id": str(record.get("id", "")), "unit": str(record.get("unit", "")),
        "callsign": callsign or str(record.get("unit", "")), "kind": kind,
        "severity": "warning" if kind in WARNING_KINDS else "alarm",
        "state": state_of(record), "raised": rfc3339(raised_at(record)),
        "count": 1 + int(record.get("repeats") or 0),
        "detail": record.get("detail") or ("EMERGENCY button" if kind == EMERGENCY else ""),
        "escalated": record.get("escalated_at") is not None,
    }
    if record.get("acked_by") is not None:
        row["acknowledged_by"] = record["acked_by"]
        row["acknowledged_at"] = rfc3339(float(record["acked_at"]))
    return row


def order_key(record: Mapping[str, Any]) -> tuple[int, int, float]:
    """Sort open before acknowledged, then EMERGENCY first, then by severity, oldest first."""
    kind = kind_of(dict(record))
    return (0 if record.get("acked_by") is None else 1, SEVERITY[kind], raised_at(record))


def listed(records: Iterable[Mapping[str, Any]], now: float,
           recent_s: float = RECENT_ACK_S) -> list[Mapping[str, Any]]:
    """Return the open alarms and those acknowledged within ``recent_s``, in screen order."""
    keep = [r for r in records if state_of(r) == "OPEN"
            or (state_of(r) == "ACKNOWLEDGED" and now - float(r["acked_at"]) <= recent_s)]
    return sorted(keep, key=order_key)


def device_notice(record: Mapping[str, Any], state: str, now: float) -> dict[str, Any]:
    """Return the ``patrol/{unit}/alarm`` payload: ``{id, kind, state, ts, by?}``."""
    out: dict[str, Any] = {"id": record.get("id"), "kind": kind_of(dict(record)),
                           "state": state, "ts": now}
    if record.get("acked_by") is not None:
        out["by"] = record["acked_by"]
    return out


def report_rows(records: Iterable[Mapping[str, Any]], since: float, until: float,
                callsigns: Mapping[str, str]) -> list[dict[str, Any]]:
    """Return the report's alarm rows raised in [since, until): kind, unit, time to acknowledge."""
    rows = []
    for r in sorted(records, key=raised_at):
        raised = raised_at(r)
        if not since <= raised < until:
            continue
        acked = r.get("acked_at")
        unit = str(r.get("unit", ""))
        rows.append({"raised": raised, "kind": kind_of(dict(r)), "unit": unit,
                     "callsign": callsigns.get(unit, unit), "detail": r.get("detail") or "",
                     "count": 1 + int(r.get("repeats") or 0), "state": state_of(r),
                     "by": r.get("acked_by"),
                     "escalated": r.get("escalated_at") is not None,
                     "minutes_to_ack": None if acked is None
                     else round((float(acked) - raised) / 60.0, 1)})
    return rows
