"""Small Dash components every feature uses: status chips and browser-updated "ago" spans."""

from __future__ import annotations

from typing import Any

from dash import html

Children = list[Any]


def chip(label: str, colour: str, hollow: bool = False) -> html.Span:
    """Return a small coloured status chip."""
    style = ({"border": f"2px dashed {colour}", "color": colour} if hollow
             else {"background": colour})
    return html.Span(label, className="pw-chip", style=style)


def ago_span(ts: float | None, form: str = "ago") -> html.Span:
    """Return a span the browser keeps saying "2 min ago" in (assets/patrolwatch.js).

    Relative times change every second; rendering them here would re-send every list
    every second. The span carries the time and the browser writes the words: ``form``
    "ago" ("2 min ago"), "for" ("2 min") or "overdue" ("2 min overdue").
    """
    data = {"data-ts": "" if ts is None else f"{ts:.3f}"}
    if form != "ago":
        data["data-form"] = form
    return html.Span(className="pw-ago", **data)  # type: ignore[arg-type]  # data-* is allowed


def sign_out_button(class_name: str) -> html.Form:
    """Return a sign-out button: a form that POSTs /logout (a GET never signs anyone out)."""
    return html.Form(html.Button("Sign out", type="submit", className=class_name),
                     action="/logout", method="POST", className="pw-sign-out")
