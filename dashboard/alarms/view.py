"""Pure view models of the alarm cards and the crew's check-in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from patrolwatch.core.alarm_records import listed, raised_at
from patrolwatch.core.alarms import EMERGENCY, WARNING_KINDS, kind_of

SHOWN_ACKED_S = 300.0  # an acknowledged card stays (dimmed, "acknowledged by") this long
LABELS = {"status_too_long": "STATUS TOO LONG", "welfare": "WELFARE", "lost_contact":
          "LOST CONTACT", "battery_low": "BATTERY LOW", EMERGENCY: "EMERGENCY"}


@dataclass(frozen=True)
class Card:
    """One alarm's card: whatever its kind, its own unit, time, detail and acknowledgement."""

    alarm_id: str
    unit: str
    callsign: str
    kind: str
    label: str
    detail: str
    raised: float
    count: int
    escalated: bool
    warning: bool
    acked_by: str | None


def cards(records: Iterable[Mapping[str, Any]], callsigns: Mapping[str, str],
          now: float) -> list[Card]:
    """Return the cards of every kind but EMERGENCY (its own banner above), in screen order."""
    out = []
    for r in listed(records, now, SHOWN_ACKED_S):
        kind = kind_of(dict(r))
        if kind == EMERGENCY:
            continue
        unit = str(r.get("unit", ""))
        out.append(Card(alarm_id=str(r.get("id", "")), unit=unit,
                        callsign=callsigns.get(unit, unit), kind=kind, label=LABELS[kind],
                        detail=str(r.get("detail") or ""), raised=raised_at(r),
                        count=1 + int(r.get("repeats") or 0),
                        escalated=r.get("escalated_at") is not None,
                        warning=kind in WARNING_KINDS,
                        acked_by=None if r.get("acked_by") is None else str(r["acked_by"])))
    return out


def banner_class(shown: list[Card]) -> str:
    """Return the banner's class: hidden, quiet, amber, or red and loud when one escalated."""
    if not shown:
        return "pw-rule-alarms pw-hidden"
    waiting = [c for c in shown if c.acked_by is None]
    if any(c.escalated for c in waiting):
        return "pw-rule-alarms pw-rule-alarms-escalated"
    if any(not c.warning for c in waiting):
        return "pw-rule-alarms pw-rule-alarms-new"
    return "pw-rule-alarms"


def unit_checkin(open_checkins: Iterable[Mapping[str, Any]], unit: str) -> Mapping[str, Any] | None:
    """Return the unit's open check-in (the newest), if any."""
    mine = [c for c in open_checkins if c.get("unit") == unit]
    return max(mine, key=lambda c: float(c.get("ts", 0.0))) if mine else None
