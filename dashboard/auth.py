"""Who is asking, and may they: sign-in, HTTP Basic for machines, roles checked on the server.

The users file is the only source of users; it is re-read when it changes on disk, so
`patrolwatch user add` takes effect without a restart. While it holds no users the API is
open (a fresh install), exactly as CONTRACT.md says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

from flask import Flask, Response, g, jsonify, redirect, request, session
from werkzeug.exceptions import Forbidden, Unauthorized

from patrolwatch.errors import ConfigError
from patrolwatch.users import Role, User, authenticate, load_users

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

CONTROL_ROOM_ROLES: tuple[Role, ...] = ("viewer", "supervisor", "admin")
PUBLIC_PREFIXES = ("/healthz", "/login", "/logout", "/assets/", "/_dash-component-suites/",
                   "/_favicon.ico", "/favicon.ico", "/metrics")


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


def session_key(user: User) -> str:
    """Return what a session must carry besides the name: a new password ends old sessions."""
    return hashlib.blake2b(user.password_hash.encode(), digest_size=12).hexdigest()


def sign_in(user: User) -> None:
    """Start a fresh browser session for the user (nothing from before it is kept)."""
    session.clear()
    session["user"] = user.name
    session["key"] = session_key(user)
    session.permanent = True


def sign_out() -> None:
    """End the browser session."""
    session.clear()


def actor() -> str:
    """Return the name audits record for this request (``anonymous`` while sign-in is off)."""
    user = current_user()
    return user.name if user is not None else "anonymous"


def allowed(*roles: Role) -> bool:
    """Tell whether this request may act in one of the roles (always, while sign-in is off)."""
    if not auth_enabled():
        return True
    user = current_user()
    return user is not None and user.can(*roles)


def auth_enabled() -> bool:
    """Tell whether this request is subject to authentication (users exist)."""
    return bool(g.get("auth_enabled", False))


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


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="PatrolWatch", charset="UTF-8"'
    return response


def install(server: Flask, directory: UserDirectory) -> None:
    """Identify every request's user; keep anonymous people to the public routes."""

    @server.before_request
    def identify() -> Response | None:
        users = directory.users()
        g.auth_enabled = bool(users)
        g.user = None
        if not users:
            return None
        credentials = _basic_credentials()
        if credentials is not None:
            g.user = authenticate(users, *credentials)
            if g.user is None:
                return _json_error(401, "wrong user name or password")
        else:
            name = session.get("user")
            user = users.get(name) if isinstance(name, str) else None
            # A removed user, or one whose password changed, is signed out everywhere.
            g.user = user if user is not None and session.get("key") == session_key(user) else None
        path = request.path
        if g.user is not None or path.startswith(PUBLIC_PREFIXES):
            return None
        if path.startswith("/api/") or path.startswith("/_dash-"):
            return _json_error(401, "sign in first (HTTP Basic with a dashboard user, "
                                    "or the browser session)")
        return cast(Response, redirect(f"/login?next={quote(path, safe='/')}"))

    @server.errorhandler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        return _json_error(403, exc.description or "forbidden")

    @server.errorhandler(Unauthorized)
    def unauthorized(exc: Unauthorized) -> Response:
        return _json_error(401, exc.description or "sign in first")
