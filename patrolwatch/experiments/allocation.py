"""Daily allocation by block randomisation: a pure function of the design, seed and date.

Each block's hotspots are sorted, then ``per_day`` of them are drawn without replacement by a
PRNG seeded from SHA-256 of (design digest, seed, date, block): never Python's global random
state, so the same file and date always give the same lists, on any machine and Python.
Freezing (``decide``) is pure too: the store keeps what was decided.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Literal

from patrolwatch.core.schedule import wall_to_utc
from patrolwatch.core.taskings import rfc3339
from patrolwatch.experiments.design import Experiment

Arm = Literal["treatment", "control"]


@dataclass(frozen=True)
class Allocation:
    """One day's arms: every place of the pool in exactly one of them."""

    experiment: str
    day: date
    digest: str
    treatment: tuple[str, ...]
    control: tuple[str, ...]
    allocated_at: float | None = None  # when it was stored (None: computed, not stored)
    freeze_at: float | None = None  # the day's window start: from then on it cannot change
    blocks: dict[str, str] = field(default_factory=dict, compare=False)

    def arm(self, hotspot: str) -> Arm | None:
        """Return a place's arm that day (None: not in the pool)."""
        if hotspot in self.treatment:
            return "treatment"
        if hotspot in self.control:
            return "control"
        return None

    def frozen(self, now: float) -> bool:
        """Tell whether the allocation is stored and its day's window has started."""
        return self.allocated_at is not None and self.freeze_at is not None and (
            now >= self.freeze_at)

    def to_json(self) -> dict[str, Any]:
        """Return what the store keeps."""
        return {"experiment": self.experiment, "date": self.day.isoformat(),
                "digest": self.digest, "treatment": list(self.treatment),
                "control": list(self.control), "allocated_at": self.allocated_at,
                "freeze_at": self.freeze_at, "blocks": self.blocks}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Allocation:
        """Rebuild a stored allocation."""
        return cls(data["experiment"], date.fromisoformat(data["date"]), data["digest"],
                   tuple(data["treatment"]), tuple(data["control"]), data.get("allocated_at"),
                   data.get("freeze_at"), dict(data.get("blocks") or {}))


def block_rng(digest: str, seed: int, day: date, block: str) -> random.Random:
    """Return a PRNG of its own for one block on one day, seeded by a hash."""
    text = f"{digest}|{seed}|{day.isoformat()}|{block}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(text).digest(), "big"))


def allocate(exp: Experiment, day: date, seed: int | None = None,
             digest: str | None = None) -> Allocation:
    """Return the day's treatment and control lists (``seed`` overrides the file's: inference).

    ``digest`` is ``exp.digest()``, given by callers that allocate many days at once.
    """
    seed = exp.seed if seed is None else seed
    digest = exp.digest() if digest is None else digest
    treated: set[str] = set()
    for name, block in sorted(exp.design_blocks().items()):
        places = sorted(block.hotspots)
        treated.update(block_rng(digest, seed, day, name).sample(places, block.per_day))
    order = exp.places()
    return Allocation(exp.id, day, digest, tuple(h for h in order if h in treated),
                      tuple(h for h in order if h not in treated), blocks=exp.block_of())


def day_bounds(exp: Experiment, day: date, tz: tzinfo) -> tuple[float, float]:
    """Return the dose window of ``day`` as epoch seconds (the whole local day without one)."""
    if exp.dose.window is None:
        start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        return start.timestamp(), end.timestamp()
    return (wall_to_utc(day, exp.dose.window.start, tz).timestamp(),
            wall_to_utc(day, exp.dose.window.end, tz).timestamp())


class FrozenDayError(Exception):
    """A changed design would change a day whose allocation is already frozen."""


def decide(stored: Allocation | None, fresh: Allocation, now: float, freeze_at: float
           ) -> tuple[Allocation, bool]:
    """Return (the day's allocation, whether to store it) given what is stored.

    Nothing stored: store the fresh one. Stored and the same design: keep it. Stored with
    another design: replace it if the day has not started, else raise FrozenDayError.
    """
    if stored is None:
        return _stamped(fresh, now, freeze_at), True
    if stored.digest == fresh.digest:
        return stored, False
    if stored.frozen(now):
        raise FrozenDayError(
            f"{fresh.day} of experiment {fresh.experiment} is frozen (digest {stored.digest}, "
            f"allocated {rfc3339(stored.allocated_at or 0.0)}); the "
            f"file now has digest {fresh.digest}: the frozen lists stay, change only later days")
    return _stamped(fresh, now, freeze_at), True


def _stamped(a: Allocation, now: float, freeze_at: float) -> Allocation:
    return Allocation(a.experiment, a.day, a.digest, a.treatment, a.control, now, freeze_at,
                      a.blocks)

