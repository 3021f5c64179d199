"""Plain values the store hands in and out: a batch to write, what it changed, counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from patrolwatch.core.model import (
    Ack,
    LostContact,
    Position,
    Rejection,
    StatusChange,
    UnitEvent,
)


@dataclass
class Batch:
    """Everything one worker round trip stores."""

    positions: list[Position] = field(default_factory=list)
    statuses: list[StatusChange] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    lost: list[LostContact] = field(default_factory=list)
    events: list[UnitEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.positions) + len(self.statuses) + len(self.acks) + len(self.lost)
                + len(self.events) + len(self.rejections))

    @property
    def accepted(self) -> int:
        """Return how many accepted messages the batch holds."""
        return len(self) - len(self.rejections)


@dataclass(frozen=True)
class WriteResult:
    """What a batch write changed."""

    new_points: int
    duplicate_points: int
    moved_units: int
    off_duty: int = 0  # positions moved to the batch's rejections: sent while OFF_DUTY


@dataclass(frozen=True)
class Stats:
    """Ingest counters for /healthz and the dashboard."""

    accepted_total: int
    rejected_total: int
    duplicates_total: int
    rejected_by_reason: dict[str, int]
    last_message_ts: float | None
    acks_unknown_total: int = 0  # acks not for an open tasking of their unit: not audited
    acks_repeated_total: int = 0  # further answers to a tasking already answered: not audited


@dataclass(frozen=True)
class LiveRows:
    """Raw live state of every unit that has sent anything, read in one round trip."""

    positions: dict[str, dict[str, Any]]
    statuses: dict[str, dict[str, Any]]
    seen: dict[str, float]
    lwt: dict[str, float]

