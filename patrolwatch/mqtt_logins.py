"""Broker logins: which name each device and service signs in with, and so which client id.

The shipped Mosquitto sets ``use_username_as_clientid``: a connection's client id is its
login, so a login holds exactly one session and no login can disconnect, take over or wipe
another login's session. Every connection that must stay up at the same time therefore has a
login of its own:

- a roster unit: its unit id;
- an OwnTracks phone: its OwnTracks user (one phone per user);
- an ingest worker: ``patrolwatch-ingest-1`` .. ``patrolwatch-ingest-<PATROL_INGEST_WORKERS>``;
- a dashboard process: ``patrolwatch-dashboard-1`` .. ``-<PATROL_DASHBOARD_WORKERS>``;
- the simulated fleet: ``patrolwatch-simulator`` (its OwnTracks phones sign in as their users);
- a TETRA radio gateway (``patrolwatch pei``): ``patrolwatch-tetra-gateway``.

Names starting with ``patrolwatch-`` are kept for the services, so raising a worker count can
never hand a unit's name to a service.
"""

from __future__ import annotations

from pathlib import Path

from patrolwatch.roster import Roster
from patrolwatch.settings import Settings

SERVICE_PREFIX = "patrolwatch-"
INGEST = "patrolwatch-ingest"
DASHBOARD = "patrolwatch-dashboard"
SIMULATOR = "patrolwatch-simulator"
TETRA_GATEWAY = "patrolwatch-tetra-gateway"  # `patrolwatch pei`: publishes tetra/{issi}/lip


def ingest_login(number: int) -> str:
    """Return the login (and client id) of ingest worker ``number`` (from 1)."""
    return f"{INGEST}-{number}"


def dashboard_login(number: int) -> str:
    """Return the login (and client id) of dashboard process ``number`` (from 1)."""
    return f"{DASHBOARD}-{number}"


def ingest_logins(settings: Settings) -> list[str]:
    """Return one login per ingest worker that may run at once."""
    return [ingest_login(n) for n in range(1, settings.ingest_workers + 1)]


def dashboard_logins(settings: Settings) -> list[str]:
    """Return one login per dashboard process that may be connected at once."""
    return [dashboard_login(n) for n in range(1, settings.dashboard_workers + 1)]


def _owntracks_users(roster: Roster) -> dict[str, list[tuple[str, str]]]:
    """Return each OwnTracks user's (device, unit) pairs, users and devices sorted."""
    users: dict[str, list[tuple[str, str]]] = {}
    for pair, unit in sorted(roster.owntracks.items()):
        user, device = pair.split("/", 1)
        users.setdefault(user, []).append((device, unit))
    return users


def login_problems(roster: Roster, where: Path) -> list[str]:
    """Return every roster entry whose broker login another holder would share.

    Two holders of one login share its password and its one client id: either could sign in
    as the other and knock it off or wipe its queued messages. Each line is
    ``file:name: reason and what to do``.
    """
    problems: list[str] = []
    phones = _owntracks_users(roster)
    for name in sorted({*roster.units, *phones}):
        if name.lower().startswith(SERVICE_PREFIX):
            holder = f"unit {name!r}" if name in roster.units else f"OwnTracks user {name!r}"
            problems.append(
                f"{where}:{name}: {holder} takes a broker login kept for PatrolWatch's services "
                f"(names starting {SERVICE_PREFIX!r}: {ingest_login(1)}, {dashboard_login(1)}, "
                f"{SIMULATOR}, ...) and would get that service's password and client id; "
                "rename it")
        elif name in roster.units and name in phones:
            of = ", ".join(f"{name}/{device} of unit {unit}" for device, unit in phones[name])
            problems.append(
                f"{where}:{name}: unit {name!r} and the OwnTracks user {name!r} ({of}) would "
                "share one broker login, password and client id, so each could sign in as the "
                "other and knock it off; rename the OwnTracks user in the app and in the "
                f"roster (e.g. {name.lower()}-phone/{phones[name][0][0]})")
    for user, devices in phones.items():
        if len(devices) > 1:
            listed = ", ".join(f"{user}/{device} of unit {unit}" for device, unit in devices)
            problems.append(
                f"{where}:{user}: OwnTracks user {user!r} has {len(devices)} phones ({listed}); "
                "a phone signs in as its user, which holds one client id, so they would keep "
                "disconnecting each other; give each phone an OwnTracks user of its own")
    return problems
