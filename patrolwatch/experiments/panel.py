"""The panel: one row per place per day, both arms, read from the two-tier history.

Positions and statuses come from :class:`patrolwatch.archive.tiers.History` (Redis for the
hot hours, the Parquet archive before), visits from the one definition
(``visits_from_history``) over the pool's places and their buffer rings, observed time from
the evaluator's stored intervals joined with those of the positions and statuses read (so a
day past the evaluator's horizon, or one whose data came late, is observed as it was).
The CSV has exactly CONTRACT.md's columns; the JSON rows add ``first_visit``,
``last_visit``, ``mostly_unobserved`` and the ring's visits.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

import numpy as np

from patrolwatch.archive.tiers import History
from patrolwatch.core.csvsafe import csv_safe_row
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.observed import observed_intervals
from patrolwatch.core.taskings import rfc3339
from patrolwatch.core.visits import Ping, Visit, VisitParams, visits_from_history
from patrolwatch.experiments.allocation import Allocation, allocate, day_bounds
from patrolwatch.experiments.design import Experiment
from patrolwatch.experiments.measures import NO_DATA, DayDose, day_dose, union
from patrolwatch.experiments.outcomes import Crime, Tally, tally
from patrolwatch.experiments.rings import in_rings, ring_id
from patrolwatch.store import Store
from patrolwatch.store.experiments import ExperimentStore

CSV_COLUMNS = (
    "date", "hotspot", "block", "arm", "visits", "qualifying_visits", "patrol_minutes",
    "officer_minutes", "mean_visit_minutes", "observed_minutes", "planned_visits", "compliance",
    "buffer_patrol_minutes", "consecutive_treated_days", "events", "harm", "buffer_events",
    "buffer_harm", "digest",
)
MAX_DAYS = 366


@dataclass(frozen=True)
class PanelRow:
    """One place on one day (CONTRACT.md section 4's columns, then extras for JSON)."""

    date: str
    hotspot: str
    block: str
    arm: str
    visits: int
    qualifying_visits: int
    patrol_minutes: float
    officer_minutes: float
    mean_visit_minutes: float | None
    observed_minutes: float
    planned_visits: int | None
    compliance: float | None
    buffer_patrol_minutes: float
    consecutive_treated_days: int
    events: int | None
    harm: float | None
    buffer_events: int | None
    buffer_harm: float | None
    digest: str
    first_visit: float | None = None
    last_visit: float | None = None
    mostly_unobserved: bool = False
    buffer_visits: int = 0
    buffer_officer_minutes: float = 0.0


def days_of(exp: Experiment, since: date, until: date) -> list[date]:
    """Return the experiment's days in [since, until] (at most ``MAX_DAYS``)."""
    first, last = max(since, exp.start), min(until, exp.end)
    n = (last - first).days + 1
    return [first + timedelta(days=i) for i in range(max(0, min(n, MAX_DAYS)))]


def classify(units: dict[str, list[tuple[float, float, float, float | None]]],
             places: HotspotSet, ids: Sequence[str], buffer_m: float) -> list[Ping]:
    """Tag every point with the places and rings it lies in."""
    pings: list[Ping] = []
    for unit, points in units.items():
        if not points:
            continue
        lats = np.fromiter((p[1] for p in points), float, len(points))
        lons = np.fromiter((p[2] for p in points), float, len(points))
        inside = places.containing_many(lats, lons)
        rings = in_rings(places, ids, lats, lons, buffer_m)
        pings.extend(Ping(unit, p[0], frozenset(a + b), p[3])
                     for p, a, b in zip(points, inside, rings, strict=True))
    return pings


def arms_for(exp: Experiment, days: Iterable[date], stored: dict[date, Allocation]
             ) -> dict[date, Allocation]:
    """Return each day's allocation: as stored, else as the file gives it."""
    return {d: stored.get(d) or allocate(exp, d) for d in days}


def streak(exp: Experiment, arms: dict[date, Allocation], stored: dict[date, Allocation],
           hotspot: str, day: date) -> int:
    """Return consecutive treated days of a place up to ``day``."""
    n, d = 0, day
    while d >= exp.start:
        a = arms.get(d) or stored.get(d) or allocate(exp, d)
        if a.arm(hotspot) != "treatment":
            break
        n, d = n + 1, d - timedelta(days=1)
    return n


def day_doses(exp: Experiment, alloc: Allocation, visits: Mapping[str, Sequence[Visit]],
              observed: Sequence[tuple[float, float]] | None, a: float, b: float
              ) -> dict[str, DayDose]:
    """Return each place's measures over [a, b) from its visits and its ring's (pure)."""
    return {h: day_dose(visits.get(h, []), visits.get(ring_id(h), []), a, b, observed,
                        exp.dose.minutes,
                        exp.dose.visits if alloc.arm(h) == "treatment" else None)
            for h in exp.places()}


def build_rows(exp: Experiment, day: date, alloc: Allocation, doses: Mapping[str, DayDose],
               streaks: dict[str, int], tallies: dict[tuple[str, date], Tally] | None
               ) -> list[PanelRow]:
    """Return one day's rows (pure: everything is given)."""
    blocks = exp.block_of()
    out = []
    for h in exp.places():
        arm = alloc.arm(h) or "control"
        dose = doses.get(h) or NO_DATA
        t = None if tallies is None else tallies.get((h, day), Tally())
        out.append(PanelRow(
            day.isoformat(), h, blocks.get(h, ""), arm, dose.visits, dose.qualifying_visits,
            dose.patrol_minutes, dose.officer_minutes, dose.mean_visit_minutes,
            dose.observed_minutes, exp.dose.visits if arm == "treatment" else None,
            dose.compliance, dose.buffer_patrol_minutes, streaks.get(h, 0),
            None if t is None else t.events, None if t is None else t.harm,
            None if t is None else t.buffer_events, None if t is None else t.buffer_harm,
            alloc.digest, dose.first_visit, dose.last_visit, dose.mostly_unobserved,
            dose.buffer_visits, dose.buffer_officer_minutes,
        ))
    return out


def measured_doses(exp: Experiment, places: HotspotSet, ids: Sequence[str], history: History,
                   store: Store, alloc: Allocation, a: float, b: float, params: VisitParams,
                   retention_s: float, stale_after_s: float) -> dict[str, DayDose]:
    """Return one day's measures from the positions and statuses in both tiers."""
    units = store.seen_units()
    lead = max(params.gap_s, stale_after_s)  # visits and observed time reach back this far
    trails = history.points(units, a - lead, b + params.gap_s)
    statuses = history.status_changes(units, a - lead, b + params.gap_s, retention_s)
    by_place: dict[str, list[Visit]] = defaultdict(list)
    for v in visits_from_history(classify(trails, places, ids, exp.buffer_m), statuses, params):
        by_place[v.hotspot].append(v)
    times = [p[0] for pts in trails.values() for p in pts] + [s.ts for s in statuses]
    observed = union(store.observed_intervals(a, b), observed_intervals(times, stale_after_s))
    return day_doses(exp, alloc, by_place, observed, a, b)


def _observed(doses: Mapping[str, DayDose]) -> float:
    return sum(d.observed_minutes for d in doses.values())


def panel(exp: Experiment, hotspots: HotspotSet, history: History, store: Store,
          since: date, until: date, tz: tzinfo, params: VisitParams, retention_s: float,
          stale_after_s: float, crimes: Sequence[Crime] | None = None,
          now: float | None = None) -> list[PanelRow]:
    """Return the panel over the experiment's days in [since, until].

    A day still running is measured up to ``now`` (default: the current time), so the part of
    its window not yet reached is neither observed nor missed. A day whose window has ended
    is stored as measured; once its raw positions are past retention (or lost), the stored
    measures answer for it (a day never measured then reads as unobserved).
    """
    now = time.time() if now is None else now
    ids = [h for h in exp.places() if h in hotspots.by_id]
    places = HotspotSet([hotspots.by_id[h] for h in ids], tz)
    ex = ExperimentStore(store)
    stored = ex.days(exp.id)
    saved = ex.doses(exp.id)
    days = days_of(exp, since, until)
    arms = arms_for(exp, days, stored)
    tallies = None if crimes is None else tally(crimes, places, ids, exp.buffer_m, tz)
    rows: list[PanelRow] = []
    for day in days:
        a, end = day_bounds(exp, day, tz)
        b = max(a, min(end, now))
        alloc = arms[day]
        kept = {h: DayDose(**d) for h, d in saved.get(day, {}).get("doses", {}).items()}
        doses = kept
        if a >= now - retention_s:
            fresh = measured_doses(exp, places, ids, history, store, alloc, a, b, params,
                                   retention_s, stale_after_s)
            # Data lost (a flushed Redis, a deleted archive day) must not erase a measured day:
            # the fresh measures replace the stored ones unless they observe less of the window.
            if _observed(fresh) >= _observed(kept):
                doses = fresh
                if end <= now:
                    ex.save_doses(exp.id, day, alloc.digest,
                                  {h: asdict(d) for h, d in doses.items()})
        streaks = {h: streak(exp, arms, stored, h, day) for h in ids}
        rows += build_rows(exp, day, alloc, doses, streaks, tallies)
    return rows


def _cell(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name == "compliance":
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.1f}" if "minutes" in name else f"{value:g}"
    return value


def panel_csv(rows: Iterable[PanelRow]) -> str:
    """Return the panel as CSV: CONTRACT.md's columns, blank = none, text cells made inert."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = asdict(row)
        writer.writerow(csv_safe_row(_cell(c, data[c]) for c in CSV_COLUMNS))
    return out.getvalue()


def panel_json(rows: Iterable[PanelRow]) -> list[dict[str, Any]]:
    """Return the rows as JSON objects (times RFC 3339)."""
    out = []
    for row in rows:
        data = asdict(row)
        for k in ("first_visit", "last_visit"):
            data[k] = rfc3339(data[k]) if data[k] is not None else None
        out.append(data)
    return out
