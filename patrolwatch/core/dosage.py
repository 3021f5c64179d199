"""Dosage over a period (a shift, an operation week): what each hotspot got against the plan.

Per hotspot, over its active windows inside the period:

- ``visits`` / ``qualifying_visits``: visits overlapping a window (qualifying = at least M
  minutes long). A visit overlapping two windows counts once, in the first.
- ``patrol_minutes`` (union of visits) and ``officer_minutes`` (sum): only the time inside
  windows.
- ``planned_visits``: each window needs a qualifying visit at least every T minutes, so it
  plans ``max(1, floor(window minutes / T))`` visits: a 480-minute night-time-economy window
  with T = 60 plans 8, a 90-minute school-gate window with T = 120 still plans 1.
- ``delivered_visits``: qualifying visits per window, each window capped at its plan, so
  four visits in one window cannot make up for none in another.
- ``compliance`` = delivered / planned, None when the hotspot had no observed window in the
  period.

Only observed time counts (DOMAIN.md "Dosage"; :mod:`patrolwatch.core.observed`):

- ``observed_minutes``: how many of the windows' minutes were observed.
- A window less than half observed is *unobserved* (``unobserved_windows`` counts them): it
  is not judged, so it adds nothing to ``planned_visits`` or ``delivered_visits`` and cannot
  be a failure. Its visits still count in ``visits``, ``qualifying_visits`` and the minutes:
  they happened.
- An observed window plans for its observed minutes, ``max(1, floor(observed minutes / T))``:
  a night that was observed only from 23:00 is not asked for the visits of 20:00 to 23:00.
- ``mostly_unobserved``: less than half of the period's window minutes were observed, so
  the row as a whole says little; shown as such, not as a failure.

Without observed intervals (``observed=None``) every minute counts as observed.

A window that runs past the period's edges is cut to it: pass ``end=now`` for a period that
is still running, so windows not yet reached are not counted as missed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from typing import TYPE_CHECKING

from patrolwatch.core.coverage import officer_minutes, patrol_minutes
from patrolwatch.core.csvsafe import csv_safe
from patrolwatch.core.observed import Interval, observed_seconds
from patrolwatch.core.schedule import Window
from patrolwatch.core.visits import Visit

if TYPE_CHECKING:
    from patrolwatch.core.hotspots import Hotspot


@dataclass(frozen=True)
class DosageRow:
    """One hotspot's dosage over a period (minutes as floats)."""

    hotspot: str
    name: str
    category: str
    priority: int
    operation: str | None
    windows: int
    window_minutes: float
    visits: int
    qualifying_visits: int
    patrol_minutes: float
    officer_minutes: float
    planned_visits: int
    delivered_visits: int
    compliance: float | None
    observed_minutes: float = 0.0
    unobserved_windows: int = 0  # windows less than half observed: not judged
    mostly_unobserved: bool = False  # under half of the window minutes observed


def planned_visits(window_minutes: float, max_gap_minutes: float) -> int:
    """Return the qualifying visits a window of this length plans: one at least every T."""
    return max(1, math.floor(window_minutes / max_gap_minutes + 1e-9))


def _spans(
    windows: Sequence[Window], start: float | None, end: float | None
) -> list[tuple[float, float]]:
    out = []
    for w in sorted(windows, key=lambda w: w.start):
        a, b = w.start.timestamp(), w.end.timestamp()
        a = a if start is None else max(a, start)
        b = b if end is None else min(b, end)
        if b > a:
            out.append((a, b))
    return out


def dosage_row(
    hotspot: Hotspot, windows: Sequence[Window], visits: Sequence[Visit],
    start: float | None = None, end: float | None = None,
    observed: Sequence[Interval] | None = None,
) -> DosageRow:
    """Return one hotspot's dosage over its windows, cut to [start, end), over observed time."""
    spans = _spans(windows, start, end)
    counted: set[Visit] = set()
    qualifying = planned = delivered = unobserved = 0
    patrol = officer = minutes = seen_minutes = 0.0
    for a, b in spans:
        inside = [v for v in visits if v.start < b and v.end >= a]
        fresh = [v for v in inside if v not in counted]
        counted.update(fresh)
        good = sum(1 for v in fresh if v.qualifying(hotspot.min_visit_minutes))
        seen = (b - a if observed is None else observed_seconds(observed, a, b)) / 60.0
        qualifying += good
        if seen * 2 < (b - a) / 60.0:
            unobserved += 1
        else:
            plan = planned_visits(seen, hotspot.max_gap_minutes)
            planned += plan
            delivered += min(plan, good)
        patrol += patrol_minutes(inside, a, b)
        officer += officer_minutes(inside, a, b)
        minutes += (b - a) / 60.0
        seen_minutes += seen
    return DosageRow(
        hotspot.id, hotspot.name, hotspot.category, hotspot.priority, hotspot.operation,
        len(spans), minutes, len(counted), qualifying, patrol, officer, planned, delivered,
        delivered / planned if planned else None, seen_minutes, unobserved,
        seen_minutes * 2 < minutes,
    )


def dosage_rows(
    hotspots: Iterable[Hotspot],
    windows: Mapping[str, Sequence[Window]],
    visits: Mapping[str, Sequence[Visit]],
    start: float | None = None,
    end: float | None = None,
    observed: Sequence[Interval] | None = None,
) -> list[DosageRow]:
    """Return every hotspot's dosage, in the hotspots' order (windows and visits by id)."""
    return [dosage_row(h, windows.get(h.id, ()), visits.get(h.id, ()), start, end, observed)
            for h in hotspots]


def dosage_csv(rows: Iterable[DosageRow]) -> str:
    """Return the rows as CSV with a header: minutes to 0.1, compliance to 0.001, blank = none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(DosageRow)])
    for row in rows:
        cells: list[object] = []
        for name, value in zip((f.name for f in fields(DosageRow)), astuple(row), strict=True):
            if value is None:
                cells.append("")
            elif isinstance(value, bool):
                cells.append("true" if value else "false")
            elif name == "compliance":
                cells.append(f"{value:.3f}")
            elif isinstance(value, float):
                cells.append(f"{value:.1f}")
            else:
                cells.append(csv_safe(value))
        writer.writerow(cells)
    return out.getvalue()


GOOD_PERCENT = 90  # docs/dashboard.md: red < 50 %, amber < 90 %, green from 90 %
FAIR_PERCENT = 50


def compliance_percent(compliance: float | None) -> int | None:
    """Return a compliance fraction as a whole percent (None stays None)."""
    return None if compliance is None else round(compliance * 100)


def compliance_level(percent: int | None, mostly_unobserved: bool) -> str:
    """Return good, fair, poor, or none (no plan, or mostly unobserved: never a failure)."""
    if mostly_unobserved or percent is None:
        return "none"
    return "good" if percent >= GOOD_PERCENT else "fair" if percent >= FAIR_PERCENT else "poor"
