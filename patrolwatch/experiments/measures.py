"""The measures of one place on one day, from its visits (pure; DOMAIN.md "Experiments").

Visits come from the one visit definition (:mod:`patrolwatch.core.visits`); patrol- and
officer-minutes from :mod:`patrolwatch.core.coverage`. Over the day's dose window [a, b):

- ``visits``: visits overlapping the window; ``qualifying_visits``: those lasting at least
  the dose's minutes (the same threshold in both arms, so the arms compare).
- ``patrol_minutes`` (union) and ``officer_minutes`` (sum): time inside the window only.
- ``mean_visit_minutes``: mean duration of the visits counted (blank without visits).
- ``first_visit`` / ``last_visit``: start of the first and end of the last counted visit.
- ``observed_minutes``: the window's minutes that were observed; under half observed the
  day is ``mostly_unobserved``: its compliance is blank (not judged), never 0. A day still
  running is measured up to now (the caller cuts ``b``); before its window, nothing is judged.
- ``planned_visits`` (treated only) = the dose's visits; ``compliance`` =
  min(1, qualifying / planned); controls have neither.
- ``buffer_patrol_minutes``: patrol-minutes of the visits in the place's buffer ring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patrolwatch.core.coverage import officer_minutes, patrol_minutes
from patrolwatch.core.observed import Interval, observed_seconds
from patrolwatch.core.visits import TIME_EPS, Visit


@dataclass(frozen=True)
class DayDose:
    """What one place got on one day (minutes as floats, times as epoch seconds)."""

    visits: int
    qualifying_visits: int
    patrol_minutes: float
    officer_minutes: float
    mean_visit_minutes: float | None
    first_visit: float | None
    last_visit: float | None
    observed_minutes: float
    window_minutes: float
    planned_visits: int | None
    compliance: float | None
    mostly_unobserved: bool
    buffer_visits: int
    buffer_patrol_minutes: float
    buffer_officer_minutes: float


NO_DATA = DayDose(0, 0, 0.0, 0.0, None, None, None, 0.0, 0.0, None, None, True, 0, 0.0, 0.0)


def union(*groups: Sequence[Interval]) -> list[Interval]:
    """Return the union of interval lists as sorted disjoint intervals."""
    out: list[Interval] = []
    for a, b in sorted(i for g in groups for i in g):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlapping(visits: Sequence[Visit], a: float, b: float) -> list[Visit]:
    return sorted((v for v in visits if v.start < b and v.end >= a), key=lambda v: v.start)


def day_dose(visits: Sequence[Visit], ring_visits: Sequence[Visit], a: float, b: float,
             observed: Sequence[Interval] | None, min_minutes: float,
             planned: int | None) -> DayDose:
    """Return one place-day's measures over the window [a, b)."""
    inside = _overlapping(visits, a, b)
    ring = _overlapping(ring_visits, a, b)
    need = min_minutes * 60.0 - TIME_EPS
    good = sum(1 for v in inside if v.end - v.start >= need)
    seen = (b - a if observed is None else observed_seconds(observed, a, b)) / 60.0
    window = (b - a) / 60.0
    unobserved = seen * 2 < window or window <= 0  # no window yet: nothing to judge
    compliance = None
    if planned and not unobserved:
        compliance = min(1.0, good / planned)
    return DayDose(
        visits=len(inside), qualifying_visits=good,
        patrol_minutes=patrol_minutes(inside, a, b), officer_minutes=officer_minutes(inside, a, b),
        mean_visit_minutes=(sum(v.minutes for v in inside) / len(inside)) if inside else None,
        first_visit=inside[0].start if inside else None,
        last_visit=max(v.end for v in inside) if inside else None,
        observed_minutes=seen, window_minutes=window, planned_visits=planned,
        compliance=compliance, mostly_unobserved=unobserved,
        buffer_visits=len(ring), buffer_patrol_minutes=patrol_minutes(ring, a, b),
        buffer_officer_minutes=officer_minutes(ring, a, b),
    )
