"""The experiment routes (CONTRACT.md section 4): the day's allocation and the panel.

``/allocation`` is for every role that sees the map; ``/panel`` for supervisors and admins,
written to the access log before it is served (it says who was where, per place and day).
"""

from __future__ import annotations

import time

import duckdb
import redis
from flask import Blueprint, Response, jsonify, request

from dashboard.access import record_read
from dashboard.auth import CONTROL_ROOM_ROLES, actor, check_role
from dashboard.deps import Deps
from dashboard.experiments import actions
from patrolwatch.errors import ConfigError
from patrolwatch.experiments.design import Experiment
from patrolwatch.experiments.panel import panel_csv, panel_json


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def blueprint(deps: Deps) -> Blueprint:
    """Return the experiment routes bound to this app's store and hotspots."""
    bp = Blueprint("patrolwatch_experiments_api", __name__)

    @bp.errorhandler(redis.RedisError)
    def _redis_down(exc: redis.RedisError) -> tuple[Response, int]:
        return _error(503, f"live store unreachable ({type(exc).__name__}): try again shortly")

    @bp.errorhandler(duckdb.Error)
    @bp.errorhandler(OSError)
    def _archive_down(exc: Exception) -> tuple[Response, int]:
        return _error(503, f"the archive cannot be read ({type(exc).__name__}): check "
                           "PATROL_ARCHIVE and its storage")

    @bp.errorhandler(ConfigError)
    def _bad_file(exc: ConfigError) -> tuple[Response, int]:
        return _error(503, "the experiment file has problems: " + "; ".join(exc.problems[:5]))

    def _experiment(experiment_id: str) -> Experiment | None:
        exp = actions.experiment(deps)
        return exp if exp is not None and exp.id == experiment_id else None

    @bp.get("/api/experiments/<experiment_id>/allocation")
    def allocation(experiment_id: str) -> Response | tuple[Response, int]:
        check_role(*CONTROL_ROOM_ROLES)
        exp = _experiment(experiment_id)
        if exp is None:
            return _error(404, f"no experiment {experiment_id!r}: see PATROL_EXPERIMENT")
        now = time.time()
        try:
            alloc = actions.allocation_for(deps, exp, request.args.get("date"), now)
        except actions.BadPeriodError as exc:
            return _error(400, str(exc))
        return jsonify(actions.allocation_json(exp, alloc, now))

    @bp.get("/api/experiments/<experiment_id>/panel")
    def panel(experiment_id: str) -> Response | tuple[Response, int]:
        check_role("supervisor")  # admins hold every role
        exp = _experiment(experiment_id)
        if exp is None:
            return _error(404, f"no experiment {experiment_id!r}: see PATROL_EXPERIMENT")
        fmt = request.args.get("format", "json")
        if fmt not in ("json", "csv"):
            return _error(400, f"format={fmt[:20]!r}: use json or csv")
        try:
            since, until = actions.panel_period(deps, exp, request.args.get("since"),
                                                request.args.get("until"), time.time())
        except actions.BadPeriodError as exc:
            return _error(400, str(exc))
        record_read(deps.store, actor(), "experiment_panel", experiment=exp.id,
                    since=since.isoformat(), until=until.isoformat(), format=fmt)
        rows = actions.panel_rows(deps, exp, since, until)
        if fmt == "csv":
            return Response(panel_csv(rows), mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="{exp.id}-panel.csv"'})
        return jsonify({"experiment": exp.id, "since": since.isoformat(),
                        "until": until.isoformat(), "rows": panel_json(rows)})

    return bp
