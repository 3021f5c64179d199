"""Plain functions the experiment components show: arm lines and the allocation table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patrolwatch.core.hotspots import Hotspot
from patrolwatch.experiments.allocation import Allocation
from patrolwatch.experiments.design import Experiment

ARM_TEXT = {
    "treatment": "treated today: the dose is this hotspot's target",
    "control": "control today: no target, never suggested (business as usual)",
}


def arm_lines(entry: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Return the hotspot panel's experiment line for a snapshot entry (none if not in one)."""
    arm = (entry or {}).get("arm")
    if arm not in ARM_TEXT:
        return []
    return [("Experiment", f"{entry.get('experiment') or ''}: {ARM_TEXT[arm]}")]  # type: ignore[union-attr]


def dose_text(exp: Experiment) -> str:
    """Return the dose as people read it."""
    window = exp.dose.window
    when = f" between {window.start:%H:%M} and {window.end:%H:%M}" if window else " a day"
    return f"{exp.dose.visits} visit(s) of {exp.dose.minutes:g} min{when}"


def allocation_rows(exp: Experiment, alloc: Allocation, hotspots: Mapping[str, Hotspot]
                    ) -> list[dict[str, str]]:
    """Return one row per place: block, arm, name, id (treated first)."""
    blocks = exp.block_of()
    rows = [{"hotspot": h, "name": hotspots[h].name if h in hotspots else h,
             "block": blocks.get(h, ""), "arm": alloc.arm(h) or "control"}
            for h in exp.places()]
    rows.sort(key=lambda r: (r["arm"] != "treatment", r["block"], r["name"]))
    return rows


def label_arms(layer: dict[str, Any], alloc: Allocation) -> dict[str, Any]:
    """Return the hotspot layer with each pool place's name saying its arm and day.

    The map's tooltips and gap labels show names as text; the day is in the label so a page
    left open past midnight shows which day's arm it is.
    """
    for feature in layer.get("features", []):
        props = feature.get("properties") or {}
        arm = alloc.arm(str(props.get("id")))
        if arm is not None:
            word = "treated" if arm == "treatment" else "control"
            props["name"] = f"{props.get('name') or props.get('id')} · {word} {alloc.day}"
    return layer
