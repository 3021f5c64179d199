"""What the history pool's processes run (``patrolwatch.archive.pool``): frames, polygon
presence and the operation report, each from this process's own store and archive reader.

``start`` runs once in each pool process with the app's settings, hotspots and callsigns;
the jobs return plain values (a Frame, presence rows, report text) for the web worker to
send. Nothing here runs in a web worker.
"""

from __future__ import annotations

from typing import Any

from patrolwatch.archive.frames import Frame, frame
from patrolwatch.archive.presence import Area, presence
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.visits import VisitParams
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store

# This pool process's own connections, made once by ``start`` (a pool process serves one app).
_CONTEXT: dict[str, Any] = {}


def start(settings: Settings, hotspots: HotspotSet, roster: Roster) -> None:
    """Set up this pool process: its Redis connection, archive reader, hotspots, roster."""
    store = Store.from_settings(settings)
    callsigns = {uid: u.callsign for uid, u in roster.units.items()}
    _CONTEXT.update(settings=settings, store=store, hotspots=hotspots, roster=roster,
                    callsigns=callsigns,
                    history=History(store, ArchiveReader(ArchiveStorage(settings.archive))))


def frame_job(at: float) -> Frame:
    """Return the replay frame at ``at``."""
    c = _CONTEXT
    s: Settings = c["settings"]
    return frame(c["history"], at, c["store"].seen_units(), c["callsigns"],
                 [h.id for h in c["hotspots"]], s.stale_after_s, s.trail_retention_s)


def presence_job(area: Area, since: float, until: float) -> list[dict[str, Any]]:
    """Return who was in the area in [since, until] (the plan was checked by the caller)."""
    c = _CONTEXT
    s: Settings = c["settings"]
    params = VisitParams(gap_s=s.visit_gap_s, grace_s=s.visit_grace_s,
                         max_acc_m=s.max_presence_acc_m)
    return presence(c["history"], area, since, until, params, s.trail_retention_s,
                    s.history_max_points)


def report_job(since: float, until: float, fmt: str, table: str) -> str:
    """Return the operation report over [since, until) as HTML or one CSV table."""
    from dashboard.deps import Deps
    from dashboard.reports import actions
    from dashboard.reports.printable import csv_text, html_text
    c = _CONTEXT
    s: Settings = c["settings"]
    # The app's roster: the report names units by callsign, as the screen does.
    deps = Deps(settings=s, store=c["store"], roster=c["roster"], hotspots=c["hotspots"])
    report = actions.build(deps, c["history"], since, until)
    if fmt == "csv":
        return csv_text(report, s.zone, table)
    return html_text(report, list(c["hotspots"]), s.zone)
