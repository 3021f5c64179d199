"""Read what the operation report needs, through the store and the two-tier history."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.deps import Deps
from dashboard.reports.view import (
    Report,
    daily_presence,
    emergency_rows,
    shift_periods,
    shift_rows,
    tasking_rows,
)
from patrolwatch.archive.report_reads import emergency_units, gap_entries
from patrolwatch.archive.tiers import History
from patrolwatch.core.alarm_records import report_rows
from patrolwatch.core.hotspots import windows_between
from patrolwatch.core.visits import Visit


def build(deps: Deps, history: History, since: float, until: float) -> Report:
    """Return the report over [since, until)."""
    settings, store = deps.settings, deps.store
    zone = settings.zone
    hotspots = list(deps.hotspots)
    stored = store.visits_many([h.id for h in hotspots], since, until)
    visits = {hid: [Visit(v["unit"], hid, v["start"], v["end"], v["pings"]) for v in rows]
              for hid, rows in stored.items()}
    begin, end = datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC)
    windows = {h.id: windows_between(h, begin, end, zone) for h in hotspots}
    # Each entry's time, observed flag and gap states: all the rows use of the state history.
    entries = gap_entries(history, since, until)
    shifts = shift_periods(since, until, settings.shift_start_times, zone)
    audit = store.audit_between(since, until + settings.tasking_arrival_timeout_s)
    alarms = store.all_alarms()
    # Only the units that raised an EMERGENCY: the same emergencies as every unit's log gives.
    raised = emergency_units(history, alarms, since, until)
    changes = history.status_changes(raised, since, until, settings.trail_retention_s)
    return Report(
        since=since, until=until,
        rows=shift_rows(hotspots, shifts, windows, visits, entries, until),
        taskings=tasking_rows(store.taskings(), audit, since, until),
        emergencies=emergency_rows(changes, audit, since, until),
        alarms=report_rows(alarms, since, until, deps.callsigns),
        daily=daily_presence(hotspots, visits, since, until, zone),
    )
