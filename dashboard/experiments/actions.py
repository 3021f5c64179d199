"""What the experiment routes and pages read: the file, the day's lists, the panel."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from dashboard.deps import Deps
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.visits import VisitParams
from patrolwatch.experiments.allocation import Allocation
from patrolwatch.experiments.design import Experiment
from patrolwatch.experiments.outcomes import read_crimes
from patrolwatch.experiments.panel import MAX_DAYS, PanelRow, panel
from patrolwatch.experiments.service import day_allocation, load_for, local_day


class BadPeriodError(ValueError):
    """A date or period the caller gave that cannot be served (400)."""


def experiment(deps: Deps) -> Experiment | None:
    """Return the configured experiment (read from its file; small), or None."""
    return load_for(deps.settings, deps.hotspots.by_id)


def parse_day(text: str | None, name: str, default: date) -> date:
    """Return a local date query argument; raise BadPeriodError."""
    if text is None or text == "":
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadPeriodError(f"{name}={text[:40]!r}: give a local date, YYYY-MM-DD") from None


def allocation_json(exp: Experiment, alloc: Allocation, now: float) -> dict[str, Any]:
    """Return CONTRACT.md's allocation answer."""
    return {"experiment": exp.id, "date": alloc.day.isoformat(), "frozen": alloc.frozen(now),
            "digest": alloc.digest, "treatment": list(alloc.treatment),
            "control": list(alloc.control)}


def allocation_for(deps: Deps, exp: Experiment, text: str | None, now: float) -> Allocation:
    """Return the allocation of the day asked for (default today); raise BadPeriodError."""
    day = parse_day(text, "date", local_day(now, deps.settings.zone))
    if not exp.runs_on(day):
        raise BadPeriodError(f"{day} is not a day of experiment {exp.id} "
                             f"({exp.start} to {exp.end})")
    return day_allocation(exp, day, deps.store)


def panel_period(deps: Deps, exp: Experiment, since_text: str | None, until_text: str | None,
                 now: float) -> tuple[date, date]:
    """Return the checked (since, until) local dates of a panel request."""
    today = local_day(now, deps.settings.zone)
    until = parse_day(until_text, "until", min(today, exp.end))
    since = parse_day(since_text, "since",
                      max(exp.start, until - timedelta(days=MAX_DAYS - 1)))
    if since > until:
        raise BadPeriodError("since is after until: swap them")
    if (until - since).days >= MAX_DAYS:
        raise BadPeriodError(f"the period is longer than {MAX_DAYS} days: ask in pieces")
    if until > today + timedelta(days=1):
        raise BadPeriodError(f"until {until} is in the future")
    # Days past raw retention are answered from the measures stored when they were measured
    # (aggregates without unit ids, kept as long as the experiment's days).
    return max(since, exp.start), min(until, exp.end)


def panel_rows(deps: Deps, exp: Experiment, since: date, until: date) -> list[PanelRow]:
    """Return the panel rows over [since, until]."""
    s = deps.settings
    history = History(deps.store, ArchiveReader(ArchiveStorage(s.archive)))
    crimes = read_crimes(exp.crimes, s.zone) if exp.crimes else None
    return panel(exp, deps.hotspots, history, deps.store, since, until, s.zone,
                 VisitParams(s.visit_gap_s, s.visit_grace_s, s.max_presence_acc_m),
                 s.trail_retention_s, s.stale_after_s, crimes)


def today_allocation(deps: Deps, now: float | None = None
                     ) -> tuple[Experiment, Allocation] | None:
    """Return the experiment and today's lists, or None outside an experiment's days."""
    exp = experiment(deps)
    now = time.time() if now is None else now
    if exp is None:
        return None
    day = local_day(now, deps.settings.zone)
    if not exp.runs_on(day):
        return None
    return exp, day_allocation(exp, day, deps.store)
