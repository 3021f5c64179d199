"""Which units to send to a gap: ranked suggestions, and a one-to-one assignment for all gaps.

A unit can be suggested when its status is AVAILABLE or ON_PATROL, it has not lost contact
(``is_stale``), it holds no open tasking, and it has a position. ETA = great-circle distance
/ the speed of its roster kind (foot 1.4, cycle 4, vehicle 8 m/s by default). A kind missing
from ``speeds`` takes the slowest speed given, so a bad roster entry makes an ETA pessimistic
rather than hiding the unit.

``assign`` pairs gaps and units at most once each. When there are more gaps than units, the
most urgent gaps (priority 1 first, then most overdue) are the ones served, whatever their
distance; among those it minimises the total of ETA x weight, weight = 1 / priority, so the
fastest units go where priority is highest (a minute on a priority-1 gap counts three times
a minute on a priority-3 gap). A weight like (4 - priority) would do the same for 1..3 but
reaches zero at priority 4; 1 / priority stays positive for any priority.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from patrolwatch.core.coverage import Gap
from patrolwatch.core.geo import haversine_m, haversine_m_array
from patrolwatch.core.model import ELIGIBLE_STATUSES, UnitState, is_stale


@dataclass(frozen=True)
class Suggestion:
    """A unit that could go, how far it is and how long it would take (metres, seconds)."""

    id: str
    distance_m: float
    eta_s: float


def speed_of(kind: str, speeds: Mapping[str, float]) -> float:
    """Return the speed (m/s) of a unit kind; an unknown kind takes the slowest one given."""
    if not speeds:
        raise ValueError("speeds is empty: give m/s per unit kind, e.g. {'foot': 1.4}")
    return speeds.get(kind) or min(speeds.values())


def available_units(
    units: Sequence[UnitState], busy: set[str], now: float, stale_after_s: float
) -> list[UnitState]:
    """Return the units that can be sent now, sorted by id."""
    out = [
        u for u in units
        if u.status in ELIGIBLE_STATUSES and u.id not in busy and u.lat is not None
        and u.lon is not None and not is_stale(u.last_seen, u.lwt_ts, now, stale_after_s)
    ]
    out.sort(key=lambda u: u.id)
    return out


def suggest_units(
    lat: float,
    lon: float,
    units: Sequence[UnitState],
    speeds: Mapping[str, float],
    busy: set[str],
    now: float,
    stale_after_s: float,
    limit: int = 5,
) -> list[Suggestion]:
    """Return up to ``limit`` units for a place, soonest ETA first (ties: nearer, then id)."""
    out = []
    for u in available_units(units, busy, now, stale_after_s):
        distance = haversine_m(u.lat, u.lon, lat, lon)  # type: ignore[arg-type]
        out.append(Suggestion(u.id, distance, distance / speed_of(u.kind, speeds)))
    out.sort(key=lambda s: (s.eta_s, s.distance_m, s.id))
    return out[:limit]


def gap_weight(priority: int) -> float:
    """Return how much a second of ETA to a gap of this priority costs (1 / priority)."""
    return 1.0 / max(1, priority)


def assign(
    gaps: Sequence[Gap],
    units: Sequence[UnitState],
    speeds: Mapping[str, float],
    busy: set[str],
    now: float,
    stale_after_s: float,
) -> list[tuple[str, Suggestion]]:
    """Return (hotspot id, unit) pairs: one unit per gap at most, one gap per unit at most."""
    candidates = available_units(units, busy, now, stale_after_s)
    if not gaps or not candidates:
        return []
    served = sorted(gaps, key=lambda g: (g.priority, -g.overdue_minutes, g.hotspot))
    served = served[: len(candidates)]
    distance = haversine_m_array(
        np.array([[g.lat] for g in served]), np.array([[g.lon] for g in served]),
        np.array([[u.lat for u in candidates]]), np.array([[u.lon for u in candidates]]),
    )
    speed = np.array([speed_of(u.kind, speeds) for u in candidates])
    eta = distance / speed
    weight = np.array([[gap_weight(g.priority)] for g in served])
    rows, cols = linear_sum_assignment(eta * weight)
    return [
        (served[r].hotspot,
         Suggestion(candidates[c].id, float(distance[r, c]), float(eta[r, c])))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
    ]
