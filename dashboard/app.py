"""The Dash app factory: the control room, the crew page and the HTTP API in one process."""

from __future__ import annotations

import gzip
import logging
import secrets
from pathlib import Path

import dash
from flask import Response, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from dashboard import api, auth, callbacks, login, metrics, pages
from dashboard.deps import Deps
from dashboard.publisher import Publisher
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.roster import Roster, load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"
GZIP_MIN_BYTES = 1024
DEFAULT_SECRET = Settings.model_fields["secret_key"].default


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


def method_not_allowed(exc: MethodNotAllowed) -> Response:
    """Answer a wrong method on /api with JSON like every other API error."""
    if request.path.startswith("/api/"):
        allowed = ", ".join(sorted(exc.valid_methods or []))
        response = jsonify({"error": f"{request.method} is not allowed on {request.path}"
                                     + (f": use {allowed}" if allowed else "")})
        response.status_code = 405
        return response
    return exc.get_response()  # type: ignore[return-value]


def create_app(settings: Settings, store: Store, roster: Roster, hotspots: HotspotSet,
               publisher: Publisher | None = None) -> dash.Dash:
    """Build the Dash app and its API routes around one Store (no module-level state).

    ``app.server.extensions["patrolwatch"]`` holds the app's ``Deps`` (tests close its
    MQTT publisher with it).
    """
    deps = Deps(settings=settings, store=store, roster=roster, hotspots=hotspots,
                publisher=publisher or Publisher(settings.mqtt_url))
    app = dash.Dash(
        __name__, title="PatrolWatch", assets_folder=str(ASSETS),
        update_title="", serve_locally=True,
        # Pages are chosen per user in a callback; their components are not in the layout.
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    server = app.server
    server.config["SECRET_KEY"] = settings.secret_key
    if settings.secret_key == DEFAULT_SECRET:
        # The published default would let anyone forge a session cookie: use a key of this
        # process's own instead (sign-ins then last until restart, on this worker only).
        server.config["SECRET_KEY"] = secrets.token_hex(32)
        log.warning("PATROL_SECRET_KEY is not set: using a random key for this process. Set it "
                    "to a long random value, the same for every dashboard worker, so sign-ins "
                    "survive restarts and work across gunicorn workers.")
    server.extensions["patrolwatch"] = deps
    directory = auth.UserDirectory(settings.users)
    auth.install(server, directory)
    login.register(server, directory, secure_cookies=settings.secure_cookies)
    app.layout = pages.root()
    callbacks.register(app, deps)
    server.register_blueprint(api.blueprint(deps))
    metrics.register(server, deps)
    server.register_error_handler(MethodNotAllowed, method_not_allowed)
    server.after_request(gzip_json)
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
