"""Pure view model of dosage: what each hotspot got this shift and this operation week.

The evaluator's snapshot holds ``dosage`` (the operation week), ``dosage_shift`` and
``dosage_periods``; each row has what patrolwatch/core/dosage.py computes and, once the
evaluator counts observed time (DOMAIN.md), ``observed_minutes`` and ``mostly_unobserved``.
Rows without them are shown as before; with them, a window less than half observed says
so instead of counting as a failure.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from patrolwatch.core.csvsafe import csv_safe_row
from patrolwatch.core.dosage import compliance_level

DOSAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Hotspot"), ("category", "Category"), ("windows", "Windows"),
    ("qualifying_visits", "Qualifying visits"), ("planned_visits", "Planned"),
    ("patrol_minutes", "Patrol-min"), ("officer_minutes", "Officer-min"),
    ("compliance_pct", "Compliance %"),
)
# Added after the week's columns, so a sheet built on the old CSV still reads it.
EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("observed_minutes", "Observed-min"), ("window_minutes", "Window-min"),
    ("mostly_unobserved", "Mostly unobserved"),
    ("shift_qualifying_visits", "Shift qualifying visits"),
    ("shift_planned_visits", "Shift planned"), ("shift_compliance_pct", "Shift compliance %"),
    ("shift_observed_minutes", "Shift observed-min"),
)


def _round(value: Any) -> float | None:
    return round(float(value), 1) if isinstance(value, int | float) else None


def _pct(value: Any) -> int | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return round(100 * value) if ok else None


def dosage_rows(snapshot: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Return the operation week's rows (CSV and API), with this shift's figures added."""
    shift = {str(d.get("hotspot")): d for d in (snapshot or {}).get("dosage_shift") or []
             if isinstance(d, Mapping)}
    rows: list[dict[str, Any]] = []
    for d in (snapshot or {}).get("dosage") or []:
        s = shift.get(str(d.get("hotspot"))) or {}
        rows.append({
            "hotspot": d.get("hotspot"), "name": d.get("name") or d.get("hotspot"),
            "category": str(d.get("category") or "").replace("_", " "),
            "windows": d.get("windows"), "qualifying_visits": d.get("qualifying_visits"),
            "planned_visits": d.get("planned_visits"),
            "patrol_minutes": _round(d.get("patrol_minutes")),
            "officer_minutes": _round(d.get("officer_minutes")),
            "compliance_pct": _pct(d.get("compliance")),
            "observed_minutes": _round(d.get("observed_minutes")),
            "window_minutes": _round(d.get("window_minutes")),
            "mostly_unobserved": d.get("mostly_unobserved")
            if isinstance(d.get("mostly_unobserved"), bool) else None,
            "shift_qualifying_visits": s.get("qualifying_visits"),
            "shift_planned_visits": s.get("planned_visits"),
            "shift_compliance_pct": _pct(s.get("compliance")),
            "shift_observed_minutes": _round(s.get("observed_minutes")),
        })
    return rows


def dosage_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the dosage table as CSV (hotspot id first) for supervisors' reports."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = (*DOSAGE_COLUMNS, *EXTRA_COLUMNS)
    writer.writerow(["hotspot_id", *(label for _, label in columns)])
    for row in rows:
        writer.writerow(csv_safe_row("" if row.get(k) is None else row.get(k)
                                     for k in ["hotspot", *(k for k, _ in columns)]))
    return out.getvalue()


@dataclass(frozen=True)
class DosageCell:
    """One hotspot's dosage in one period, as the panel shows it."""

    compliance_pct: int | None
    delivered: int
    planned: int
    patrol_minutes: float
    officer_minutes: float
    observed_minutes: float | None  # None until the evaluator reports observed time
    window_minutes: float | None
    mostly_unobserved: bool

    @property
    def level(self) -> str:
        """Return the colour class: good, fair, poor, or none (no window, or unobserved)."""
        return compliance_level(self.compliance_pct, self.mostly_unobserved)  # the report's too


@dataclass(frozen=True)
class DosageLine:
    """One hotspot: its shift and its operation week side by side."""

    hotspot: str
    name: str
    category: str
    priority: int
    shift: DosageCell | None
    week: DosageCell | None


@dataclass(frozen=True)
class DosageView:
    """The dosage panel: what the two periods are, and a line per hotspot."""

    shift_since: str
    week_since: str
    lines: list[DosageLine]


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _cell(row: Mapping[str, Any] | None) -> DosageCell | None:
    if not row:
        return None
    observed = row.get("observed_minutes")
    window = row.get("window_minutes")
    return DosageCell(
        compliance_pct=_pct(row.get("compliance")),
        delivered=int(_num(row.get("delivered_visits", row.get("qualifying_visits")))),
        planned=int(_num(row.get("planned_visits"))),
        patrol_minutes=round(_num(row.get("patrol_minutes")), 1),
        officer_minutes=round(_num(row.get("officer_minutes")), 1),
        observed_minutes=round(float(observed), 1) if isinstance(observed, int | float)
        else None,
        window_minutes=round(float(window), 1) if isinstance(window, int | float) else None,
        mostly_unobserved=row.get("mostly_unobserved") is True,
    )


def _since(ts: Any, zone: ZoneInfo) -> str:
    if not isinstance(ts, int | float) or not math.isfinite(ts):
        return "—"
    return datetime.fromtimestamp(ts, zone).strftime("%a %d %b %H:%M")


def dosage_view(snapshot: Mapping[str, Any] | None, zone: ZoneInfo) -> DosageView:
    """Return the dosage panel: every hotspot, priority 1 first, then by name."""
    snap = snapshot or {}
    periods = snap.get("dosage_periods") or {}
    shift = {str(d.get("hotspot")): d for d in snap.get("dosage_shift") or []
             if isinstance(d, Mapping)}
    week = {str(d.get("hotspot")): d for d in snap.get("dosage") or [] if isinstance(d, Mapping)}
    lines = []
    for hid in dict.fromkeys([*week, *shift]):
        row = week.get(hid) or shift.get(hid) or {}
        lines.append(DosageLine(
            hotspot=hid, name=str(row.get("name") or hid),
            category=str(row.get("category") or "").replace("_", " "),
            priority=int(_num(row.get("priority")) or 3),
            shift=_cell(shift.get(hid)), week=_cell(week.get(hid))))
    lines.sort(key=lambda line: (line.priority, line.name.lower(), line.hotspot))
    return DosageView(shift_since=_since((periods.get("shift") or [None])[0], zone),
                      week_since=_since((periods.get("week") or [None])[0], zone), lines=lines)
