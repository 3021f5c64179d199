"""Which of a unit's messages is its latest position or status (CONTRACT.md section 3).

A device's clock may run fast, so its own timestamp cannot decide alone: messages are
ordered by their *effective* time ``min(ts, arrival)``, equal effective times by arrival.
An ``EMERGENCY`` takes effect on arrival whatever its time, and stays the unit's status
until a non-``EMERGENCY`` status from the unit arrives after it.

The store's Lua (``patrolwatch.store.live``) applies the same rule to what it holds; this
module is the reference both are tested against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stamp:
    """What ordering knows of one message: effective time, arrival, and whether EMERGENCY."""

    effective: float
    arrival: float
    emergency: bool = False

    @classmethod
    def of(cls, ts: float, arrival: float | None, emergency: bool = False) -> Stamp:
        """Stamp a message from its event time and arrival (None: it arrived at ``ts``)."""
        arrived = ts if arrival is None else arrival
        return cls(effective_time(ts, arrived), arrived, emergency)


def effective_time(ts: float, arrival: float | None) -> float:
    """Return the time a message orders by: its event time, but never after its arrival."""
    return ts if arrival is None or ts <= arrival else arrival


def takes_effect(current: Stamp | None, new: Stamp) -> bool:
    """Tell whether a newly stored message replaces the unit's current latest one.

    Messages are applied in arrival order; a stamp equal to the current one is the same
    message again and changes nothing.
    """
    if current is None or new.emergency:
        return True
    if current.emergency:  # only a status that arrived after the EMERGENCY clears it
        return new.arrival > current.arrival
    return (new.effective, new.arrival) > (current.effective, current.arrival)


def latest(stamps: Iterable[Stamp]) -> int | None:
    """Return the index of the stamp in force after applying them in order (None if none)."""
    current: Stamp | None = None
    index: int | None = None
    for i, stamp in enumerate(stamps):
        if takes_effect(current, stamp):
            current, index = stamp, i
    return index
