"""Errors a person meets: bad configuration files (file, feature, reason), failed commands."""

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


class CommandError(Exception):
    """A failure to report to the operator in one line, with exit status 1."""
