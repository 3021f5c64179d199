"""The experiment's screens: the allocation page (/experiment) and the crew's treated list."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import redis
from dash import html

from dashboard.deps import Deps
from dashboard.experiments import actions, view
from patrolwatch.errors import ConfigError

EXPERIMENT_PATH = "/experiment"
ARM_CLASS = {"treatment": "pw-arm pw-arm-treatment", "control": "pw-arm pw-arm-control"}


def arm_badge(arm: str) -> html.Span:
    """Return the arm badge (text, so it reads without colour)."""
    return html.Span("TREATED" if arm == "treatment" else "CONTROL",
                     className=ARM_CLASS.get(arm, "pw-arm"))


def legend() -> html.Div:
    """Return the arm legend."""
    return html.Div([arm_badge("treatment"), html.Span(" " + view.ARM_TEXT["treatment"]),
                     html.Br(), arm_badge("control"),
                     html.Span(" " + view.ARM_TEXT["control"])], className="pw-arm-legend")


def experiment_page(deps: Deps, who: list[Any], now: float | None = None) -> html.Div:
    """Return the allocation view: today's arms, the dose, whether the day is frozen."""
    now = time.time() if now is None else now
    found = actions.today_allocation(deps, now)
    back = html.P(html.A("Control room", href="/"))
    if found is None:
        exp = actions.experiment(deps)
        text = ("No experiment is configured (PATROL_EXPERIMENT)." if exp is None else
                f"Experiment {exp.id} runs {exp.start} to {exp.end}: not today.")
        return html.Div([html.Header(who), html.H1("Experiment"), html.P(text), back],
                        className="pw-crew pw-experiment")
    exp, alloc = found
    frozen = alloc.frozen(now)
    when = datetime.fromtimestamp(alloc.freeze_at, deps.settings.zone).strftime("%H:%M") \
        if alloc.freeze_at else "the start of the day's window"
    state = (f"frozen (digest {alloc.digest})" if frozen else
             f"not frozen yet: freezes at {when} (digest {alloc.digest})")
    rows = view.allocation_rows(exp, alloc, deps.hotspots.by_id)
    table = html.Table([
        html.Thead(html.Tr([html.Th("Arm"), html.Th("Block"), html.Th("Hotspot")])),
        html.Tbody([html.Tr([html.Td(arm_badge(r["arm"])), html.Td(r["block"]),
                             html.Td(r["name"], title=r["hotspot"])]) for r in rows]),
    ], className="pw-experiment-table")
    return html.Div([
        html.Header(who),
        html.H1(f"Experiment: {exp.name}"),
        html.P(f"{alloc.day.isoformat()}: {len(alloc.treatment)} treated, "
               f"{len(alloc.control)} controls; dose {view.dose_text(exp)}; {state}."),
        legend(), table, back,
    ], className="pw-crew pw-experiment", id="experiment-page")


def crew_section(deps: Deps, now: float | None = None) -> html.Section | None:
    """Return the crew page's list of today's treated places (None outside an experiment)."""
    try:
        found = actions.today_allocation(deps, now)
    except (redis.RedisError, ConfigError):  # the crew page must open whatever happens here
        return None
    if found is None:
        return None
    exp, alloc = found
    names = [deps.hotspots.by_id[h].name for h in alloc.treatment if h in deps.hotspots.by_id]
    return html.Section([
        html.H2("Patrol today (experiment)"),
        html.P(f"{view.dose_text(exp)} at each:", className="pw-crew-small"),
        html.Ul([html.Li(n) for n in names], id="crew-treated-places"),
    ], className="pw-crew-section")


def header_link(deps: Deps, now: float | None = None) -> html.A | None:
    """Return the control room's link to today's allocation (None outside an experiment)."""
    try:
        found = actions.today_allocation(deps, now)
    except (redis.RedisError, ConfigError):  # the control room must open whatever happens here
        return None
    if found is None:
        return None
    exp, alloc = found
    return html.A([arm_badge("treatment"), f" {len(alloc.treatment)} / ",
                   arm_badge("control"), f" {len(alloc.control)} today: {exp.name}"],
                  href=EXPERIMENT_PATH, className="pw-experiment-link", id="experiment-link",
                  title="Experiment: today's treated and control hotspots")


def arm_labels(deps: Deps, layer: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """Return the map's hotspot layer with today's arms in the pool places' names."""
    try:
        found = actions.today_allocation(deps, now)
    except (redis.RedisError, ConfigError):
        return layer
    return layer if found is None else view.label_arms(layer, found[1])
