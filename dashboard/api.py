"""The HTTP API (CONTRACT.md section 4): every route in one blueprint, JSON in and out.

Every ``/api`` route is registered here and this blueprint's ``before_request`` checks the
role on the server: reading needs viewer, supervisor or admin (crew users get 403);
``POST /api/taskings`` needs supervisor or admin. Bad input is a 4xx with
``{"error": ...}``; an unreachable Redis or broker is a 503; never a 500.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis
from flask import Blueprint, Response, current_app, jsonify, request

from dashboard.access import current_window_start, record_read
from dashboard.alarms import actions as alarm_actions
from dashboard.auth import CONTROL_ROOM_ROLES, actor, allowed, check_role
from dashboard.coverage import view as views
from dashboard.deps import Deps
from dashboard.publisher import BrokerUnavailableError
from dashboard.redeploy.actions import DuplicateTaskingError, send_tasking
from dashboard.times import BadTimeError, rfc3339
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tiers import History, Trail
from patrolwatch.core.hotspots import Hotspot
from patrolwatch.core.model import UNIT_ID_RE, UnitState
from patrolwatch.core.periods import Bounds, PeriodError, period_from_args
from patrolwatch.dispatch import TaskingError, api_taskings
from patrolwatch.store import Stats

DEFAULT_TRAIL_S = 3600.0
MAX_TRAIL_S = 86_400.0  # one day of 1 Hz points is ~5 MB of JSON: ask in pieces beyond that
DEFAULT_VISITS_S = 86_400.0
MAX_VISITS_S = 31 * 86_400.0
TASKING_BODY_MAX = 4096  # a tasking is ~100 bytes; anything near this is not one
TASKING_FIELDS = frozenset({"unit", "hotspot", "note"})


class BadRequestError(ValueError):
    """A request body the API cannot use; carries the HTTP status and what to send instead."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_json_object(content_type: str | None, length: int | None, read: Any,
                     max_bytes: int) -> dict[str, Any]:
    """Return a request body as a JSON object; raise BadRequestError (413, 415 or 400).

    ``read(n)`` returns at most ``n`` bytes of the body, so an oversize body without a
    Content-Length is never read whole.
    """
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype != "application/json":
        raise BadRequestError(415, "send the body as JSON with Content-Type: application/json")
    if length is not None and length > max_bytes:
        raise BadRequestError(413, f"the body is {length} bytes; at most {max_bytes} are read")
    data = read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BadRequestError(413, f"the body is over {max_bytes} bytes; a tasking is "
                                   "{\"unit\", \"hotspot\", \"note\"?}")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(400, f"the body is not valid JSON ({exc}): send "
                                   '{"unit": "CW-401", "hotspot": "nte-soho"}') from None
    if not isinstance(body, dict):
        raise BadRequestError(400, "the body must be a JSON object with unit, hotspot and "
                                   "optionally note")
    unknown = sorted(set(body) - TASKING_FIELDS)
    if unknown:
        raise BadRequestError(400, f"unknown field(s) {', '.join(map(repr, unknown))}: a "
                                   "tasking takes unit, hotspot and optionally note")
    return body


# --- serialisers (pure) ------------------------------------------------------------------
def unit_json(unit: UnitState) -> dict[str, Any]:
    """Return one unit as ``/api/units`` lists it."""
    return {"id": unit.id, "callsign": unit.callsign, "team": unit.team,
            "status": unit.status.value, "lat": unit.lat, "lon": unit.lon, "acc": unit.acc,
            "ts": rfc3339(unit.ts), "stale": unit.stale, "source": unit.source}


def units_json(units: Iterable[UnitState]) -> dict[str, Any]:
    """Return ``/api/units``: every unit that has reported (roster units never heard are not)."""
    return {"units": [unit_json(u) for u in views.reporting(units)]}


def trail_json(points: Iterable[tuple[float, float, float, float | None]]) -> dict[str, Any]:
    """Return ``/api/units/{id}/trail``: points oldest first."""
    return {"points": [{"ts": rfc3339(ts), "lat": lat, "lon": lon} for ts, lat, lon, _ in points]}


def trail_page(found: Trail) -> dict[str, Any]:
    """Return ``/api/units/{id}/trail`` with ``total`` and ``truncated`` (thinned evenly)."""
    return {**trail_json(found.points), "total": found.total, "truncated": found.truncated}


def time_window(args: Mapping[str, str], now: float, default_s: float,
                max_s: float, retention_s: float) -> tuple[float, float]:
    """Return (since, until) from ``since``/``until`` query arguments; raise BadTimeError.

    Checked by ``core.periods`` (the one validator): malformed, outside retention or in the
    future is refused with the reason.
    """
    try:
        return period_from_args(args, Bounds(now, retention_s), default_s, max_s)
    except PeriodError as exc:
        raise BadTimeError(str(exc)) from None


def visits_period(args: Mapping[str, str], now: float, window: float, history: bool,
                  retention_s: float) -> tuple[float, float, bool]:
    """Return (since, until, reaches before the current window) for a visits request.

    Viewers see the hotspot's current active window only (the live picture; by default from
    its start): asking for anything before it is history, for supervisors and admins
    (PermissionError for a viewer), and the caller logs it.
    """
    asked = args if history or "since" in args else {**args, "since": rfc3339(window) or ""}
    since, until = time_window(asked, now, DEFAULT_VISITS_S, MAX_VISITS_S, retention_s)
    older = since < window - 1.0  # RFC 3339 in milliseconds: the window's own start is not older
    if older and not history:
        raise PermissionError(
            "viewers see visits of the hotspot's current active window only (since="
            f"{rfc3339(window)}); older visits are history, for supervisors and admins")
    return since, until, older


def hotspot_feature(hotspot: Hotspot, entry: Mapping[str, Any] | None,
                    state: str) -> dict[str, Any]:
    """Return a hotspot's original feature with the live coverage properties added."""
    feature = copy.deepcopy(hotspot.feature)
    props = feature.setdefault("properties", {})
    entry = entry or {}
    active = entry.get("active")
    props.update({
        "active": bool(active) if isinstance(active, bool) else None,
        "state": state,
        "last_visit_end": rfc3339(entry.get("last_visit_end")),
        "visits_in_window": entry.get("visits_in_window"),
        "patrol_minutes_in_window": entry.get("patrol_minutes_in_window"),
    })
    return feature


def hotspots_json(hotspots: Sequence[Hotspot], snapshot: Mapping[str, Any] | None,
                  now: float, max_age_s: float) -> dict[str, Any]:
    """Return ``/api/hotspots``; without a recent snapshot every state is ``no_data``."""
    states = views.hotspot_states(snapshot, (h.id for h in hotspots), now, max_age_s)
    usable = views.coverage_usable(snapshot, now, max_age_s)
    entries: Mapping[str, Any] = (snapshot or {}).get("hotspots", {}) if usable else {}
    return {"type": "FeatureCollection",
            "features": [hotspot_feature(h, entries.get(h.id), states[h.id]) for h in hotspots]}


def visits_json(visits: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return ``/api/hotspots/{id}/visits``."""
    return {"visits": [
        {"unit": v["unit"], "start": rfc3339(v["start"]), "end": rfc3339(v["end"]),
         "minutes": v["minutes"], "qualifying": bool(v["qualifying"])} for v in visits]}


def gaps_json(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``/api/gaps``: priority 1 first, then the most overdue."""
    gaps = sorted(snapshot.get("gaps") or [], key=views.gap_urgency)
    return {"gaps": [
        {"hotspot": g["hotspot"], "name": g.get("name"), "kind": g["kind"],
         "since": rfc3339(g.get("since")), "priority": g.get("priority"),
         "suggested_units": [{"id": s["id"], "distance_m": s.get("distance_m"),
                              "eta_s": s.get("eta_s")} for s in g.get("suggested_units") or []]}
        for g in gaps]}


def health_json(redis_ok: bool, stats: Stats | None, now: float,
                stale_after_s: float) -> dict[str, Any]:
    """Return ``/healthz``: degraded when Redis is down or no message came for stale_after_s."""
    last = stats.last_message_ts if stats else None
    age = round(max(0.0, now - last), 3) if last is not None else None
    ok = redis_ok and age is not None and age <= stale_after_s
    return {"status": "ok" if ok else "degraded", "redis": redis_ok, "last_message_age_s": age,
            "accepted_total": stats.accepted_total if stats else 0,
            "rejected_total": stats.rejected_total if stats else 0}


# --- routes ------------------------------------------------------------------------------
def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def visits_response(deps: Deps, hotspot: str, now: float) -> Response | tuple[Response, int]:
    """Answer ``/api/hotspots/{id}/visits``: the current window for all, older logged."""
    found = deps.hotspots.by_id.get(hotspot)
    if found is None:
        return _error(404, f"unknown hotspot {hotspot!r}: see /api/hotspots for the ids")
    entry = (deps.store.coverage() or {}).get("hotspots", {}).get(hotspot)
    try:
        since, until, older = visits_period(request.args, now, current_window_start(entry, now),
                                            allowed("supervisor"),
                                            deps.settings.trail_retention_s)
    except BadTimeError as exc:
        return _error(400, str(exc))
    except PermissionError as exc:
        return _error(403, str(exc))
    if older:
        record_read(deps.store, actor(), "visits", hotspot=hotspot, since=rfc3339(since),
                    until=rfc3339(until))
    return jsonify(visits_json(deps.store.visits(hotspot, since, until,
                                                 min_minutes=found.min_visit_minutes)))


def blueprint(deps: Deps) -> Blueprint:
    """Return the API routes bound to this app's store, roster and hotspots."""
    bp = alarm_routes(Blueprint("patrolwatch_api", __name__), deps)
    store, settings = deps.store, deps.settings

    @bp.errorhandler(redis.RedisError)
    def _redis_down(exc: redis.RedisError) -> tuple[Response, int]:
        return _error(503, f"live store unreachable at {deps.redis_where()} "
                           f"({type(exc).__name__}): try again shortly")

    @bp.before_request
    def _roles() -> None:
        # Every /api route needs a control-room role; crew users only have /crew.
        if request.path.startswith("/api/"):
            check_role(*CONTROL_ROOM_ROLES)

    @bp.get("/healthz")
    def healthz() -> Response:
        stats: Stats | None
        try:
            stats = store.stats()
            redis_ok = True
        except redis.RedisError:
            stats, redis_ok = None, False
        return jsonify(health_json(redis_ok, stats, time.time(), settings.stale_after_s))

    @bp.get("/api/units")
    def units() -> Response:
        # The producer's pre-built bytes (dashboard/picture/): no rebuild per request.
        # Imported here: the picture's builder serialises units with units_json above.
        from dashboard.picture import serve

        return serve.api_units_response(serve.screens_for(current_app, deps), request.headers)

    @bp.get("/api/units/<unit>/trail")
    def trail(unit: str) -> Response | tuple[Response, int]:
        if not UNIT_ID_RE.match(unit):
            return _error(400, f"invalid unit id {unit!r}: use 1-32 of A-Z a-z 0-9 _ -")
        try:
            since, until = time_window(request.args, time.time(), DEFAULT_TRAIL_S, MAX_TRAIL_S,
                                       settings.trail_retention_s)
        except BadTimeError as exc:
            return _error(400, str(exc))
        if deps.roster.get(unit) is None and store.last_seen(unit) is None:
            return _error(404, f"unknown unit {unit!r}: not on the roster and never reported")
        record_read(store, actor(), "trail", unit=unit, since=since, until=until)
        history = History(store, ArchiveReader(ArchiveStorage(settings.archive)))
        return jsonify(trail_page(history.trail(unit, since, until, settings.trail_max_points)))

    @bp.get("/api/hotspots")
    def hotspots() -> Response:
        now = time.time()
        return jsonify(hotspots_json(deps.hotspots.hotspots, store.coverage(), now,
                                     deps.coverage_max_age_s))

    @bp.get("/api/hotspots/<hotspot>/visits")
    def visits(hotspot: str) -> Response | tuple[Response, int]:
        return visits_response(deps, hotspot, time.time())

    @bp.get("/api/gaps")
    def gaps() -> Response | tuple[Response, int]:
        now = time.time()
        snapshot = store.coverage()
        if snapshot is None or not views.coverage_usable(snapshot, now, deps.coverage_max_age_s):
            age = views.coverage_age(snapshot, now)
            when = "never" if age is None else f"{age:.0f} s ago"
            return _error(503, f"coverage was last evaluated {when}: gaps cannot be trusted. "
                               "Is the coverage evaluator running (patrolwatch ingest)?")
        return jsonify(gaps_json(snapshot))

    @bp.get("/api/taskings")
    def taskings() -> Response:
        return jsonify({"taskings": api_taskings(store.taskings())})

    @bp.post("/api/taskings")
    def create() -> tuple[Response, int]:
        check_role("supervisor")
        try:
            # The edge (hardening.check_json) has read and cached the body, within 64 KiB.
            body = read_json_object(request.content_type, request.content_length,
                                    lambda n: request.get_data(cache=True)[:n],
                                    TASKING_BODY_MAX)
            tasking = send_tasking(deps, unit=body.get("unit"), hotspot=body.get("hotspot"),
                                   note=body.get("note"), by=actor(), now=time.time())
        except BadRequestError as exc:
            return _error(exc.status, str(exc))
        except DuplicateTaskingError as exc:
            return _error(409, str(exc))
        except TaskingError as exc:
            return _error(400, str(exc))
        except BrokerUnavailableError as exc:
            return _error(503, str(exc))
        return jsonify(tasking.api()), 201

    @bp.route("/api/<path:rest>")
    def unknown(rest: str) -> tuple[Response, int]:
        return _error(404, f"no such API route /api/{rest}: see docs/dashboard.md")

    return bp


def alarm_routes(bp: Blueprint, deps: Deps) -> Blueprint:
    """Add ``GET /api/alarms`` and ``POST /api/alarms/{id}/ack`` (dashboard/alarms/actions.py)."""

    @bp.get("/api/alarms")
    def alarms() -> Response:
        return jsonify(alarm_actions.alarms_json(deps, time.time()))

    @bp.post("/api/alarms/<alarm_id>/ack")
    def alarm_ack(alarm_id: str) -> tuple[Response, int]:
        check_role("supervisor")
        status, body = alarm_actions.acknowledge(deps, alarm_id, actor(), time.time())
        return jsonify(body), status

    return bp
