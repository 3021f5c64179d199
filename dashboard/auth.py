"""Who is asking, and may they: sessions, HTTP Basic for machines, throttling, roles.

The users file is the only source of users; it is re-read when it changes on disk, so
`patrolwatch user add` takes effect without a restart. Sessions live in Redis (see
``patrolwatch.store.sessions``): the browser holds only a random id. Each session remembers
its user's fingerprint (password hash, role, unit) and is ended on the first request after
the users file changes it or removes the user, on whichever worker that request lands.

With no users the dashboard does not start (``app.require_users``) unless
PATROL_OPEN_ACCESS=true; only then is every request let through without a user.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

import redis
from flask import Flask, Response, g, jsonify, redirect, request
from werkzeug.exceptions import Forbidden, Unauthorized

from patrolwatch.core.throttle import ADDRESS_RULE, NAME_RULE, retry_after, retry_after_header
from patrolwatch.errors import ConfigError
from patrolwatch.store import Store
from patrolwatch.users import NAME_MAX, Role, User, authenticate, fingerprint, load_users

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

CONTROL_ROOM_ROLES: tuple[Role, ...] = ("viewer", "supervisor", "admin")
SESSION_COOKIE = "patrolwatch_session"
# Static files carry no data and are fetched before sign-in: no user is looked up for them.
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico", "/favicon.ico")
# /metrics checks its own bearer token or admin (dashboard/metrics.py).
PUBLIC_PREFIXES = ("/healthz", "/login", "/logout", "/metrics", *STATIC_PREFIXES)


@dataclass
class UserDirectory:
    """The users file, re-read when its modification time changes."""

    path: Path
    _users: dict[str, User] = field(default_factory=dict)
    _mtime: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def users(self) -> dict[str, User]:
        """Return the current users (the last good file if a new one is broken)."""
        try:
            mtime = self.path.stat().st_mtime if self.path.exists() else None
        except OSError:
            mtime = None
        with self._lock:
            if mtime != self._mtime:
                try:
                    self._users = load_users(self.path) if mtime is not None else {}
                except ConfigError as exc:
                    log.error("users file has problems, keeping the previous users: %s", exc)
                self._mtime = mtime
            return self._users


@dataclass(frozen=True)
class SignInGate:
    """Failed sign-ins counted in Redis per user name and per address (every worker shares)."""

    store: Store

    def wait_s(self, name: str, address: str, now: float) -> float:
        """Return how long this name or address must wait before trying again (0: may try)."""
        rules = (NAME_RULE, ADDRESS_RULE)
        found = self.store.sign_in_failures([("name", name), ("address", address)], now,
                                            max(r.window_s for r in rules))
        return max(retry_after(times, now, rule) for times, rule in zip(found, rules, strict=True))

    def failed(self, name: str, address: str, now: float) -> None:
        """Count one failed sign-in for the name and the address."""
        self.store.record_sign_in_failure(
            [("name", name, NAME_RULE.limit), ("address", address, ADDRESS_RULE.limit)], now,
            max(NAME_RULE.window_s, ADDRESS_RULE.window_s))

    def check(self, users: dict[str, User], name: str, password: str
              ) -> tuple[User | None, float]:
        """Return (user or None, seconds to wait): the password is not tried while throttled.

        The attempt is reserved in Redis (counted as a failure, atomically with the check)
        before the password is tried, and taken back only if it was right: 60 parallel wrong
        guesses for one name, on any number of workers, get at most ``NAME_RULE.limit`` tries.
        """
        name = name[:NAME_MAX]
        address = request.remote_addr or "unknown"
        now = time.time()
        token, wait = self.store.reserve_sign_in(
            [("name", name, NAME_RULE.limit), ("address", address, ADDRESS_RULE.limit)], now,
            max(NAME_RULE.window_s, ADDRESS_RULE.window_s))
        if token is None:
            log.warning("sign-in for %r from %s refused for %.0f s: too many failures",
                        name, address, wait)
            return None, wait
        user = authenticate(users, name, password)
        if user is None:
            log.warning("failed sign-in for %r from %s", name, address)
        else:
            self.store.release_sign_in([("name", name), ("address", address)], token)
        return user, 0.0


def _basic_credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


def current_user() -> User | None:
    """Return the user of this request (set by the before-request hook), or None."""
    return cast(User | None, g.get("user"))


def actor() -> str:
    """Return the name audits record for this request (``anonymous`` under open access)."""
    user = current_user()
    return user.name if user is not None else "anonymous"


def allowed(*roles: Role) -> bool:
    """Tell whether this request may act in one of the roles (always, under open access)."""
    if not auth_enabled():
        return True
    user = current_user()
    return user is not None and user.can(*roles)


def auth_enabled() -> bool:
    """Tell whether this request is subject to authentication (not open access)."""
    return bool(g.get("auth_enabled", True))


def check_role(*roles: Role) -> User | None:
    """Raise 401/403 unless the request's user holds one of the roles (admin holds all)."""
    if not auth_enabled():
        return None
    user = current_user()
    if user is None:
        raise Unauthorized("sign in first")
    if not user.can(*roles):
        raise Forbidden(f"role {user.role!r} may not do this (needs {' or '.join(roles)})")
    return user


def require_role(*roles: Role) -> Callable[[F], F]:
    """Decorate a Flask view or Dash callback so only these roles may call it."""
    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_role(*roles)
            return func(*args, **kwargs)
        return cast(F, wrapper)
    return decorate


def json_error(status: int, message: str, retry_s: float | None = None) -> Response:
    """Return ``{"error": message}`` with the status (and Basic challenge or Retry-After)."""
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="PatrolWatch", charset="UTF-8"'
    if retry_s is not None:
        response.headers["Retry-After"] = retry_after_header(retry_s)
    return response


def too_many_message(wait_s: float) -> str:
    """Return what a throttled person is told."""
    minutes = max(1, round(wait_s / 60))
    return (f"Too many failed sign-ins for this user name or from this address: try again in "
            f"about {minutes} minute{'s' if minutes != 1 else ''}. An administrator can reset "
            "a forgotten password.")


def session_user(store: Store, users: dict[str, User], sid: str) -> User | None:
    """Return the user of a live session id, ending the session if its user changed or left."""
    found = store.session(sid)
    if found is None:
        return None
    user = users.get(found.user)
    if user is None or fingerprint(user) != found.fingerprint:
        # Removed, or password, role or unit changed since sign-in: this session is over.
        store.end_session(sid)
        log.info("ended a session of %r: the user was removed or changed", found.user)
        return None
    return user


def install(server: Flask, directory: UserDirectory, store: Store, open_access: bool) -> None:
    """Identify every request's user; keep anonymous people to the public routes."""
    gate = SignInGate(store)
    server.extensions["patrolwatch_gate"] = gate

    @server.before_request
    def identify() -> Response | None:
        g.user = None
        path = request.path
        if path.startswith(STATIC_PREFIXES):
            return None
        users = directory.users()
        # An emptied users file at run time locks everyone out rather than opening up.
        g.auth_enabled = bool(users) or not open_access
        if not g.auth_enabled or path.startswith("/healthz"):
            return None
        try:
            credentials = _basic_credentials()
            if credentials is not None:
                g.user, wait = gate.check(users, *credentials)
                if wait > 0:
                    return json_error(429, too_many_message(wait), wait)
                if g.user is None:
                    return json_error(401, "wrong user name or password")
            else:
                sid = request.cookies.get(SESSION_COOKIE, "")
                g.user = session_user(store, users, sid) if sid else None
        except redis.RedisError as exc:
            return json_error(503, f"the session store (Redis) is unreachable "
                                   f"({type(exc).__name__}): try again shortly")
        if g.user is not None or path.startswith(PUBLIC_PREFIXES):
            return None
        if path.startswith("/api/") or path.startswith("/_dash-"):
            return json_error(401, "sign in first (HTTP Basic with a dashboard user, "
                                   "or the browser session)")
        return cast(Response, redirect(f"/login?next={quote(path, safe='/')}"))

    @server.errorhandler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        return json_error(403, exc.description or "forbidden")

    @server.errorhandler(Unauthorized)
    def unauthorized(exc: Unauthorized) -> Response:
        return json_error(401, exc.description or "sign in first")
