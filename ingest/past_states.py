"""Re-evaluate hotspot states of the past when late data arrives (the evaluator's hook).

Each tick the evaluator tells :class:`PastStates` the event times it took from the change
feed; a time more than ``LATE_S`` older than the tick is late: the states recorded since
then may have been wrong. The range from the oldest late time to the tick is re-evaluated
(``core.past_states``), at most ``MAX_STEPS`` minutes a tick, oldest first, and its stored
entries replaced. It never reaches before the archive mark (those entries are in Parquet
already) nor before the evaluator's horizon (the engine no longer holds those visits).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from patrolwatch.core.coverage import WindowCache
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.observed import ObservedTime
from patrolwatch.core.past_states import past_entries, steps
from patrolwatch.core.visit_engine import VisitEngine
from patrolwatch.store import Store
from patrolwatch.store.keys import HOTSPOT_STATES_EVERY_S

log = logging.getLogger(__name__)
LATE_S = 60.0  # event times older than this at their tick may change recorded states
MAX_STEPS = 240  # minutes re-evaluated per tick at most; the rest waits for the next tick


class _Evaluator(Protocol):
    store: Store
    hotspots: HotspotSet
    engine: VisitEngine
    observed: ObservedTime
    horizon_s: float


class PastStates:
    """The stretch of the past whose hotspot states late data may have changed."""

    def __init__(self, zone_windows: WindowCache, due_warning_minutes: float) -> None:
        self.windows = zone_windows  # its own cache: past moments would churn the live one
        self.due_warning_minutes = due_warning_minutes
        self.pending: tuple[float, float] | None = None

    def mark(self, times: Sequence[float], now: float) -> None:
        """Note the event times just consumed; widen the pending range by the late ones."""
        late = [t for t in times if t < now - LATE_S]
        if not late:
            return
        # Up to now, not now - LATE_S: late data changes every state after its time, and
        # the live entries of the last minute were recorded without it (a flush's tail
        # would otherwise split one gap in two in the report).
        lo, hi = min(late), now
        if self.pending is not None:
            lo, hi = min(lo, self.pending[0]), max(hi, self.pending[1])
        self.pending = (lo, hi)

    def run(self, ev: _Evaluator, now: float) -> int:
        """Re-evaluate up to MAX_STEPS minutes of the pending range; return entries written."""
        if self.pending is None:
            return 0
        floor = max(now - ev.horizon_s, ev.store.archived_until())
        # Never at or after this tick's own live entry (recorded at ``now``, already right).
        lo, hi = max(self.pending[0], floor), min(self.pending[1], now)
        times = steps(lo, hi, HOTSPOT_STATES_EVERY_S)[:MAX_STEPS]
        if not times:
            self.pending = None
            return 0
        upto = times[-1] + HOTSPOT_STATES_EVERY_S
        entries = past_entries(list(ev.hotspots), self.windows.window_at,
                               ev.engine.hotspot_visits, ev.observed.observed_since, times,
                               self.due_warning_minutes)
        ev.store.replace_hotspot_states(times[0], min(upto, hi), entries)
        self.pending = None if upto >= hi else (upto, hi)
        log.info("re-evaluated hotspot states of %d past minutes after late data", len(times))
        return len(entries)
