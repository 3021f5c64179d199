"""Allocate, freeze and read experiment days through the store; the evaluator's day plan.

Every caller (the CLI, the ingest loop, the API) goes through ``settle_day``/``day_allocation``
so the same rules hold everywhere: a stored day keeps its lists, a frozen one cannot change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import date, datetime, tzinfo

from patrolwatch.core.hotspots import Hotspot
from patrolwatch.experiments.allocation import Allocation, allocate, day_bounds
from patrolwatch.experiments.design import Experiment, load_experiment
from patrolwatch.experiments.targets import ArmPlan, arm_plan
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from patrolwatch.store.experiments import ExperimentStore

log = logging.getLogger(__name__)
PLAN_REFRESH_S = 30.0  # how often the evaluator re-reads the day's stored allocation


def local_day(now: float, tz: tzinfo) -> date:
    """Return the local date of an instant."""
    return datetime.fromtimestamp(now, tz).date()


def settle_day(exp: Experiment, day: date, store: Store, tz: tzinfo, now: float,
               actor: str) -> tuple[Allocation, bool]:
    """Store the day's allocation unless stored; return (it, whether stored now).

    Raises ``FrozenDayError`` when the file changed after the day was frozen.
    """
    freeze_at = day_bounds(exp, day, tz)[0]
    return ExperimentStore(store).settle(allocate(exp, day), now, freeze_at, actor)


def day_allocation(exp: Experiment, day: date, store: Store) -> Allocation:
    """Return the stored allocation of a day, else the one the file gives (not stored yet)."""
    return ExperimentStore(store).day(exp.id, day) or allocate(exp, day)


def load_for(settings: Settings, known: Mapping[str, Hotspot] | None = None
             ) -> Experiment | None:
    """Return the experiment in ``PATROL_EXPERIMENT``, or None when unset."""
    if settings.experiment is None:
        return None
    return load_experiment(settings.experiment, None if known is None else set(known))


class PlanSource:
    """The evaluator's view of today's arms: the stored allocation, re-read now and then.

    Today's lists as stored (by ``patrolwatch experiment allocate`` or the ingest loop); before
    anything is stored, the lists the file gives, which the loop will store unchanged.
    """

    def __init__(self, exp: Experiment | None, store: Store, hotspots: Mapping[str, Hotspot],
                 tz: tzinfo) -> None:
        self.exp = exp
        self.store = store
        self.hotspots = hotspots
        self.tz = tz
        self._plan = ArmPlan()
        self._key: tuple[str, str] | None = None
        self._read_at = -1e18

    def plan(self, now: float) -> ArmPlan:
        """Return the arms at ``now`` (empty outside the experiment's days)."""
        if self.exp is None:
            return self._plan
        day = local_day(now, self.tz)
        if not self.exp.runs_on(day):
            return ArmPlan()
        if now - self._read_at < PLAN_REFRESH_S and self._key and self._key[0] == day.isoformat():
            return self._plan
        self._read_at = now
        alloc = day_allocation(self.exp, day, self.store)
        key = (day.isoformat(), alloc.digest + "|".join(alloc.treatment))
        if key != self._key:  # a new object only when the day changes: windows are cached by it
            self._plan = arm_plan(self.exp, alloc, self.hotspots)
            self._key = key
        return self._plan


def now_s() -> float:
    """Return the current time (seam for the CLI)."""
    return time.time()
