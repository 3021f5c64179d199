"""What the day's arms do to coverage (pure): treated places carry the dose as their target,
control places have none and are never in gap, so never suggested.

A treated place is evaluated as a copy of its hotspot whose only window is the day's dose
window, with M = the dose's minutes and T = window / visits, so the evaluator plans exactly
the dose's visits and shows gaps and suggestions for it as for any hotspot. A control place
is evaluated as usual (visits, presence) but its state is ``present`` or ``inactive``: no
``due``, no ``gap``, so business as usual stays usual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from patrolwatch.core.coverage import HotspotCoverage
from patrolwatch.core.hotspots import Hotspot
from patrolwatch.core.schedule import ScheduleRule
from patrolwatch.experiments.allocation import Allocation
from patrolwatch.experiments.design import Experiment


@dataclass(frozen=True)
class ArmPlan:
    """The day's arms as the evaluator applies them (empty: no experiment running)."""

    experiment: str | None = None
    day: str | None = None
    digest: str | None = None
    treated: Mapping[str, Hotspot] = field(default_factory=dict)
    control: frozenset[str] = frozenset()

    def hotspot(self, h: Hotspot) -> Hotspot:
        """Return the hotspot to evaluate: the dose-target copy for a treated place."""
        return self.treated.get(h.id, h)

    def coverage(self, c: HotspotCoverage) -> HotspotCoverage:
        """Return a control place's coverage without target: present or inactive, never gap."""
        if c.hotspot not in self.control:
            return c
        return c._replace(state="present" if c.present_units else "inactive", gap_kind=None,
                          gap_since=None, overdue_minutes=0.0, reference=None)

    def annotate(self, row: dict[str, Any]) -> dict[str, Any]:
        """Add the place's arm (and experiment) to a snapshot row; return it."""
        hid = row.get("hotspot")
        if hid in self.treated:
            row["arm"] = "treatment"
        elif hid in self.control:
            row["arm"] = "control"
            row["target_minutes"] = None
            row["max_gap_minutes"] = None
        else:
            return row
        row["experiment"] = self.experiment
        return row


def dose_hotspot(h: Hotspot, exp: Experiment, alloc: Allocation) -> Hotspot:
    """Return a copy of a treated hotspot whose target is the day's dose."""
    window = exp.dose.window
    start, end = (window.start, window.end) if window else (time(0), time(0))
    rule = ScheduleRule(frozenset({alloc.day.weekday()}), start, end)
    return dataclasses.replace(
        h, schedule=(rule,), valid_from=alloc.day, valid_to=alloc.day,
        min_visit_minutes=exp.dose.minutes,
        max_gap_minutes=exp.dose.window_minutes() / exp.dose.visits,
    )


def arm_plan(exp: Experiment, alloc: Allocation, hotspots: Mapping[str, Hotspot]) -> ArmPlan:
    """Return the plan of one day's allocation over the known hotspots."""
    treated = {h: dose_hotspot(hotspots[h], exp, alloc) for h in alloc.treatment if h in hotspots}
    return ArmPlan(exp.id, alloc.day.isoformat(), alloc.digest, treated,
                   frozenset(h for h in alloc.control if h in hotspots))
