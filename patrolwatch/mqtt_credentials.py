"""`patrolwatch mqtt-credentials`: a Mosquitto password file and ACL from the roster.

Each unit may publish only its own ``patrol/<unit>/position|status|ack`` and read only its own
``patrol/<unit>/tasking``; an OwnTracks phone only its own ``owntracks/<user>/<device>``
topics. The services get their own users with just the rights they need. Each login is also
the one client id it may hold (``patrolwatch.mqtt_logins``): one per connection.

Running it again keeps every password already in ``credentials.txt``: a roster change adds
and drops users without invalidating the devices already provisioned.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from patrolwatch.mqtt import read_password_file
from patrolwatch.mqtt_logins import (
    SIMULATOR,
    TETRA_GATEWAY,
    dashboard_logins,
    ingest_logins,
    login_problems,
)
from patrolwatch.roster import Roster, load_roster
from patrolwatch.settings import Settings

PBKDF2_ITERATIONS = 101  # Mosquitto 2's own default for $7$ hashes
SALT_BYTES = 12
PASSWD, ACL, CREDENTIALS = "passwd", "acl", "credentials.txt"


@dataclass(frozen=True)
class Account:
    """One broker user and the topics it may write and read."""

    name: str
    write: tuple[str, ...]
    read: tuple[str, ...]
    comment: str


# (write, read) of each service.
INGEST_RIGHTS = (("patrol/events/coverage", "owntracks/+/+/cmd",  # cmd: experiment regions
                  "patrol/+/alarm", "patrol/+/checkin"),
                 ("patrol/+/position", "patrol/+/status", "patrol/+/ack", "owntracks/+/+",
                  "owntracks/+/+/event", "tetra/+/lip"))
DASHBOARD_RIGHTS = (("patrol/+/tasking", "patrol/+/position", "patrol/+/status", "patrol/+/ack"),
                    ("patrol/events/coverage",))
# Any unit's reports, as the simulated fleet is any roster; never taskings or coverage events,
# which the control room acts on. Its OwnTracks phones sign in as their own users.
SIMULATOR_RIGHTS = (("patrol/+/position", "patrol/+/status", "patrol/+/ack", "tetra/+/lip"),
                    ("patrol/+/tasking", "patrol/+/checkin"))
# A radio gateway (`patrolwatch pei`, or a force's location server) speaks for every radio.
TETRA_GATEWAY_RIGHTS: tuple[tuple[str, ...], tuple[str, ...]] = (("tetra/+/lip",), ())


def service_accounts(settings: Settings) -> list[Account]:
    """Return one account per service process: each holds its own client id and session."""
    ingest = [Account(name, *INGEST_RIGHTS, comment=f"ingest worker {n} and its coverage "
                      "evaluator") for n, name in enumerate(ingest_logins(settings), 1)]
    dashboard = [Account(name, *DASHBOARD_RIGHTS, comment=f"dashboard process {n}: sends "
                         "taskings; the crew page publishes as the signed-in unit")
                 for n, name in enumerate(dashboard_logins(settings), 1)]
    simulator = Account(SIMULATOR, *SIMULATOR_RIGHTS, comment="simulated fleet (demo profile)")
    gateway = Account(TETRA_GATEWAY, *TETRA_GATEWAY_RIGHTS,
                      comment="TETRA radio gateway: `patrolwatch pei` publishes LIP reports")
    return [*ingest, *dashboard, simulator, gateway]


@dataclass(frozen=True)
class Written:
    """What `write_credentials` wrote, whose passwords it kept, and who owns the files."""

    paths: tuple[Path, Path, Path]  # passwd, acl, credentials.txt
    kept: tuple[str, ...]  # passwords carried over from the existing credentials.txt
    generated: tuple[str, ...]  # new users, given a fresh random password
    given: tuple[str, ...]  # passwords read from stdin
    dropped: tuple[str, ...]  # users in the old credentials.txt no longer in the roster
    notes: tuple[str, ...]  # one line per file: owner and mode, or why not changed


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """Hash a password the way mosquitto_passwd does (PBKDF2-SHA512, ``$7$``)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return (f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def unit_accounts(roster: Roster) -> list[Account]:
    """Return one account per roster unit, and one per OwnTracks user."""
    accounts = []
    for unit in roster.units.values():
        accounts.append(Account(
            unit.id,
            write=(f"patrol/{unit.id}/position", f"patrol/{unit.id}/status",
                   f"patrol/{unit.id}/ack"),
            read=(f"patrol/{unit.id}/tasking", f"patrol/{unit.id}/alarm",
                  f"patrol/{unit.id}/checkin"),
            comment=f"{unit.callsign} ({unit.team}, {unit.kind})",
        ))
    owntracks: dict[str, list[str]] = {}
    for pair in roster.owntracks:
        user, device = pair.split("/", 1)
        owntracks.setdefault(user, []).append(device)
    for user, devices in sorted(owntracks.items()):
        topics = tuple(t for d in sorted(devices)
                       for t in (f"owntracks/{user}/{d}", f"owntracks/{user}/{d}/event"))
        accounts.append(Account(user, write=topics, comment="OwnTracks phone",
                                read=tuple(f"owntracks/{user}/{d}/cmd" for d in sorted(devices))))
    return accounts


def acl_text(accounts: Iterable[Account]) -> str:
    """Render a Mosquitto ACL file: nothing is allowed that is not listed."""
    lines = ["# Generated by `patrolwatch mqtt-credentials` from the roster. Do not edit by hand.",
             ""]
    for acc in accounts:
        lines += [f"# {acc.comment}", f"user {acc.name}"]
        lines += [f"topic write {t}" for t in acc.write]
        lines += [f"topic read {t}" for t in acc.read]
        lines.append("")
    return "\n".join(lines)


def _owner(path: Path, uid: int | None, option: str) -> tuple[int, int] | str | None:
    """Decide who should own a rewritten file: (uid, gid), None to leave it, or why not."""
    if os.geteuid() != 0:
        if uid is not None and uid != os.geteuid():
            return (f"{option} {uid} not applied: only root can give files away; "
                    f"run as root, or `sudo chown {uid}:{uid} {path}`")
        return None
    if uid is not None:
        # The group too: Mosquitto warns when its files' group is not its own (1883).
        return uid, uid
    if path.exists():  # a rerun by hand keeps the owner the first run gave the file
        st = path.stat()
        return st.st_uid, st.st_gid
    return None


def _write_private(path: Path, text: str, uid: int | None, option: str) -> str:
    """Replace ``path`` atomically with an owner-only file; return what was done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = _owner(path, uid, option)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        if isinstance(owner, tuple):  # before the rename: the file never appears unreadable
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    st = path.stat()
    note = f"wrote {path} (owner {st.st_uid}:{st.st_gid}, mode 0600)"
    return f"{note}; {owner}" if isinstance(owner, str) else note


def write_credentials(settings: Settings, out: str | Path, *,
                      given: Mapping[str, str] | None = None, roster: Roster | None = None,
                      broker_uid: int | None = None, secrets_uid: int | None = None) -> Written:
    """Write ``passwd``, ``acl`` and ``credentials.txt`` (plain, owner-only) in ``out``.

    Passwords come from ``given`` first, then from the ``credentials.txt`` already in ``out``;
    only users found in neither get a new random one. As root, ``passwd`` and ``acl`` are
    given to ``broker_uid`` and ``credentials.txt`` to ``secrets_uid``.
    """
    for option, uid in (("--broker-uid", broker_uid), ("--secrets-uid", secrets_uid)):
        if uid is not None and uid < 0:
            raise ValueError(f"{option} must be a user id (0 or more), not {uid}")
    folder = Path(out)
    roster = roster or load_roster(settings.units)
    clashes = login_problems(roster, settings.units)
    if clashes:
        # Merging them would hand one holder the other's password and client id.
        raise ValueError(
            f"nothing written: {len(clashes)} broker login(s) of the roster would belong to "
            "more than one device or service:\n" + "\n".join(clashes))
    accounts = [*service_accounts(settings), *unit_accounts(roster)]
    names = [a.name for a in accounts]
    given = dict(given or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"passwords given for {', '.join(map(repr, unknown))}, which are "
                         "neither PatrolWatch services nor roster units or OwnTracks users")
    old_path = folder / CREDENTIALS
    # Never generate over a file that exists but cannot be read: that would lock out
    # every device already provisioned.
    old = read_password_file(old_path) if old_path.exists() else {}
    passwords: dict[str, str] = {}
    kept, generated = [], []
    for name in names:
        if name in given:
            passwords[name] = given[name]
        elif name in old:
            passwords[name] = old[name]
            kept.append(name)
        else:
            passwords[name] = secrets.token_urlsafe(18)
            generated.append(name)
    plain = ("# name password: hand each device its own line; keep this file secret.\n"
             "# Rerunning `patrolwatch mqtt-credentials` keeps these passwords; to change one,\n"
             "# edit its line here and rerun.\n"
             + "".join(f"{name} {pw}\n" for name, pw in passwords.items()))
    passwd = "".join(f"{name}:{mosquitto_hash(pw)}\n" for name, pw in passwords.items())
    paths = (folder / PASSWD, folder / ACL, folder / CREDENTIALS)
    # credentials.txt first: if this is interrupted, a rerun rebuilds passwd from it.
    notes = [_write_private(paths[2], plain, secrets_uid, "--secrets-uid"),
             _write_private(paths[0], passwd, broker_uid, "--broker-uid"),
             _write_private(paths[1], acl_text(accounts), broker_uid, "--broker-uid")]
    return Written(paths=paths, kept=tuple(kept), generated=tuple(generated),
                   given=tuple(n for n in names if n in given),
                   dropped=tuple(n for n in old if n not in passwords), notes=tuple(notes))
