"""Fail closed: no users, no start (unless PATROL_OPEN_ACCESS=true, warned about hourly);
production refuses the default or a short secret key."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from dashboard.app import (
    DEFAULT_SECRET,
    require_production_secret,
    require_users,
    warn_open_access,
)
from dashboard.auth import UserDirectory
from patrolwatch.errors import ConfigError
from patrolwatch.settings import Settings
from tests.services import wait_until
from tests.unit.test_auth import write_users


@pytest.mark.parametrize("content", [None, "", "users: []\n", "# nobody yet\n"])
def test_no_users_refuses_and_says_how_to_add_one(tmp_path: Path, content: str | None) -> None:
    users = tmp_path / "users.yaml"
    if content is not None:
        users.write_text(content)
    settings = Settings(users=users)
    with pytest.raises(ConfigError) as refused:
        require_users(settings, UserDirectory(users))
    [line] = refused.value.problems
    assert line.startswith(f"{users}:users: ")
    assert "patrolwatch user add NAME --role admin" in line
    assert "PATROL_OPEN_ACCESS=true" in line
    require_users(Settings(users=users, open_access=True), UserDirectory(users))


def test_users_let_it_start(tmp_path: Path) -> None:
    users = write_users(tmp_path / "users.yaml")
    require_users(Settings(users=users), UserDirectory(users))


@pytest.mark.parametrize(("key", "says"), [
    (DEFAULT_SECRET, "published default"), ("short", "at least 32"), ("x" * 31, "at least 32"),
])
def test_production_refuses_a_weak_secret_key(key: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        require_production_secret(Settings(secret_key=key))


def test_production_accepts_a_long_key() -> None:
    require_production_secret(Settings(secret_key="k" * 32))


def test_open_access_is_warned_about_at_start_and_again(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    caplog.set_level(logging.WARNING, logger="dashboard.app")
    stop = threading.Event()
    thread = threading.Thread(target=warn_open_access,
                              args=(UserDirectory(tmp_path / "none.yaml"), stop, 0.05))
    thread.start()
    try:
        wait_until(lambda: sum("PATROL_OPEN_ACCESS=true" in r.getMessage()
                               for r in caplog.records) >= 3, 10, what="repeated warnings")
    finally:
        stop.set()
        thread.join(10)
    assert "patrolwatch user add NAME --role admin" in caplog.records[0].getMessage()
