"""Errors a person meets: bad configuration files, with file, feature and reason."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class ConfigError(Exception):
    """One or more problems in a configuration file, each as ``file:feature-id: reason``."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def problem(path: Path | str, feature: str, reason: str) -> str:
    """Format one configuration problem the way `patrolwatch check-config` prints it."""
    return f"{path}:{feature}: {reason}"
