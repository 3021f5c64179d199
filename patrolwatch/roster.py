"""The unit roster (``config/units.yaml``) and the local status-code mapping."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patrolwatch.core.model import UNIT_ID_RE, Status
from patrolwatch.errors import ConfigError, problem

Kind = Literal["foot", "cycle", "vehicle"]


class RosterUnit(BaseModel):
    """One unit on the roster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=UNIT_ID_RE.pattern)
    callsign: str = Field(min_length=1, max_length=40)
    team: str = Field(min_length=1, max_length=60)
    kind: Kind = "foot"
    owntracks: str | None = Field(None, pattern=r"^[^/+#\s]+/[^/+#\s]+$")
    issi: int | None = Field(None, ge=0, lt=2**24, strict=True)  # its TETRA radio (24 bits)


@dataclass(frozen=True)
class Roster:
    """Units by id, OwnTracks ``user/device`` pairs and radio ISSIs to unit ids."""

    units: dict[str, RosterUnit]
    owntracks: dict[str, str]
    issis: dict[int, str] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Roster:
        """Return a roster with no units (every unit is then unregistered)."""
        return cls({}, {})

    def get(self, unit: str) -> RosterUnit | None:
        """Return the roster entry for a unit id, if any."""
        return self.units.get(unit)

    def owntracks_unit(self, user: str, device: str) -> str | None:
        """Return the roster unit id whose ``owntracks`` is ``user/device``, if any."""
        return self.owntracks.get(f"{user}/{device}")

    def issi_unit(self, issi: int) -> str | None:
        """Return the roster unit id whose radio has this ISSI, if any."""
        return self.issis.get(issi)

    def kind_of(self, unit: str) -> Kind:
        """Return a unit's kind; unregistered units count as foot (CONTRACT.md)."""
        entry = self.units.get(unit)
        return entry.kind if entry else "foot"


def _read_yaml(path: Path, feature: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([problem(path, feature, "file not found")]) from None
    except OSError as exc:
        raise ConfigError([problem(path, feature, f"cannot read: {exc.strerror}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([problem(path, feature, f"not valid YAML: {exc}")]) from None


def _field_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
    )


def load_roster(path: Path) -> Roster:
    """Load and validate the roster; raise ConfigError naming every bad entry."""
    data = _read_yaml(path, "units")
    if data is None:
        return Roster.empty()
    if not isinstance(data, dict) or not isinstance(data.get("units"), list):
        raise ConfigError([problem(path, "units", "expected a mapping with a `units:` list")])
    problems: list[str] = []
    units: dict[str, RosterUnit] = {}
    owntracks: dict[str, str] = {}
    issis: dict[int, str] = {}
    for index, raw in enumerate(data["units"]):
        label = raw.get("id", f"#{index}") if isinstance(raw, dict) else f"#{index}"
        try:
            unit = RosterUnit.model_validate(raw)
        except ValidationError as exc:
            problems.append(problem(path, str(label), _field_errors(exc)))
            continue
        if unit.id in units:
            problems.append(problem(path, unit.id, "duplicate unit id"))
            continue
        if unit.owntracks is not None:
            if unit.owntracks in owntracks:
                problems.append(
                    problem(path, unit.id, f"owntracks {unit.owntracks!r} already belongs to "
                            f"{owntracks[unit.owntracks]}")
                )
                continue
            owntracks[unit.owntracks] = unit.id
        if unit.issi is not None:
            if unit.issi in issis:
                problems.append(problem(path, unit.id, f"issi {unit.issi} already belongs to "
                                        f"{issis[unit.issi]}; a radio reports for one unit"))
                continue
            issis[unit.issi] = unit.id
        units[unit.id] = unit
    if problems:
        raise ConfigError(problems)
    return Roster(units, owntracks, issis)


def load_status_codes(path: Path) -> dict[str, Status]:
    """Load the force's local status codes (``"6": AT_SCENE``); a missing file means none."""
    if not path.exists():
        return {}
    data = _read_yaml(path, "status_codes")
    if data is None:
        return {}
    codes = data.get("codes") if isinstance(data, dict) else None
    if not isinstance(codes, dict):
        raise ConfigError([problem(path, "codes", "expected a mapping `codes: {LOCAL: STATUS}`")])
    problems: list[str] = []
    mapping: dict[str, Status] = {}
    for local, canonical in codes.items():
        try:
            mapping[str(local)] = Status(str(canonical))
        except ValueError:
            problems.append(
                problem(path, str(local), f"{canonical!r} is not one of {', '.join(Status)}")
            )
    if problems:
        raise ConfigError(problems)
    return mapping
