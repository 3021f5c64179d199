"""Visits chained over ranked points with numpy (pure): ``visits_from_history``'s rule for
the points of an area query, where only the points near the area are at hand.

Each row is one point read of one unit: its rank ``i`` among the unit's distinct times
(from 1), its time ``t``, the time ``prev`` of the point ranked just before it (whether or
not that point is at hand), and whether it is a *presence* ping (inside, accurate enough,
eligible status; copies of one time are one ping, inside if any copy is). Two consecutive
presence pings p < q of a unit are linked when q - p <= G and q is ranked next after p, or
two after with q at most E after the one between (DOMAIN.md "Visit"). A visit is a maximal
chain. Tested against ``visits_from_history`` on whole trails.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from patrolwatch.core.visits import TIME_EPS

Array = np.ndarray[Any, Any]


def chain_visits(unit: Array, i: Array, t: Array, prev: Array, presence: Array,
                 gap_s: float, grace_s: float) -> tuple[Array, Array, Array, Array]:
    """Return the visits as arrays (unit, start, end, pings); rows sorted by unit, then i."""
    # One ping per (unit, rank): a copy inside makes the ping a presence ping.
    first = np.r_[True, (unit[1:] != unit[:-1]) | (i[1:] != i[:-1])]
    starts = np.flatnonzero(first)
    pres = np.logical_or.reduceat(presence, starts) if len(starts) else presence[:0]
    u, r, tt, pv = unit[starts][pres], i[starts][pres], t[starts][pres], prev[starts][pres]
    if len(u) == 0:
        empty = np.empty(0)
        return u, empty, empty, empty.astype(np.int64)
    same = np.r_[False, u[1:] == u[:-1]]
    dt = np.r_[np.inf, tt[1:] - tt[:-1]]
    step = np.r_[0, r[1:] - r[:-1]]
    linked = same & (dt <= gap_s + TIME_EPS) & (
        (step == 1) | ((step == 2) & (tt - pv <= grace_s + TIME_EPS)))
    visit = np.cumsum(~linked) - 1
    heads = np.flatnonzero(~linked)
    ends = np.r_[heads[1:], len(u)] - 1
    return u[heads], tt[heads], tt[ends], np.bincount(visit).astype(np.int64)
