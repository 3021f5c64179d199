"""Plain values that cross module boundaries: parsed messages, rejections, unit state.

Nothing here does I/O. Parsing (bytes -> these values) lives in ``messages.py``; storing
them lives in ``patrolwatch.store``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

UNIT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

Source = Literal["native", "owntracks", "tetra"]


class Status(StrEnum):
    """The canonical unit statuses (DOMAIN.md)."""

    AVAILABLE = "AVAILABLE"
    ON_PATROL = "ON_PATROL"
    EN_ROUTE = "EN_ROUTE"
    AT_SCENE = "AT_SCENE"
    COMMITTED = "COMMITTED"
    REFRESHMENT = "REFRESHMENT"
    OFF_DUTY = "OFF_DUTY"
    EMERGENCY = "EMERGENCY"


ELIGIBLE_STATUSES = frozenset({Status.AVAILABLE, Status.ON_PATROL})
# A unit that has never sent a status counts as ON_PATROL (DOMAIN.md).
DEFAULT_STATUS = Status.ON_PATROL


class Reason(StrEnum):
    """Why a message was rejected; the value is the counter and log key."""

    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    NOT_OBJECT = "not_object"
    UNKNOWN_TOPIC = "unknown_topic"
    INVALID_UNIT = "invalid_unit"
    UNIT_MISMATCH = "unit_mismatch"
    UNKNOWN_UNIT = "unknown_unit"  # only with PATROL_STRICT_ROSTER=true
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"  # wrong type, NaN/Infinity, unparsable time
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_STATUS = "unknown_status"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"  # older than the trail retention: it would be deleted at once
    UNSUPPORTED_TYPE = "unsupported_type"  # an OwnTracks _type we do not take
    RATE_LIMITED = "rate_limited"  # over PATROL_UNIT_MAX_RATE for its unit (never EMERGENCY)
    OFF_DUTY = "off_duty"  # a position in an OFF_DUTY period of its unit: not kept (privacy)
    UNKNOWN_ISSI = "unknown_issi"  # tetra/{issi}/lip from a radio no roster unit carries
    LIP_MALFORMED = "lip_malformed"  # a LIP PDU too short, too long or out of range
    LIP_UNSUPPORTED = "lip_unsupported"  # a valid LIP PDU that holds no placeable position


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that was not accepted, with a reason a person can read."""

    reason: Reason
    detail: str
    topic: str
    payload_head: bytes  # the first 200 bytes


@dataclass(frozen=True, slots=True)
class Position:
    """One position report, from any source, in event time (epoch seconds)."""

    unit: str
    ts: float
    lat: float
    lon: float
    acc: float | None = None
    speed: float | None = None  # m/s
    heading: float | None = None  # degrees
    battery: float | None = None  # percent
    seq: int | None = None
    source: Source = "native"
    # When the worker received it (epoch s): ordering uses min(ts, arrival) (core.ordering).
    # Not part of equality: the same message received twice is the same position.
    arrival: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A unit's status from its own timestamp on."""

    unit: str
    ts: float
    status: Status
    note: str | None = None
    source: Source = "native"
    arrival: float | None = field(default=None, compare=False)  # as for Position


@dataclass(frozen=True, slots=True)
class Ack:
    """A crew's answer to a tasking."""

    unit: str
    id: str
    ts: float
    accepted: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class LostContact:
    """An OwnTracks last-will: the device dropped off the network.

    ``ts`` is the will's ``tst`` when it has one, else its arrival; ``retained`` wills were
    published before we subscribed. Either way it marks the unit lost only when it is
    newer than the unit's newest message (the store decides, it knows that message).
    """

    unit: str
    ts: float
    retained: bool = False


@dataclass(frozen=True, slots=True)
class UnitEvent:
    """An OwnTracks region transition, recorded as a unit event."""

    unit: str
    ts: float
    event: str  # "enter" / "leave"
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RadioReport:
    """A radio's LIP report: its position and, when it was sent for an emergency, that status."""

    position: Position
    emergency: StatusChange | None = None

    @property
    def unit(self) -> str:
        """Return the unit the radio belongs to."""
        return self.position.unit

    @property
    def ts(self) -> float:
        """Return the report's event time."""
        return self.position.ts


Message = Position | StatusChange | Ack | LostContact | UnitEvent | RadioReport


@dataclass(slots=True)
class UnitState:
    """Live state of one unit as the dashboard and the API read it."""

    id: str
    callsign: str
    team: str
    kind: str  # foot / cycle / vehicle
    registered: bool
    lat: float | None = None
    lon: float | None = None
    acc: float | None = None
    speed: float | None = None
    heading: float | None = None
    battery: float | None = None
    ts: float | None = None  # event time of the latest position
    status: Status = DEFAULT_STATUS
    status_ts: float | None = None
    note: str | None = None
    last_seen: float | None = None  # event time of the newest accepted message
    lwt_ts: float | None = None  # last OwnTracks last-will
    source: Source = "native"
    stale: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def is_stale(
    last_seen: float | None, lwt_ts: float | None, now: float, stale_after_s: float
) -> bool:
    """Tell whether a unit has lost contact: silent too long, or its last word was a last-will."""
    if last_seen is None:
        return True
    if lwt_ts is not None and lwt_ts >= last_seen:
        return True
    return now - last_seen > stale_after_s
