"""`patrolwatch check-config`: every problem in the configuration files, one per line."""

from __future__ import annotations

from patrolwatch.alerts import alert_problems
from patrolwatch.core.hotspots import CoverageDefaults, validate_hotspots
from patrolwatch.errors import ConfigError
from patrolwatch.mqtt_logins import login_problems
from patrolwatch.roster import load_roster, load_status_codes
from patrolwatch.settings import Settings
from patrolwatch.users import load_users


def check_config(settings: Settings) -> list[str]:
    """Return every problem as ``file:feature-id: reason`` (empty when all is well)."""
    problems = list(validate_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                                      settings.zone))
    roster_units: set[str] = set()
    try:
        roster = load_roster(settings.units)
    except ConfigError as exc:
        problems += exc.problems
    else:
        roster_units = set(roster.units)
        problems += login_problems(roster, settings.units)  # `mqtt-credentials` refuses them
    try:
        load_status_codes(settings.status_codes)
    except ConfigError as exc:
        problems += exc.problems
    try:
        users = load_users(settings.users)
    except ConfigError as exc:
        problems += exc.problems
    else:
        for user in users.values():
            if user.unit and roster_units and user.unit not in roster_units:
                problems.append(f"{settings.users}:{user.name}: unit {user.unit!r} is not on the "
                                f"roster {settings.units}")
    problems += experiment_problems(settings)
    problems += alert_problems(settings.alerts)
    return problems


def experiment_problems(settings: Settings) -> list[str]:
    """Return the problems of ``PATROL_EXPERIMENT`` (none when unset)."""
    if settings.experiment is None:
        return []
    from patrolwatch.core.hotspots import load_hotspots
    from patrolwatch.experiments.design import validate_experiment

    try:
        known: set[str] | None = set(load_hotspots(
            settings.hotspots, CoverageDefaults.from_settings(settings), settings.zone).by_id)
    except ConfigError:
        known = None  # the hotspot file's own problems are listed above
    return validate_experiment(settings.experiment, known)
