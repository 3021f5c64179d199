"""The experiment file (``PATROL_EXPERIMENT``, CONTRACT.md section 8): model, loading, checks.

Problems are reported like every configuration file's, ``file:field: reason``; the pool is
checked against the hotspot file when one is given.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from datetime import date, time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from patrolwatch.errors import ConfigError, problem

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # ids appear in API URLs and Redis keys
ALL_DAY = "all"  # the block name when the file gives ``per_day`` for the whole pool


class DoseWindow(BaseModel):
    """The local daily time window the dose is to be delivered in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time
    end: time


class Dose(BaseModel):
    """What a treated place gets a day: ``visits`` visits of ``minutes`` each, in ``window``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    visits: int = Field(ge=1, le=48)
    minutes: float = Field(gt=0, le=240)
    window: DoseWindow | None = None

    def window_minutes(self) -> float:
        """Return the window's length in minutes (a whole day without one)."""
        if self.window is None:
            return 1440.0
        a, b = self.window.start, self.window.end
        return (b.hour * 60 + b.minute) - (a.hour * 60 + a.minute)


class Block(BaseModel):
    """A stratum of the pool: ``per_day`` of its hotspots are treated each day."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hotspots: list[str]
    per_day: int = Field(ge=1)


class Experiment(BaseModel):
    """A randomised trial: pool, daily allocation design, dose, buffer and seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str
    start: date
    end: date
    pool: list[str] = Field(default_factory=list)
    per_day: int | None = Field(default=None, ge=1)
    blocks: dict[str, Block] | None = None
    dose: Dose
    buffer_m: float = Field(default=100.0, gt=0, le=2000)
    seed: int
    crimes: Path | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID_RE.match(value):
            raise ValueError("use 1-64 of A-Z a-z 0-9 _ -")
        return value

    def design_blocks(self) -> dict[str, Block]:
        """Return the blocks of the design (the whole pool as one block with ``per_day``)."""
        if self.blocks:
            return dict(self.blocks)
        return {ALL_DAY: Block(hotspots=list(self.pool), per_day=self.per_day or 0)}

    def places(self) -> list[str]:
        """Return every place in the pool, in the file's order (blocks in order if given)."""
        if self.pool:
            return list(self.pool)
        return [h for b in (self.blocks or {}).values() for h in b.hotspots]

    def block_of(self) -> dict[str, str]:
        """Return each place's block name."""
        return {h: name for name, b in self.design_blocks().items() for h in b.hotspots}

    def design_json(self) -> dict[str, Any]:
        """Return what the allocation and targets depend on (not the name, not outcomes)."""
        return {
            "id": self.id, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "blocks": {k: {"hotspots": sorted(b.hotspots), "per_day": b.per_day}
                       for k, b in sorted(self.design_blocks().items())},
            "dose": self.dose.model_dump(mode="json"), "buffer_m": self.buffer_m,
            "seed": self.seed,
        }

    def digest(self) -> str:
        """Return the design's digest: 16 hex digits of SHA-256 over its canonical JSON."""
        text = json.dumps(self.design_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def runs_on(self, day: date) -> bool:
        """Tell whether ``day`` is one of the experiment's days."""
        return self.start <= day <= self.end


def design_problems(exp: Experiment, known: Collection[str] | None) -> list[tuple[str, str]]:
    """Return (field, reason) for every inconsistency of a parsed file."""
    out: list[tuple[str, str]] = []
    if exp.end < exp.start:
        out.append(("end", f"{exp.end} is before start {exp.start}"))
    if (exp.per_day is None) == (exp.blocks is None):
        out.append(("per_day", "give per_day (for the whole pool) or blocks, one of the two"))
    seen: dict[str, str] = {}
    for name, block in (exp.blocks or {}).items():
        if not ID_RE.match(name):
            out.append((f"blocks.{name}", "use 1-64 of A-Z a-z 0-9 _ - for a block name"))
        if len(set(block.hotspots)) != len(block.hotspots):
            out.append((f"blocks.{name}", "lists a hotspot twice"))
        for h in block.hotspots:
            if h in seen and seen[h] != name:
                out.append((f"blocks.{name}", f"hotspot {h!r} is also in block {seen[h]!r}: "
                                              "blocks must not overlap"))
            seen.setdefault(h, name)
        if block.per_day > len(block.hotspots):
            out.append((f"blocks.{name}.per_day", f"{block.per_day} is more than the block's "
                                                  f"{len(block.hotspots)} hotspots"))
    if len(set(exp.pool)) != len(exp.pool):
        out.append(("pool", "lists a hotspot twice"))
    if exp.blocks and exp.pool and set(exp.pool) != set(seen):
        missing = sorted(set(exp.pool) - set(seen))
        extra = sorted(set(seen) - set(exp.pool))
        out.append(("pool", f"must be the blocks' hotspots: not in a block {missing}, "
                            f"not in the pool {extra}"))
    if exp.blocks is None and not exp.pool:
        out.append(("pool", "is empty: list the hotspot ids of the trial"))
    if exp.per_day is not None and exp.per_day > len(exp.pool):
        out.append(("per_day", f"{exp.per_day} is more than the pool's {len(exp.pool)} hotspots"))
    if known is not None:
        for h in exp.places():
            if h not in known:
                out.append(("pool", f"unknown hotspot {h!r}: not in the hotspot file"))
    window = exp.dose.window
    if window is not None and window.end <= window.start:
        out.append(("dose.window", f"end {window.end:%H:%M} must be after start "
                                   f"{window.start:%H:%M} (a window within one local day)"))
    elif exp.dose.visits * exp.dose.minutes > exp.dose.window_minutes():
        out.append(("dose", f"{exp.dose.visits} visits of {exp.dose.minutes:g} minutes do not "
                            f"fit in a {exp.dose.window_minutes():g}-minute window"))
    return out


def parse_experiment(data: Any, source: str, known: Collection[str] | None = None) -> Experiment:
    """Validate a parsed YAML document; raise ConfigError naming every problem."""
    if not isinstance(data, dict):
        raise ConfigError([problem(source, "experiment", "expected a mapping of id, name, "
                                                         "start, end, pool, dose, seed")])
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([
            problem(source, ".".join(str(p) for p in err["loc"]) or "experiment", err["msg"])
            for err in exc.errors()
        ]) from None
    problems = design_problems(exp, known)
    if problems:
        raise ConfigError([problem(source, f, reason) for f, reason in problems])
    return exp


def load_experiment(path: Path, known: Collection[str] | None = None) -> Experiment:
    """Read and validate an experiment file; raise ConfigError naming every problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([problem(path, "experiment", f"cannot read: {exc.strerror}; "
                                                       "check PATROL_EXPERIMENT")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([problem(path, "experiment", f"not YAML: {exc}")]) from None
    exp = parse_experiment(data, str(path), known)
    if exp.crimes is not None and not exp.crimes.is_absolute():
        exp = exp.model_copy(update={"crimes": path.parent / exp.crimes})
    return exp


def validate_experiment(path: Path, known: Collection[str] | None) -> list[str]:
    """Return the problems of an experiment file (empty when it is sound)."""
    try:
        load_experiment(path, known)
    except ConfigError as exc:
        return exc.problems
    return []
