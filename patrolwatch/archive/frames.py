"""Replay frames: every unit and every hotspot as they stood at one moment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from patrolwatch.archive.tiers import History
from patrolwatch.core.model import DEFAULT_STATUS


@dataclass(frozen=True)
class FrameUnit:
    """One unit on a frame."""

    id: str
    callsign: str
    ts: float
    lat: float
    lon: float
    status: str
    stale: bool


@dataclass(frozen=True)
class Frame:
    """Units (last fix at or before ``at``) and hotspot states (as evaluated then)."""

    at: float
    units: list[FrameUnit]
    hotspots: dict[str, str]
    states_at: float | None  # when the hotspot states were evaluated; None: no_data


def frame(history: History, at: float, units: Sequence[str], callsigns: Mapping[str, str],
          hotspot_ids: Sequence[str], stale_after_s: float, retention_s: float) -> Frame:
    """Return the frame at ``at``; hotspots with no state kept near then are ``no_data``.

    ``at`` is taken at the archive's resolution (µs), as every stored time is read: a frame
    asked at a point's own sub-microsecond time (replay opens at the first observed time,
    which is one) has that point, whether its time rounds up or down.
    """
    at = round(at * 1e6) / 1e6
    positions = history.last_positions(units, at)
    on_frame = sorted(positions)
    statuses = history.statuses_at(on_frame, at, retention_s)
    states = history.hotspot_states_at(at)
    known = states[1] if states else {}
    return Frame(
        at=at,
        units=[FrameUnit(u, callsigns.get(u, u), positions[u][0], positions[u][1],
                         positions[u][2], statuses.get(u, DEFAULT_STATUS.value),
                         at - positions[u][0] > stale_after_s) for u in on_frame],
        hotspots={h: known.get(h, "no_data") for h in hotspot_ids},
        states_at=states[0] if states else None,
    )
