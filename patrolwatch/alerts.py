"""Read the alarm rules file (``PATROL_ALERTS``); problems as ``file:rule: reason`` lines."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from patrolwatch.core.alarm_rules import AlertRules
from patrolwatch.errors import ConfigError, problem


def alert_problems(path: Path) -> list[str]:
    """Return every problem of the rules file (empty when it is good or absent)."""
    try:
        load_alerts(path)
    except ConfigError as exc:
        return exc.problems
    return []


def load_alerts(path: Path) -> AlertRules:
    """Load and validate the rules; a missing file means the defaults; raise ConfigError."""
    if not path.exists():
        return AlertRules()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([problem(path, "alerts", f"cannot read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([problem(path, "alerts", f"not valid YAML: {exc}")]) from None
    if data is None:
        return AlertRules()
    if not isinstance(data, dict):
        raise ConfigError([problem(path, "alerts", "expected a mapping of rules "
                                   "(status_max_minutes, welfare, lost_contact_minutes, ...)")])
    try:
        return AlertRules.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_line(path, err) for err in exc.errors()]) from None


def _line(path: Path, err: object) -> str:
    """Name the rule (the top key, then the path inside it) and say what is wrong."""
    loc = [str(p) for p in err["loc"]]  # type: ignore[index]
    rule = ".".join(loc) or "alerts"
    msg = str(err["msg"])  # type: ignore[index]
    if err["type"] == "extra_forbidden":  # type: ignore[index]
        msg = "unknown key (see config/alerts.yaml for the keys and their defaults)"
    return problem(path, rule, msg.removeprefix("Value error, "))
