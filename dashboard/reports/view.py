"""The operation report as plain values (pure: tested without Redis, files or a browser).

Per hotspot and shift: planned against delivered qualifying visits (``core.dosage``),
patrol- and officer-minutes, observed minutes (time the evaluator saw a fresh feed, from the
hotspot-state history), gaps with their length; taskings with time to acknowledge and to
arrive; emergencies with time to acknowledge; presence per hotspot per day for the chart.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from patrolwatch.core.coverage import patrol_minutes
from patrolwatch.core.dosage import compliance_level, compliance_percent, dosage_row
from patrolwatch.core.hotspots import Hotspot
from patrolwatch.core.model import StatusChange
from patrolwatch.core.visits import Visit
from patrolwatch.store.replay import StateEntry

ENTRY_VALID_S = 300.0  # a state entry speaks for at most this long (the evaluator may stop)


@dataclass(frozen=True)
class Gap:
    """A stretch of one hotspot in state ``gap``."""

    start: float
    end: float

    @property
    def minutes(self) -> float:
        """Return its length in minutes."""
        return (self.end - self.start) / 60.0


@dataclass(frozen=True)
class ShiftRow:
    """One hotspot over one shift."""

    hotspot: str
    name: str
    shift_start: float
    shift_end: float
    window_minutes: float
    observed_minutes: float
    planned_visits: int
    delivered_visits: int
    qualifying_visits: int
    patrol_minutes: float
    officer_minutes: float
    compliance: float | None
    gaps: tuple[Gap, ...]
    mostly_unobserved: bool = False  # under half the window minutes observed: not judged

    @property
    def gap_minutes(self) -> float:
        """Return the minutes spent in gap."""
        return sum(g.minutes for g in self.gaps)

    @property
    def compliance_pct(self) -> int | None:
        """Return delivered of planned visits as a whole percent; None when nothing was judged."""
        return None if self.mostly_unobserved else compliance_percent(self.compliance)

    @property
    def level(self) -> str:
        """Return good, fair, poor or none: the dosage tab's colours and thresholds."""
        return compliance_level(self.compliance_pct, self.mostly_unobserved)

    @property
    def verdict(self) -> str:
        """Return what a person reads: "85 %", "mostly unobserved" or "no window"."""
        if self.window_minutes <= 0:
            return "no window"
        if self.mostly_unobserved:
            return "mostly unobserved"
        pct = self.compliance_pct
        return "—" if pct is None else f"{pct} %"


@dataclass(frozen=True)
class TaskingRow:
    """One tasking: how long the crew took to acknowledge and to arrive."""

    id: str
    unit: str
    hotspot: str
    created: float
    state: str
    by: str
    ack_s: float | None
    arrive_s: float | None


@dataclass(frozen=True)
class EmergencyRow:
    """One emergency: when it was raised and how long until a supervisor acknowledged it."""

    unit: str
    start: float
    ack_s: float | None
    by: str | None


@dataclass
class Report:
    """Everything the report shows."""

    since: float
    until: float
    rows: list[ShiftRow] = field(default_factory=list)
    taskings: list[TaskingRow] = field(default_factory=list)
    emergencies: list[EmergencyRow] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)  # every kind (dashboard/alarms)
    daily: dict[str, dict[str, float]] = field(default_factory=dict)  # hotspot -> day -> min


def shift_periods(since: float, until: float, starts: Sequence[time], zone: ZoneInfo
                  ) -> list[tuple[float, float]]:
    """Return the shifts (local shift changes) that [since, until) touches, each cut to it."""
    first = datetime.fromtimestamp(since, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(until, zone).date() + timedelta(days=1)
    marks = sorted({datetime.combine(first + timedelta(days=d), t, tzinfo=zone).timestamp()
                    for d in range((last - first).days + 1) for t in starts})
    out = []
    for a, b in itertools.pairwise(marks):
        lo, hi = max(a, since), min(b, until)
        if hi > lo:
            out.append((lo, hi))
    return out


def _valid_spans(entries: Sequence[StateEntry], until: float) -> list[tuple[float, float, int]]:
    """Return (from, to, index) for each entry: until the next one, at most ENTRY_VALID_S."""
    out = []
    for i, entry in enumerate(entries):
        end = entries[i + 1][0] if i + 1 < len(entries) else until
        out.append((entry[0], min(end, entry[0] + ENTRY_VALID_S), i))
    return out


def _merge(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if out and lo - out[-1][1] <= 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _clip(spans: Sequence[tuple[float, float]], a: float, b: float) -> list[tuple[float, float]]:
    return [(max(lo, a), min(hi, b)) for lo, hi in spans if min(hi, b) > max(lo, a)]


def gap_spans(entries: Sequence[StateEntry], until: float) -> dict[str, list[tuple[float, float]]]:
    """Return, per hotspot, the merged stretches it was in ``gap`` (one pass over the entries)."""
    raw: dict[str, list[tuple[float, float]]] = {}
    for lo, hi, i in _valid_spans(entries, until):
        for hotspot, state in entries[i][1].items():
            if state == "gap":
                raw.setdefault(hotspot, []).append((lo, hi))
    return {h: _merge(spans) for h, spans in raw.items()}


def gap_stretches(entries: Sequence[StateEntry], hotspot: str, a: float, b: float
                  ) -> list[Gap]:
    """Return the stretches of [a, b) in which the hotspot was in ``gap``, merged."""
    return [Gap(lo, hi) for lo, hi in _clip(gap_spans(entries, b).get(hotspot, []), a, b)]


def observed_spans(entries: Sequence[StateEntry], until: float) -> list[tuple[float, float]]:
    """Return the stretches the evaluator saw a fresh feed (observed time, DOMAIN.md), merged."""
    return _merge((lo, hi) for lo, hi, i in _valid_spans(entries, until) if entries[i][2])


def shift_rows(hotspots: Sequence[Hotspot], shifts: Sequence[tuple[float, float]],
               windows: Mapping[str, Sequence[Any]], visits: Mapping[str, Sequence[Visit]],
               entries: Sequence[StateEntry], until: float) -> list[ShiftRow]:
    """Return one row per hotspot and shift, hotspots in file order, shifts oldest first."""
    observed = observed_spans(entries, until)
    gaps = gap_spans(entries, until)
    rows = []
    for h in hotspots:
        for a, b in shifts:
            # The dosage tab's rule: only observed time is judged, so silence is not failure.
            d = dosage_row(h, windows.get(h.id, ()), visits.get(h.id, ()), a, b,
                           observed=_clip(observed, a, b))
            rows.append(ShiftRow(h.id, h.name, a, b, d.window_minutes, d.observed_minutes,
                                 d.planned_visits, d.delivered_visits, d.qualifying_visits,
                                 d.patrol_minutes, d.officer_minutes, d.compliance,
                                 tuple(Gap(lo, hi) for lo, hi in _clip(gaps.get(h.id, []), a, b)),
                                 d.window_minutes > 0 and d.mostly_unobserved))
    return rows


def tasking_rows(taskings: Iterable[Mapping[str, Any]], audit: Iterable[Mapping[str, Any]],
                 since: float, until: float) -> list[TaskingRow]:
    """Return taskings created in [since, until] with their times to acknowledge and arrive."""
    reached: dict[tuple[str, str], float] = {}
    for entry in sorted(audit, key=lambda e: e["ts"]):
        if entry.get("kind") == "tasking" and entry.get("tasking"):
            reached.setdefault((entry["tasking"], str(entry.get("to"))), float(entry["ts"]))
    out = []
    for t in taskings:
        if not since <= t["created"] <= until:
            continue
        ack = reached.get((t["id"], "ACKNOWLEDGED"))
        arrived = reached.get((t["id"], "ARRIVED"))
        out.append(TaskingRow(t["id"], t["unit"], t["hotspot"], t["created"], t["state"],
                              t.get("by", ""), None if ack is None else ack - t["created"],
                              None if arrived is None else arrived - t["created"]))
    return sorted(out, key=lambda r: r.created)


def emergency_rows(changes: Iterable[StatusChange], audit: Iterable[Mapping[str, Any]],
                   since: float, until: float) -> list[EmergencyRow]:
    """Return each emergency raised in the period with the first acknowledgement after it."""
    acks = sorted((float(e["ts"]), str(e.get("unit")), str(e.get("actor")))
                  for e in audit if e.get("kind") == "emergency_ack")
    out = []
    by_unit: dict[str, list[StatusChange]] = {}
    for c in sorted(changes, key=lambda c: (c.unit, c.ts)):
        by_unit.setdefault(c.unit, []).append(c)
    for unit, rows in by_unit.items():
        for i, c in enumerate(rows):
            raised = c.status.value == "EMERGENCY" and (
                i == 0 or rows[i - 1].status.value != "EMERGENCY")
            if not raised or not since <= c.ts <= until:
                continue
            ack = next(((ts, who) for ts, u, who in acks if u == unit and ts >= c.ts), None)
            out.append(EmergencyRow(unit, c.ts, None if ack is None else ack[0] - c.ts,
                                    None if ack is None else ack[1]))
    return sorted(out, key=lambda r: r.start)


def daily_presence(hotspots: Sequence[Hotspot], visits: Mapping[str, Sequence[Visit]],
                   since: float, until: float, zone: ZoneInfo) -> dict[str, dict[str, float]]:
    """Return patrol-minutes per hotspot per local day."""
    days = []
    day = datetime.fromtimestamp(since, zone).date()
    while True:
        start = datetime.combine(day, time(0), tzinfo=zone).timestamp()
        if start >= until:
            break
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).timestamp()
        days.append((day.isoformat(), max(start, since), min(end, until)))
        day += timedelta(days=1)
    return {h.id: {name: round(patrol_minutes(visits.get(h.id, ()), a, b), 1)
                   for name, a, b in days} for h in hotspots}


def utc_day(ts: float) -> str:
    """Return the UTC date of an epoch time."""
    return datetime.fromtimestamp(ts, UTC).date().isoformat()
