"""The history API (CONTRACT.md section 4): replay frames, who was here, the operation report.

For supervisors and admins only; every answer is written to the access log (who, what,
which period) before it is returned. Bad input is a 400 with ``{"error": ...}``; an
unreachable Redis or unreadable archive is a 503; never a 500.

The queries run in the app's history pool (``patrolwatch.archive.pool``), never in this
web worker: a polygon query's reads are counted first and over the budget it is a 413 at
once; a full pool and queue is a 503 at once; both say how to narrow the request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import duckdb
import redis
from flask import Blueprint, Response, current_app, has_app_context, jsonify, request

from dashboard import history_jobs
from dashboard.access import area_summary, record_read
from dashboard.api import time_window
from dashboard.auth import actor, check_role
from dashboard.deps import Deps
from dashboard.reports.printable import TABLES
from dashboard.times import BadTimeError, rfc3339
from patrolwatch.archive.frames import Frame, frame
from patrolwatch.archive.pool import BusyError, HistoryPool
from patrolwatch.archive.presence import (
    Area,
    BadAreaError,
    OverBudgetError,
    plan,
    polygon_area,
    presence,
)
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History
from patrolwatch.core.periods import Bounds, PeriodError, moment_from_args
from patrolwatch.core.visits import VisitParams

POOL_EXTENSION = "patrolwatch_history_pool"  # app.extensions key: the app's history pool
DEFAULT_PRESENCE_S = 3600.0
MAX_PRESENCE_S = 31 * 86_400.0
DEFAULT_REPORT_S = 7 * 86_400.0
MAX_REPORT_S = 31 * 86_400.0


def history_for(deps: Deps) -> History:
    """Return the two-tier history reader of this app's store and archive."""
    return History(deps.store, ArchiveReader(ArchiveStorage(deps.settings.archive)))


def visit_params(deps: Deps) -> VisitParams:
    """Return G, E and the accuracy limit from the settings."""
    s = deps.settings
    return VisitParams(gap_s=s.visit_gap_s, grace_s=s.visit_grace_s, max_acc_m=s.max_presence_acc_m)


def frame_json(f: Frame) -> dict[str, Any]:
    """Return ``/api/replay/frame``."""
    return {"at": rfc3339(f.at), "states_at": rfc3339(f.states_at),
            "units": [{"id": u.id, "callsign": u.callsign, "lat": u.lat, "lon": u.lon,
                       "ts": rfc3339(u.ts), "status": u.status, "stale": u.stale}
                      for u in f.units],
            "hotspots": [{"id": h, "state": s} for h, s in f.hotspots.items()]}


def presence_json(rows: list[dict[str, Any]], callsigns: Mapping[str, str]) -> dict[str, Any]:
    """Return ``/api/presence``."""
    return {"units": [{"id": r["unit"], "callsign": callsigns.get(r["unit"], r["unit"]),
                       "first": rfc3339(r["first"]), "last": rfc3339(r["last"]),
                       "minutes": round(r["minutes"], 2), "visits": r["visits"]}
                      for r in rows]}


def hotspot_presence(deps: Deps, hotspot: str, since: float, until: float
                     ) -> list[dict[str, Any]]:
    """Return who was at a configured hotspot: the evaluator's stored visits, clipped."""
    rows: dict[str, dict[str, Any]] = {}
    for v in deps.store.visits(hotspot, since, until):
        start, end = max(v["start"], since), min(v["end"], until)
        if end < start:
            continue
        row = rows.setdefault(v["unit"], {"unit": v["unit"], "first": start, "last": end,
                                          "minutes": 0.0, "visits": 0})
        row["first"], row["last"] = min(row["first"], start), max(row["last"], end)
        row["minutes"] += (end - start) / 60.0
        row["visits"] += 1
    return sorted(rows.values(), key=lambda r: (r["first"], r["unit"]))


def _pool() -> HistoryPool | None:
    """Return this app's history pool (None outside a request, e.g. in a plain test call)."""
    if not has_app_context():
        return None
    pool = current_app.extensions.get(POOL_EXTENSION)
    return pool if isinstance(pool, HistoryPool) else None


def pooled_frame(deps: Deps, at: float) -> Frame:
    """Return the replay frame at ``at``, computed in the history pool; BusyError when full."""
    pool = _pool()
    if pool is None:
        return frame(history_for(deps), at, deps.store.seen_units(), deps.callsigns,
                     [h.id for h in deps.hotspots], deps.settings.stale_after_s,
                     deps.settings.trail_retention_s)
    return pool.run(history_jobs.frame_job, at)


def pooled_presence(deps: Deps, area: Area, since: float, until: float
                    ) -> list[dict[str, Any]]:
    """Return who was in a drawn area, planned here (OverBudgetError at once), run in the pool."""
    s = deps.settings
    history = history_for(deps)
    plan(history, area, since, until, s.history_max_points)
    pool = _pool()
    if pool is None:
        return presence(history, area, since, until, visit_params(deps), s.trail_retention_s,
                        s.history_max_points)
    return pool.run(history_jobs.presence_job, area, since, until)


def area_from(deps: Deps, args: Mapping[str, str]) -> tuple[str | None, Area | None]:
    """Return (hotspot id, None) or (None, polygon) from the query; raise BadAreaError."""
    hotspot, polygon = args.get("hotspot"), args.get("polygon")
    if (hotspot is None) == (polygon is None):
        raise BadAreaError("give exactly one of hotspot=ID or polygon=GeoJSON (URL-encoded)")
    if hotspot is not None:
        if hotspot not in deps.hotspots.by_id:
            raise BadAreaError(f"unknown hotspot {hotspot!r}: see /api/hotspots for the ids")
        return hotspot, None
    return None, polygon_area(polygon or "")


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def blueprint(deps: Deps) -> Blueprint:
    """Return the history routes bound to this app's store, archive and hotspots."""
    bp = Blueprint("patrolwatch_history_api", __name__)
    settings = deps.settings
    pool = HistoryPool(settings.history_workers, settings.history_queue,
                       settings.history_memory_mb, initializer=history_jobs.start,
                       initargs=(settings, deps.hotspots, deps.roster))
    bp.record_once(lambda state: state.app.extensions.__setitem__(POOL_EXTENSION, pool))

    @bp.before_request
    def _roles() -> None:
        check_role("supervisor")  # admins hold every role

    @bp.errorhandler(redis.RedisError)
    def _redis_down(exc: redis.RedisError) -> tuple[Response, int]:
        return _error(503, f"live store unreachable ({type(exc).__name__}): try again shortly")

    @bp.errorhandler(BusyError)
    def _busy(exc: BusyError) -> tuple[Response, int]:
        return _error(503, str(exc))

    @bp.errorhandler(OverBudgetError)
    def _over_budget(exc: OverBudgetError) -> tuple[Response, int]:
        return _error(413, str(exc))

    @bp.errorhandler(duckdb.Error)
    @bp.errorhandler(OSError)
    def _archive_down(exc: Exception) -> tuple[Response, int]:
        return _error(503, f"the archive at {settings.archive} cannot be read "
                           f"({type(exc).__name__}): check PATROL_ARCHIVE and its storage")

    @bp.get("/api/replay/frame")
    def replay_frame() -> Response | tuple[Response, int]:
        now = time.time()
        try:
            at = moment_from_args(request.args, "at", Bounds(now, settings.trail_retention_s),
                                  settings.max_future_s)
        except PeriodError as exc:
            return _error(400, str(exc))
        record_read(deps.store, actor(), "replay_frame", at=rfc3339(at))
        return jsonify(frame_json(pooled_frame(deps, at)))

    @bp.get("/api/presence")
    def presence_route() -> Response | tuple[Response, int]:
        try:
            since, until = time_window(request.args, time.time(), DEFAULT_PRESENCE_S,
                                       MAX_PRESENCE_S, settings.trail_retention_s)
            hotspot, area = area_from(deps, request.args)
        except (BadTimeError, BadAreaError) as exc:
            return _error(400, str(exc))
        record_read(deps.store, actor(), "presence", hotspot=hotspot,
                    area=None if area is None else area_summary(request.args.get("polygon")),
                    since=rfc3339(since), until=rfc3339(until))
        if hotspot is not None:
            rows = hotspot_presence(deps, hotspot, since, until)
        else:
            assert area is not None
            # Counted from the indexes first: over the budget it is refused now, not queued.
            rows = pooled_presence(deps, area, since, until)
        return jsonify(presence_json(rows, deps.callsigns))

    @bp.get("/api/reports/operation")
    def operation_report() -> Response | tuple[Response, int]:
        fmt = request.args.get("format", "html")
        if fmt not in ("html", "csv"):
            return _error(400, f"format={fmt!r}: use html or csv")
        table = request.args.get("table", "shifts")
        if table not in TABLES:
            return _error(400, f"table={table!r}: use one of {', '.join(TABLES)} "
                               "(one tidy table each)")
        try:
            since, until = time_window(request.args, time.time(), DEFAULT_REPORT_S,
                                       MAX_REPORT_S, settings.trail_retention_s)
        except BadTimeError as exc:
            return _error(400, str(exc))
        record_read(deps.store, actor(), "report", since=rfc3339(since), until=rfc3339(until),
                    format=fmt)
        text = pool.run(history_jobs.report_job, since, until, fmt, table)
        if fmt == "csv":
            return Response(text, mimetype="text/csv",
                            headers={"Content-Disposition":
                                     f'attachment; filename="operation-report-{table}.csv"'})
        return Response(text, mimetype="text/html")

    return bp
