"""Create taskings: check them, record them (who, when, what) and send them to the unit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from patrolwatch.core import taskings
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.model import UNIT_ID_RE
from patrolwatch.core.taskings import Tasking
from patrolwatch.core.text import NOTE_MAX, text_problem
from patrolwatch.core.topics import tasking_topic
from patrolwatch.roster import Roster
from patrolwatch.store import Store

__all__ = ["NOTE_MAX", "TaskingError", "api_taskings", "create_tasking", "open_taskings"]


class TaskingError(ValueError):
    """A tasking that cannot be made, with a reason for the supervisor."""


def create_tasking(
    store: Store,
    publish: Callable[[str, str], object],
    roster: Roster,
    hotspots: HotspotSet,
    *,
    unit: object,
    hotspot: object,
    note: object = None,
    by: str,
    now: float,
) -> Tasking:
    """Record a tasking and publish it at QoS 1 on ``patrol/{unit}/tasking``."""
    if not isinstance(unit, str) or not UNIT_ID_RE.fullmatch(unit):
        raise TaskingError("`unit` must be a unit id (letters, digits, _ or -, up to 32)")
    if not isinstance(hotspot, str) or not hotspot:
        raise TaskingError("`hotspot` must be a hotspot id")
    if note is not None and not isinstance(note, str):
        raise TaskingError(f"`note` must be text of at most {NOTE_MAX} characters")
    # The same rule as a device's note: it is shown on the crew's handheld as written.
    problem = text_problem(note) if isinstance(note, str) else None
    if problem is not None:
        raise TaskingError(f"`note` {problem}")
    known = roster.get(unit) is not None or store.last_seen(unit) is not None
    if not known:
        raise TaskingError(f"unknown unit {unit!r}: not on the roster and never seen")
    spot = hotspots.by_id.get(hotspot)
    if spot is None:
        raise TaskingError(f"unknown hotspot {hotspot!r}")
    lat, lon = spot.centroid
    change = taskings.create(unit, spot.id, spot.name, lat, lon, by, now,
                             (note or None) if isinstance(note, str) else None)
    store.save_tasking(change.tasking.to_json(), True, change.audit())
    publish(tasking_topic(unit), json.dumps(change.tasking.message()))
    return change.tasking


def open_taskings(store: Store) -> list[Tasking]:
    """Return the open taskings."""
    return [Tasking.from_json(t) for t in store.open_taskings()]


def api_taskings(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return stored taskings in the API's form."""
    return [Tasking.from_json(t).api() for t in rows]
