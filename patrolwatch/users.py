"""Dashboard users: the users file, bcrypt password hashes and roles."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import bcrypt
import yaml

from patrolwatch.core.model import UNIT_ID_RE
from patrolwatch.errors import ConfigError, problem

Role = Literal["viewer", "supervisor", "crew", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "supervisor", "crew", "admin")
NAME_MAX = 64
PASSWORD_MIN = 8
BCRYPT_MAX_BYTES = 72  # bcrypt ignores anything longer: refuse rather than truncate silently
DEFAULT_ROUNDS = 12


@dataclass(frozen=True)
class User:
    """A dashboard user; ``unit`` is the unit a crew user signs in as."""

    name: str
    role: Role
    password_hash: str
    unit: str | None = None

    def can(self, *roles: Role) -> bool:
        """Tell whether the user holds one of the roles (admin may do everything)."""
        return self.role == "admin" or self.role in roles


def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """Return a bcrypt hash of the password."""
    data = password.encode()
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"password must be at least {PASSWORD_MIN} characters")
    if len(data) > BCRYPT_MAX_BYTES:
        raise ValueError(f"password must be at most {BCRYPT_MAX_BYTES} bytes")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=rounds)).decode()


def _validate(raw: Any, index: int, path: Path, problems: list[str]) -> User | None:
    label = raw.get("name", f"#{index}") if isinstance(raw, dict) else f"#{index}"
    if not isinstance(raw, dict):
        problems.append(problem(path, str(label), "each user must be a mapping"))
        return None
    name, role, hashed, unit = raw.get("name"), raw.get("role"), raw.get("password_hash"), raw.get(
        "unit")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX or ":" in name:
        problems.append(problem(path, str(label), "name must be 1-64 characters without ':'"))
        return None
    if role not in ROLES:
        problems.append(problem(path, name, f"role {role!r} is not one of {', '.join(ROLES)}"))
        return None
    if not isinstance(hashed, str) or not hashed.startswith("$2"):
        problems.append(problem(path, name, "password_hash must be a bcrypt hash (use "
                                "`patrolwatch user add`, never a plain password)"))
        return None
    if role == "crew" and (not isinstance(unit, str) or not UNIT_ID_RE.fullmatch(unit)):
        problems.append(problem(path, name, "a crew user needs `unit:` with a valid unit id"))
        return None
    return User(name, role, hashed, unit if isinstance(unit, str) else None)


def load_users(path: Path) -> dict[str, User]:
    """Load the users file; a missing file means no users (the dashboard then fails closed)."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError([problem(path, "users", f"not valid YAML: {exc}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("users"), list):
        raise ConfigError([problem(path, "users", "expected a mapping with a `users:` list")])
    problems: list[str] = []
    users: dict[str, User] = {}
    for index, raw in enumerate(data["users"]):
        user = _validate(raw, index, path, problems)
        if user is None:
            continue
        if user.name in users:
            problems.append(problem(path, user.name, "duplicate user name"))
            continue
        users[user.name] = user
    if problems:
        raise ConfigError(problems)
    return users


def save_users(path: Path, users: dict[str, User]) -> None:
    """Write the users file atomically, readable by its owner only."""
    data = {"users": [
        {"name": u.name, "role": u.role, "password_hash": u.password_hash,
         **({"unit": u.unit} if u.unit else {})}
        for u in sorted(users.values(), key=lambda u: u.name)
    ]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# PatrolWatch dashboard users (bcrypt hashes): `patrolwatch user add`.\n")
        yaml.safe_dump(data, fh, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def add_user(path: Path, name: str, password: str, role: str, unit: str | None = None,
             rounds: int = DEFAULT_ROUNDS) -> User:
    """Add or replace a user in the users file, storing only a hash of the password."""
    users = load_users(path)
    raw = {"name": name, "role": role, "password_hash": hash_password(password, rounds),
           "unit": unit}
    problems: list[str] = []
    user = _validate(raw, len(users), path, problems)
    if user is None:
        raise ConfigError(problems)
    users[name] = user
    save_users(path, users)
    return user


def bcrypt_cost(password_hash: str | bytes) -> int:
    """Return the cost (log2 rounds) of a bcrypt hash such as ``$2b$12$...``."""
    text = password_hash.decode() if isinstance(password_hash, bytes) else password_hash
    try:
        return int(text.split("$")[2])
    except (IndexError, ValueError):
        return DEFAULT_ROUNDS


@lru_cache(maxsize=8)
def _dummy_hash(cost: int) -> bytes:
    return bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=cost))


def dummy_hash(users: dict[str, User]) -> bytes:
    """Return the hash an unknown name is checked against: the users' own bcrypt cost.

    bcrypt's time is set by its cost, so with the same cost an unknown name takes as long as
    a wrong password and names cannot be confirmed by timing. With mixed costs the most
    common one is used (``patrolwatch user add`` always writes DEFAULT_ROUNDS).
    """
    costs = Counter(bcrypt_cost(u.password_hash) for u in users.values())
    cost = max(costs.items(), key=lambda kv: (kv[1], kv[0]))[0] if costs else DEFAULT_ROUNDS
    return _dummy_hash(min(max(cost, 4), 31))


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """Return the user if the password matches; take as long for unknown names."""
    user = users.get(name)
    candidate = password.encode()[:BCRYPT_MAX_BYTES]
    if user is None:
        bcrypt.checkpw(candidate, dummy_hash(users))
        return None
    try:
        return user if bcrypt.checkpw(candidate, user.password_hash.encode()) else None
    except ValueError:  # a hash the file check let through but bcrypt cannot read
        return None


def fingerprint(user: User) -> str:
    """Return what a session remembers of its user: a new password or role ends it."""
    material = f"{user.name}\0{user.role}\0{user.unit or ''}\0{user.password_hash}".encode()
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def remove_user(path: Path, name: str) -> bool:
    """Remove a user from the users file; return whether it was there."""
    users = load_users(path)
    if users.pop(name, None) is None:
        return False
    save_users(path, users)
    return True


DEMO_ROLES: tuple[tuple[str, Role, str | None], ...] = (
    ("viewer", "viewer", None),
    ("supervisor", "supervisor", None),
    ("admin", "admin", None),
    ("crew", "crew", None),  # the crew login signs in as the roster's first unit
)


def write_demo_users(path: Path, crew_unit: str = "CW-401") -> list[tuple[str, str, str]]:
    """Write one user per role with fresh random passwords; return (name, password, role)."""
    users: dict[str, User] = {}
    logins: list[tuple[str, str, str]] = []
    for name, role, _ in DEMO_ROLES:
        password = secrets.token_urlsafe(9)
        unit = crew_unit if role == "crew" else None
        users[name] = User(name, role, hash_password(password, rounds=10), unit)
        logins.append((name, password, role))
    save_users(path, users)
    return logins
