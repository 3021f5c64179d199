"""The Dash app factory: the control-room page and the HTTP API in one process."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import dash
from flask import Response, request

from dashboard import api, callbacks, layout
from dashboard.handlers import Deps
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.roster import Roster, load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"
GZIP_MIN_BYTES = 1024


def gzip_json(response: Response) -> Response:
    """Gzip JSON answers for clients that accept it: a 2,000-unit refresh shrinks about 10x."""
    if (response.mimetype != "application/json" or response.direct_passthrough
            or response.is_streamed or "Content-Encoding" in response.headers
            or "gzip" not in request.headers.get("Accept-Encoding", "").lower()):
        return response
    body = response.get_data()
    if len(body) < GZIP_MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response


def create_app(settings: Settings, store: Store, roster: Roster,
               hotspots: HotspotSet) -> dash.Dash:
    """Build the Dash app and its API routes around one Store (no module-level state)."""
    deps = Deps(settings=settings, store=store, roster=roster, hotspots=hotspots)
    app = dash.Dash(
        __name__, title="PatrolWatch · control room", assets_folder=str(ASSETS),
        update_title="", serve_locally=True,
    )
    app.server.config["SECRET_KEY"] = settings.secret_key
    app.layout = layout.page(deps)
    callbacks.register(app, deps)
    app.server.register_blueprint(api.blueprint(deps))
    app.server.after_request(gzip_json)
    return app


def create_app_from_settings(settings: Settings) -> dash.Dash:
    """Load the roster and hotspot file (ConfigError if invalid) and connect to Redis lazily."""
    if settings.units.exists():
        roster = load_roster(settings.units)
    else:
        log.warning("roster %s not found: every unit is shown as unregistered", settings.units)
        roster = Roster.empty()
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    store = Store.from_url(settings.redis_url,
                           trail_retention_s=settings.trail_retention_s,
                           rejection_log_size=settings.rejection_log_size)
    return create_app(settings, store, roster, hotspots)
