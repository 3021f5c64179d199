"""Dash components for redeployment: suggestion rows with Task buttons, dialogs, taskings, audit.

Action controls are only ever built when ``can_task`` is true: a viewer's page does not
contain them at all (the callbacks behind them check the role on the server anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from dashboard import ids
from dashboard.redeploy.view import AuditRow, Plan, TaskingRow, UnitChoice
from dashboard.widgets import Children, ago_span, chip
from patrolwatch.dispatch import NOTE_MAX


def hotspot_units(hotspot: str, choices: Sequence[UnitChoice], can_task: bool) -> Children:
    """Return the hotspot panel's "send a unit" section."""
    if not choices:
        return [html.Div("Send a unit", className="pw-h3"),
                html.Div("No available unit (available or on patrol, in contact, not tasked).",
                         className="pw-muted")]
    return [html.Div("Send a unit", className="pw-h3"),
            *choice_rows(choices, hotspot, "panel", can_task)]


def task_dialog() -> html.Div:
    """Return the (hidden) confirm dialog for one tasking, with an optional note."""
    return html.Div(html.Div([
        html.Div("Send a unit", className="pw-dialog-title"),
        html.Div(id=ids.TASK_SUMMARY, className="pw-dialog-text"),
        html.Label("Note for the crew (optional)", htmlFor=ids.TASK_NOTE, className="pw-label"),
        dcc.Input(id=ids.TASK_NOTE, type="text", maxLength=NOTE_MAX, debounce=False,
                  className="pw-input", placeholder="e.g. reports of disorder outside No. 12"),
        html.Div(id=ids.TASK_ERROR, className="pw-dialog-error", role="alert"),
        html.Div([html.Button("Send tasking", id=ids.TASK_CONFIRM, n_clicks=0,
                              className="pw-button pw-button-go"),
                  html.Button("Cancel", id=ids.TASK_CANCEL, n_clicks=0,
                              className="pw-button pw-button-quiet")],
                 className="pw-dialog-buttons"),
    ], className="pw-dialog", role="dialog"), id=ids.TASK_DIALOG, className="pw-overlay pw-hidden")


def plan_dialog() -> html.Div:
    """Return the (hidden) "optimise all gaps" plan dialog."""
    return html.Div(html.Div([
        html.Div("Optimised plan for all gaps", className="pw-dialog-title"),
        html.Div("One unit per gap at most; the total ETA weighted by priority is as low as it "
                 "can be. Check it, then send all or cancel.", className="pw-muted"),
        html.Div(id=ids.PLAN_TABLE),
        html.Div([html.Button("Send all", id=ids.PLAN_CONFIRM, n_clicks=0,
                              className="pw-button pw-button-go"),
                  html.Button("Cancel", id=ids.PLAN_CANCEL, n_clicks=0,
                              className="pw-button pw-button-quiet")],
                 className="pw-dialog-buttons"),
    ], className="pw-dialog pw-dialog-wide", role="dialog"), id=ids.PLAN_DIALOG,
        className="pw-overlay pw-hidden")


def render_plan(plan: Plan | None, error: str | None = None) -> Children:
    """Return the plan table and its notes (or why there is no plan)."""
    if error:
        return [html.Div(error, className="pw-dialog-error")]
    assert plan is not None
    out: Children = []
    if plan.rows:
        out.append(html.Table([
            html.Thead(html.Tr([html.Th("Gap"), html.Th("P"), html.Th("Unit"),
                                html.Th("Distance"), html.Th("ETA")])),
            html.Tbody([html.Tr([html.Td(r.name), html.Td(str(r.priority)),
                                 html.Td(r.callsign, className="pw-callsign"),
                                 html.Td(r.distance), html.Td(r.eta)],
                                className="pw-plan-row") for r in plan.rows]),
        ], className="pw-plan"))
    else:
        out.append(html.Div("Nothing to send: no gap can be given a unit now.",
                            className="pw-empty"))
    out += [html.Div(n, className="pw-muted") for n in plan.notes]
    return out


def render_taskings(rows: Sequence[TaskingRow]) -> Children:
    """Return the taskings panel: open ones first, state colour-coded."""
    if not rows:
        return [html.Div("No taskings in the last two hours.", className="pw-empty")]
    out: Children = []
    for r in rows:
        extra = []
        if r.note:
            extra.append(html.Div(f"Note: {r.note}", className="pw-task-meta"))
        if r.reason:
            extra.append(html.Div(f"Reason: {r.reason}", className="pw-task-reason"))
        out.append(html.Div([
            html.Div([html.Span(r.callsign, className="pw-callsign"),
                      html.Span(f"→ {r.name}", className="pw-task-where"),
                      chip(r.label, r.colour)], className="pw-task-head"),
            html.Div([f"{r.id} · by {r.by} · sent ", ago_span(r.created),
                      " · changed ", ago_span(r.updated)], className="pw-task-meta"),
            *extra,
        ], className="pw-task-row" + ("" if r.open else " pw-task-closed"),
            **{"data-state": r.state}))  # type: ignore[arg-type]  # data-* is allowed
    return out


def render_audit(rows: Sequence[AuditRow]) -> Children:
    """Return the audit log, newest first."""
    if not rows:
        return [html.Div("Nothing audited yet.", className="pw-empty")]
    return [
        html.Div([html.Span(r.clock, className="pw-audit-time"),
                  html.Span(r.kind, className="pw-audit-kind"),
                  html.Span(r.actor, className="pw-audit-actor"),
                  html.Span(" ".join(p for p in (r.change, r.detail) if p),
                            className="pw-audit-detail")],
                 className="pw-audit-row")
        for r in rows
    ]


def toast(text: str, ok: bool = True) -> Children:
    """Return a one-line result of a supervisor's action."""
    return [html.Div(text, className="pw-toast " + ("pw-toast-ok" if ok else "pw-toast-bad"),
                     role="status")]


def task_button(hotspot: str, unit: str, at: str, callsign: str) -> html.Button:
    """Return the "Task" button for one suggested unit (``at``: gap list or hotspot panel)."""
    return html.Button("Task", id={"type": ids.TASK_ITEM, "hotspot": hotspot, "unit": unit,
                                   "at": at},
                       n_clicks=0, className="pw-task", title=f"Send {callsign} here")


def choice_rows(choices: Sequence[UnitChoice], hotspot: str, at: str,
                can_task: bool) -> Children:
    """Return one line per suggested unit: callsign, distance, ETA, and Task for supervisors."""
    return [
        html.Div([html.Span(c.callsign, className="pw-callsign"),
                  html.Span(f"{c.distance} · ETA {c.eta}", className="pw-choice-eta"),
                  *([task_button(hotspot, c.unit, at, c.callsign)] if can_task else [])],
                 className="pw-choice")
        for c in choices
    ]


def gap_units(hotspot: str, choices: Sequence[UnitChoice], tasked: Sequence[str],
              can_task: bool) -> html.Div:
    """Return what goes under a gap: units already tasked there, then suggested units."""
    lines: Children = []
    if tasked:
        lines.append(html.Div("Tasked: " + ", ".join(tasked), className="pw-tasked"))
    if choices:
        lines += choice_rows(choices, hotspot, "gap", can_task)
    elif not tasked:
        lines.append(html.Div("No available unit to suggest", className="pw-muted"))
    return html.Div(lines, className="pw-gap-units")
