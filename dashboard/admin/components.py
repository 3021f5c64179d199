"""Dash components of the admin page, built from the view models in ``view``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from dashboard import ids
from dashboard.admin.view import AccessRow, RejectionRow

REFRESH_MS = 5000


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str,
           long: frozenset[int] = frozenset()) -> Any:
    """Return a table; columns in ``long`` may wrap (at spaces), the rest keep words whole."""
    if not rows:
        return html.P(empty, className="pw-muted")
    def cell(i: int, text: str) -> Any:
        return html.Td(text, className="pw-admin-long" if i in long else "pw-admin-word")
    return html.Table([
        html.Thead(html.Tr([html.Th(h) for h in head])),
        html.Tbody([html.Tr([cell(i, c) for i, c in enumerate(row)]) for row in rows]),
    ], className="pw-admin-table")


def access_table(rows: Sequence[AccessRow]) -> Any:
    """Return the table of history reads, newest first."""
    return _table(["When", "User", "Read", "Whose", "Period"],
                  [(r.when, r.user, r.what, r.whose, r.period) for r in rows],
                  "No history has been read yet.", frozenset({3}))


def rejections_table(rows: Sequence[RejectionRow]) -> Any:
    """Return the table of recent ingest rejections with their reasons."""
    return _table(["When", "Reason", "Topic", "Detail", "Payload (start)"],
                  [(r.when, r.reason, r.topic, r.detail, r.payload) for r in rows],
                  "No message has been rejected recently.", frozenset({3, 4}))


def admin_page(who: Any) -> html.Div:
    """Return the admin page: rejections (short) first, then the access log, paged."""
    return html.Div([
        html.Header([html.Span("PatrolWatch", className="pw-title"),
                     html.Span("admin", className="pw-subtitle"),
                     html.A("Control room", href="/", className="pw-admin-back"),
                     html.Span(who, id=ids.WHO, className="pw-who")], className="pw-header"),
        html.Main([
            html.Section([
                html.H2("Recent ingest rejections"),
                html.P("The newest messages the ingest worker refused, with the reason and how "
                       "each began.", className="pw-muted"),
                html.Div(id=ids.ADMIN_REJECTIONS, className="pw-admin-scroll"),
            ], className="pw-admin-section"),
            html.Section([
                html.H2("Who read whose history"),
                html.P(["Every read of trails, visits, replay, presence and reports, with its "
                        "user and period (kept 400 days); a replay counts once per period. ",
                        html.A("Download as CSV", href="/api/access-log?format=csv&limit=1000",
                               className="pw-admin-csv")], className="pw-muted"),
                html.Div([html.Button("Newest", id=ids.ADMIN_NEWEST, className="pw-admin-page"),
                          html.Button("Older", id=ids.ADMIN_OLDER, className="pw-admin-page"),
                          html.Span(id=ids.ADMIN_PAGE_SAID, className="pw-muted")],
                         className="pw-admin-pager"),
                html.Div(id=ids.ADMIN_ACCESS, className="pw-admin-scroll"),
            ], className="pw-admin-section"),
        ], className="pw-admin"),
        dcc.Store(id=ids.ADMIN_CURSOR, data={"before": None, "back": []}),
        dcc.Interval(id=ids.ADMIN_TICK, interval=REFRESH_MS),
    ], className="pw-page pw-admin-page")


def admin_refused() -> html.Div:
    """Return what a non-admin sees at /admin: no data, a way back."""
    return html.Div([html.H1("Admins only"),
                     html.P("The admin page shows who read whose history; only an admin may "
                            "open it."),
                     html.P(html.A("Back to the control room", href="/"))], className="pw-crew")
