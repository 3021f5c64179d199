"""The sign-in page, sign-out, and where each role lands (crew on /crew, everyone else on /).

Served by Flask, not Dash: the form works without JavaScript and before any Dash asset
loads. A sign-in creates a session in Redis and sets the ``patrolwatch_session`` cookie to
its random id only (HttpOnly, SameSite=Lax, Secure with PATROL_SECURE_COOKIES). The form's
anti-forgery token lives in Flask's signed cookie ``patrolwatch_login``, which holds nothing
else. Failed sign-ins are throttled per name and per address (``auth.SignInGate``).

Signing out is a ``POST /logout`` (the edge's Origin check applies); ``GET /logout`` only
shows a page with a sign-out button, so a link on another site cannot end a session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import redis
from flask import Flask, make_response, redirect, request, session
from markupsafe import escape
from werkzeug.wrappers import Response

from dashboard.auth import (
    SESSION_COOKIE,
    SignInGate,
    UserDirectory,
    auth_enabled,
    current_user,
    too_many_message,
)
from patrolwatch.core.throttle import retry_after_header
from patrolwatch.store import Store
from patrolwatch.store.keys import SESSION_MAX_S
from patrolwatch.users import User, fingerprint

log = logging.getLogger(__name__)

CREW_PATH = "/crew"
SESSION_HOURS = SESSION_MAX_S // 3600  # one shift and its overrun
NAME_MAX = 64
PASSWORD_MAX = 1024  # long enough for any passphrase, short enough to refuse junk


def home_for(user: User | None) -> str:
    """Return where a user lands after signing in: crew on their page, others the control room."""
    return CREW_PATH if user is not None and user.role == "crew" else "/"


def safe_next(raw: str | None, user: User | None) -> str:
    """Return ``raw`` if it is a path on this site the user may open, else their home page.

    Only local paths are followed: ``//evil.example`` and ``/\\evil.example`` are other
    sites to a browser, and a scheme or host is never honoured.
    """
    home = home_for(user)
    if not raw or not raw.startswith("/") or raw.startswith(("//", "/\\")):
        return home
    if any(ord(ch) < 32 or ch == "\\" for ch in raw):
        return home
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or parts.path.startswith(("/login", "/logout")):
        return home
    if home == CREW_PATH and not parts.path.startswith(CREW_PATH):
        return home
    return raw


PAGE_STYLE = """
html, body { margin: 0; min-height: 100%; background: #0b1220; color: #f9fafb;
  font-family: "DejaVu Sans", "Segoe UI", Roboto, Arial, sans-serif; font-size: 20px; }
main { max-width: 440px; margin: 8vh auto 0; padding: 24px; }
h1 { font-size: 34px; margin: 0 0 4px; }
.sub { color: #cbd5e1; font-size: 18px; text-transform: uppercase; letter-spacing: .1em;
  margin-bottom: 28px; }
label { display: block; font-weight: bold; margin: 18px 0 6px; }
input { width: 100%; box-sizing: border-box; font-size: 22px; padding: 14px; border-radius: 8px;
  border: 2px solid #64748b; background: #111827; color: #fff; }
input:focus { outline: 3px solid #3b82f6; border-color: #3b82f6; }
button { margin-top: 28px; width: 100%; min-height: 60px; font-size: 24px; font-weight: bold;
  border: 0; border-radius: 8px; background: #2563eb; color: #fff; cursor: pointer; }
.error { background: #7f1d1d; border: 2px solid #fca5a5; border-radius: 8px; padding: 12px 14px;
  margin-bottom: 8px; }
.note { background: #1f2937; border-radius: 8px; padding: 12px 14px; color: #e5e7eb; }
a { color: #93c5fd; }
"""


def login_page(error: str | None, name: str, next_path: str, token: str,
               open_access: bool) -> str:
    """Return the sign-in page's HTML (every value escaped)."""
    if open_access:
        body = ('<p class="note">Sign-in is off (PATROL_OPEN_ACCESS=true and no dashboard '
                'users), so the control room is open to anyone who can reach it. Add users '
                'with <code>patrolwatch user add NAME --role admin</code>.</p>'
                '<p><a href="/">Open the control room</a></p>')
    else:
        alert = f'<div class="error" role="alert">{escape(error)}</div>' if error else ""
        body = f"""{alert}
<form method="post" action="/login" autocomplete="on">
  <input type="hidden" name="csrf" value="{escape(token)}">
  <input type="hidden" name="next" value="{escape(next_path)}">
  <label for="name">User name</label>
  <input id="name" name="name" value="{escape(name)}" autocomplete="username"
         autocapitalize="none" spellcheck="false" maxlength="{NAME_MAX}" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password"
         maxlength="{PASSWORD_MAX}" required>
  <button type="submit" id="sign-in">Sign in</button>
</form>"""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PatrolWatch · sign in</title><style>{PAGE_STYLE}</style></head>
<body><main><h1>PatrolWatch</h1><div class="sub">Sign in</div>{body}</main></body></html>"""


def logout_page_html(signed_in: bool) -> str:
    """Return the sign-out page: a button that POSTs /logout (a GET never signs anyone out)."""
    body = ('<form method="post" action="/logout"><button type="submit" id="sign-out">'
            'Sign out</button></form><p><a href="/">Back to the control room</a></p>'
            if signed_in else
            '<p class="note">You are not signed in.</p><p><a href="/login">Sign in</a></p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PatrolWatch · sign out</title><style>{PAGE_STYLE}</style></head>
<body><main><h1>PatrolWatch</h1><div class="sub">Sign out</div>{body}</main></body></html>"""


def _html(text: str, status: int = 200) -> Response:
    response = make_response(text, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


def _token() -> str:
    token = session.get("login_csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(18)
        session["login_csrf"] = token
    return token


def sign_in(store: Store, user: User, response: Response, secure: bool) -> None:
    """Start a session in Redis for the user and give the browser its id (nothing else)."""
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # signing in again replaces this browser's session, it does not add one
        store.end_session(previous)
    sid = store.create_session(user.name, fingerprint(user))
    response.set_cookie(SESSION_COOKIE, sid, max_age=SESSION_MAX_S, httponly=True,
                        secure=secure, samesite="Lax", path="/")


def sign_out(store: Store, response: Response, secure: bool) -> None:
    """End this browser's session in Redis (every worker sees it at once) and drop the cookie."""
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        store.end_session(sid)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=secure,
                           samesite="Lax")
    session.clear()


def register(server: Flask, directory: UserDirectory, store: Store,
             secure_cookies: bool = False) -> None:
    """Add /login and /logout, cookie settings, and the crew's landing rule."""
    gate: SignInGate = server.extensions["patrolwatch_gate"]
    server.config.update(
        # Flask's own signed cookie carries only the sign-in form's anti-forgery token.
        SESSION_COOKIE_NAME="patrolwatch_login", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=secure_cookies, SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )

    def form(error: str | None, name: str, next_raw: str | None, status: int) -> Response:
        return _html(login_page(error, name, next_raw or "", _token(), open_access=False),
                     status)

    @server.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        next_raw = request.values.get("next")
        if not auth_enabled():
            return _html(login_page(None, "", "/", "", open_access=True))
        if request.method == "GET":
            user = current_user()
            if user is not None:
                return redirect(safe_next(next_raw, user))
            return form(None, "", next_raw, 200)
        name = request.form.get("name", "")[:NAME_MAX]
        password = request.form.get("password", "")[:PASSWORD_MAX]
        sent = request.form.get("csrf", "")
        expected = session.get("login_csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
            return form("The sign-in form had expired: please sign in again.", name,
                        next_raw, 400)
        try:
            user, wait = gate.check(directory.users(), name, password)
            if wait > 0:
                response = form(too_many_message(wait), name, next_raw, 429)
                response.headers["Retry-After"] = retry_after_header(wait)
                return response
            if user is None:
                return form("Wrong user name or password. Check both and try again; an "
                            "administrator can reset a password.", name, next_raw, 401)
            response = redirect(safe_next(next_raw, user))
            sign_in(store, user, response, secure_cookies)
        except redis.RedisError:
            return form("Sign-in is unavailable: the session store (Redis) does not answer. "
                        "Try again shortly.", name, next_raw, 503)
        session.pop("login_csrf", None)
        log.info("%s (%s) signed in from %s", user.name, user.role, request.remote_addr)
        return response

    @server.get("/logout")
    def logout_page() -> Response:
        # A GET changes nothing: another site's link or image cannot sign a screen out.
        return _html(logout_page_html(current_user() is not None))

    @server.post("/logout")
    def logout() -> Response:
        # hardening.check_origin has refused a POST whose Origin (or Referer) is another site.
        response = redirect("/login")
        try:
            sign_out(store, response, secure_cookies)
        except redis.RedisError:
            return _html("<p>Sign-out failed: the session store (Redis) does not answer. "
                         "Try again shortly.</p>", 503)
        return response

    @server.before_request
    def crew_lands_on_crew_page() -> Response | None:
        # Registered after auth.install, so the user is known here.
        user = current_user()
        if user is not None and user.role == "crew" and request.path == "/":
            return redirect(CREW_PATH)
        return None
