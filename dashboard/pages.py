"""Which page a request gets: the control room at /, the crew page at /crew, by role.

The app's layout is only a ``dcc.Location`` and an empty container; the page is chosen on
the server from the signed-in user and the path, so a viewer's page never contains the
supervisor's controls, and a crew user never gets the control room, whatever they ask for.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard import ids
from dashboard.admin.components import admin_page, admin_refused
from dashboard.control_room import components as layout
from dashboard.crew.components import crew_page, crew_unavailable
from dashboard.deps import Deps
from dashboard.experiments.components import EXPERIMENT_PATH, experiment_page
from dashboard.login import CREW_PATH
from dashboard.replay.components import REPLAY_PATH
from dashboard.replay.components import page as replay_page
from dashboard.widgets import sign_out_button
from patrolwatch.users import User

ADMIN_PATH = "/admin"


def root() -> html.Div:
    """Return the app's layout: the URL and the page container."""
    return html.Div([dcc.Location(id=ids.URL, refresh=False),
                     html.Div(id=ids.PAGE, className="pw-root")])


def who(user: User | None, auth_on: bool) -> list[Any]:
    """Return the header's "who is signed in" part with a sign-out link."""
    if not auth_on:
        return [html.Span("Open access: no users configured", className="pw-who-open",
                          title="Add users with `patrolwatch user add` to require sign-in"),
                html.A("Admin", href=ADMIN_PATH, id=ids.ADMIN_LINK, className="pw-who-admin")]
    if user is None:
        return [html.A("Sign in", href="/login")]
    admin = [html.A("Admin", href=ADMIN_PATH, id=ids.ADMIN_LINK, className="pw-who-admin")
             ] if user.role == "admin" else []
    return [html.Span(user.name, className="pw-who-name"),
            html.Span(user.role, className="pw-who-role"), *admin,
            sign_out_button("pw-who-out")]


def render(deps: Deps, user: User | None, auth_on: bool, pathname: str | None) -> Any:
    """Return the page for this user at this path."""
    path = (pathname or "/").rstrip("/") or "/"
    crew_only = user is not None and user.role == "crew"
    if path == CREW_PATH or crew_only:
        if not auth_on:
            return crew_unavailable(
                "Sign-in is off (no dashboard users exist), so this page cannot tell which "
                "unit you are. An administrator must add a crew user with "
                "`patrolwatch user add NAME --role crew --unit UNIT`.", ("/", "Control room"))
        if user is None or not user.can("crew"):
            return crew_unavailable("The crew page is for crew users, each signed in as their "
                                    "unit.", ("/", "Back to the control room"))
        if not user.unit:
            return crew_unavailable(f"User {user.name!r} has no unit: an administrator can "
                                    "set one with `patrolwatch user add ... --unit UNIT`.",
                                    ("/", "Control room"))
        return crew_page(deps, user)
    if path == ADMIN_PATH:
        admin = not auth_on or (user is not None and user.can("admin"))
        return admin_page(who(user, auth_on)) if admin else admin_refused()
    if path == REPLAY_PATH:
        if auth_on and (user is None or not user.can("supervisor")):
            return html.Div([html.H1("Replay is for supervisors and admins"),
                             html.P(html.A("Open the control room", href="/"))],
                            className="pw-crew")
        return replay_page(deps, who=who(user, auth_on))
    if path == EXPERIMENT_PATH:  # the experiment's allocation: every role that sees the map
        return experiment_page(deps, who(user, auth_on))
    if path != "/":
        return html.Div([html.H1("No such page"),
                         html.P(html.A("Open the control room", href="/"))], className="pw-crew")
    can_act = not auth_on or (user is not None and user.can("supervisor"))
    return layout.page(deps, can_act=can_act, who=who(user, auth_on))
