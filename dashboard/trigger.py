"""What fired a callback, for the one-line callbacks in callbacks*.py."""

from __future__ import annotations

from typing import Any

from dash import ctx


def fired() -> Any:
    """Return the id of the input that fired the callback, ignoring buttons only (re)drawn.

    A list re-rendered by a refresh brings new buttons with ``n_clicks`` 0, which fire
    pattern-matching callbacks: those are not clicks.
    """
    return ctx.triggered_id if fired_value() else None


def fired_value() -> Any:
    """Return the value of the input that fired the callback (None on the initial call)."""
    return ctx.triggered[0]["value"] if ctx.triggered else None
