"""The Dash app factory: the control room, the crew page and the HTTP API in one process."""

from __future__ import annotations

import gzip
import logging
import secrets
import threading
from pathlib import Path

import dash
from flask import Response, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from dashboard import api, auth, callbacks, hardening, history_api, login, metrics, pages
from dashboard.access_api import blueprint as access_log_blueprint
from dashboard.admin import callbacks as admin_callbacks
from dashboard.control_room import basemap
from dashboard.deps import Deps
from dashboard.experiments import api as experiments_api
from dashboard.publisher import Publisher
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.errors import ConfigError
from patrolwatch.roster import Roster, load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parent / "assets"
GZIP_MIN_BYTES = 1024
DEFAULT_SECRET = Settings.model_fields["secret_key"].default
SECRET_MIN_CHARS = 32
OPEN_ACCESS_REMINDER_S = 3600.0
ADD_USER_HINT = ("add one with `patrolwatch user add NAME --role admin` (it reads the password "
                 "from stdin)")


def require_users(settings: Settings, directory: auth.UserDirectory) -> None:
    """Refuse to serve without users (ConfigError) unless PATROL_OPEN_ACCESS=true says so."""
    if directory.users() or settings.open_access:
        return
    state = "does not exist" if not settings.users.exists() else "holds no users"
    raise ConfigError([
        f"{settings.users}:users: the users file {state}, so nobody could sign in and the "
        f"dashboard will not serve the control room to anyone who can reach it: "
        f"{ADD_USER_HINT}, or set PATROL_USERS to your users file. To run without sign-in "
        "on purpose (a demo on a closed network, never production), set "
        "PATROL_OPEN_ACCESS=true."])


def require_production_secret(settings: Settings) -> None:
    """Refuse (ConfigError) the published default or a short PATROL_SECRET_KEY in production."""
    key = settings.secret_key
    if key == DEFAULT_SECRET or len(key) < SECRET_MIN_CHARS:
        why = "is the published default" if key == DEFAULT_SECRET else (
            f"is {len(key)} characters; at least {SECRET_MIN_CHARS} are needed")
        raise ConfigError([
            f"PATROL_SECRET_KEY:secret_key: {why}. Production (gunicorn dashboard.wsgi:server) "
            "needs a long random key, the same for every worker: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"])


def warn_open_access(directory: auth.UserDirectory, stop: threading.Event,
                     every_s: float = OPEN_ACCESS_REMINDER_S) -> None:
    """Log the open-access warning now and every ``every_s`` while no users exist."""
    while True:
        if not directory.users():
            log.warning("PATROL_OPEN_ACCESS=true and no dashboard users: the control room is "
                        "served to anyone who can reach it, without sign-in. To require sign-in, "
                        "%s.", ADD_USER_HINT)
        if stop.wait(every_s):
            return


def start_open_access_reminder(directory: auth.UserDirectory) -> threading.Event:
    """Start the hourly open-access warning on a daemon thread; return its stop event."""
    stop = threading.Event()
    threading.Thread(target=warn_open_access, args=(directory, stop), daemon=True,
                     name="open-access-warning").start()
    return stop


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
    MQTT publisher with it). Raises ConfigError when no users exist and
    PATROL_OPEN_ACCESS is not true.
    """
    directory = auth.UserDirectory(settings.users)
    require_users(settings, directory)
    tiles = basemap.open_basemap(settings.basemap) if settings.basemap else None
    deps = Deps(settings=settings, store=store, roster=roster, hotspots=hotspots,
                publisher=publisher or Publisher(settings.mqtt_url), basemap=tiles)
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
        # The key signs the sign-in form's anti-forgery cookie; the published default would
        # let anyone forge it. The development server uses a key of this process's own.
        server.config["SECRET_KEY"] = secrets.token_hex(32)
        log.warning("PATROL_SECRET_KEY is not set: using a random key for this process. Set it "
                    "to a long random value, the same for every dashboard worker (production, "
                    "gunicorn dashboard.wsgi:server, refuses to start without one).")
    server.extensions["patrolwatch"] = deps
    hardening.install(server, lambda: app.callback_map, app.csp_hashes)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client address, scheme and host as the proxy saw them (throttling, Origin check).
        server.wsgi_app = ProxyFix(
            server.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies)
    auth.install(server, directory, store, open_access=settings.open_access)
    login.register(server, directory, store, secure_cookies=settings.secure_cookies)
    app.layout = pages.root()
    callbacks.register(app, deps)
    admin_callbacks.register(app, deps)
    server.register_blueprint(history_api.blueprint(deps))  # before api's /api/<path> catch-all
    server.register_blueprint(experiments_api.blueprint(deps))  # before api's catch-all too
    server.register_blueprint(access_log_blueprint(deps))
    server.register_blueprint(api.blueprint(deps))
    metrics.register(server, deps)
    basemap.register(server, tiles)
    server.register_error_handler(MethodNotAllowed, method_not_allowed)
    server.after_request(gzip_json)
    if settings.open_access and not directory.users():
        server.extensions["patrolwatch_open_access"] = start_open_access_reminder(directory)
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
