"""Plain values the simulated fleet takes and gives: targets, units, reports, taskings.

Pure: no I/O. :mod:`patrolwatch.sim.fleet` moves the units; :mod:`patrolwatch.sim.publisher`
publishes the reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0


@dataclass(frozen=True, slots=True)
class Target:
    """A place units patrol: a hotspot's inner point and how far from it a unit may wander."""

    id: str
    name: str
    lat: float
    lon: float
    radius_m: float  # distance from (lat, lon) to the hotspot's edge
    priority: int = 2


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A simulated unit: id, kind, and its OwnTracks ``(user, device)`` if it uses the app."""

    id: str
    kind: str  # foot / cycle / vehicle
    owntracks: tuple[str, str] | None = None
    issi: int | None = None  # its TETRA radio reports by LIP instead (sim.radio)
    # Share of patrol legs spent away from hotspots (beats, calls, refreshment runs):
    # hotspot patrols are the taskforce's job; borough response units are mostly elsewhere.
    street_share: float = 0.2


@dataclass(frozen=True, slots=True)
class PositionReport:
    """A position the unit's device sends."""

    unit: str
    ts: float
    lat: float
    lon: float
    acc: float
    speed: float
    heading: float
    battery: float
    seq: int


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A status change the crew sends."""

    unit: str
    ts: float
    status: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AckReport:
    """A crew's answer to a tasking."""

    unit: str
    ts: float
    tasking_id: str
    accepted: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TransitionReport:
    """An OwnTracks region event: the device entered or left a hotspot."""

    unit: str
    ts: float
    event: str  # enter / leave
    target: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Tasking:
    """What a simulated crew needs from a tasking: where to go."""

    unit: str
    id: str
    lat: float
    lon: float
    hotspot: str | None = None


Report = PositionReport | StatusReport | AckReport | TransitionReport


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the distance between two nearby points (equirectangular; metres)."""
    dx = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2)) * M_PER_DEG
    return math.hypot(dx, (lat2 - lat1) * M_PER_DEG)


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Return the point the given metres east and north of (lat, lon)."""
    return (lat + north_m / M_PER_DEG,
            lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))))
