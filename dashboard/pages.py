"""Which page a request gets: the control room at /, the crew page at /crew, by role.

The app's layout is only a ``dcc.Location`` and an empty container; the page is chosen on
the server from the signed-in user and the path, so a viewer's page never contains the
supervisor's controls, and a crew user never gets the control room, whatever they ask for.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard import ids
from dashboard.control_room import components as layout
from dashboard.crew.components import crew_page, crew_unavailable
from dashboard.deps import Deps
from dashboard.login import CREW_PATH
from patrolwatch.users import User


def root() -> html.Div:
    """Return the app's layout: the URL and the page container."""
    return html.Div([dcc.Location(id=ids.URL, refresh=False),
                     html.Div(id=ids.PAGE, className="pw-root")])


def who(user: User | None, auth_on: bool) -> list[Any]:
    """Return the header's "who is signed in" part with a sign-out link."""
    if not auth_on:
        return [html.Span("Open access: no users configured", className="pw-who-open",
                          title="Add users with `patrolwatch user add` to require sign-in")]
    if user is None:
        return [html.A("Sign in", href="/login")]
    return [html.Span(user.name, className="pw-who-name"),
            html.Span(user.role, className="pw-who-role"),
            html.A("Sign out", href="/logout", className="pw-who-out")]


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
    if path != "/":
        return html.Div([html.H1("No such page"),
                         html.P(html.A("Open the control room", href="/"))], className="pw-crew")
    can_act = not auth_on or (user is not None and user.can("supervisor"))
    return layout.page(deps, can_act=can_act, who=who(user, auth_on))
