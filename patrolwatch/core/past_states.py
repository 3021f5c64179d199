"""Hotspot states of the past, re-evaluated by event time when late data changes them (pure).

The evaluator records each hotspot's state as it runs. Data that arrives late (a handheld
flushing hours of buffer, the demo's published past) changes what the states *were*: a past
stretch that was ``no_data`` (nothing observed) becomes observed, visits appear, gaps open.
Like every other rule this goes by event time, so the states of a past moment are evaluated
again from the visits and observed time known now, one entry a minute, and replace the
entries recorded live.

A unit counts as present at a past moment ``t`` when one of its visits there runs over
``t`` (start <= t <= end): the visits already hold the eligible-status and accuracy rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from patrolwatch.core.coverage import evaluate_hotspot
from patrolwatch.core.hotspots import Hotspot
from patrolwatch.core.schedule import Window
from patrolwatch.core.visits import Visit

StateEntry = tuple[float, dict[str, str], bool]


def steps(lo: float, hi: float, every_s: float) -> list[float]:
    """Return the whole multiples of ``every_s`` in [lo, hi)."""
    first = math.ceil(lo / every_s) * every_s
    return [first + k * every_s for k in range(max(0, math.ceil((hi - first) / every_s)))]


def present_at(visits: Sequence[Visit], t: float) -> set[str]:
    """Return the units whose visit runs over ``t``."""
    return {v.unit for v in visits if v.start <= t <= v.end}


def states_at(hotspots: Sequence[Hotspot], window_at: Callable[[Hotspot, float], Window | None],
              visits_of: Callable[[str], Sequence[Visit]], t: float,
              observed_since: float | None, due_warning_minutes: float) -> StateEntry:
    """Return every hotspot's state at the past moment ``t`` as a state entry."""
    states: dict[str, str] = {}
    for h in hotspots:
        visits = visits_of(h.id)
        states[h.id] = evaluate_hotspot(h, window_at(h, t), visits, present_at(visits, t), t,
                                        observed_since, due_warning_minutes).state
    return (t, states, observed_since is not None)


def past_entries(hotspots: Sequence[Hotspot],
                 window_at: Callable[[Hotspot, float], Window | None],
                 visits_of: Callable[[str], Sequence[Visit]],
                 observed_since: Callable[[float], float | None], times: Sequence[float],
                 due_warning_minutes: float) -> list[StateEntry]:
    """Return the state entries at these past moments."""
    return [states_at(hotspots, window_at, visits_of, t, observed_since(t), due_warning_minutes)
            for t in times]
