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


def ago_span(ts: float | None) -> html.Span:
    """Return a span the browser keeps saying "2 min ago" in (assets/patrolwatch.js).

    Relative times change every second; rendering them here would re-send every list
    every second. The span carries the time and the browser writes the words.
    """
    data = {"data-ts": "" if ts is None else f"{ts:.3f}"}
    return html.Span(className="pw-ago", **data)  # type: ignore[arg-type]  # data-* is allowed
