"""Shared fixtures: real Redis/Valkey and MQTT broker processes on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import redis

from patrolwatch.servers import shipped_mosquitto_conf
from tests.services import (
    MOSQUITTO_HOWTO,
    ServerProcess,
    amqtt_server,
    mosquitto_binary,
    mosquitto_server,
    redis_server,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
# Generation speed and per-example time limits measure the machine, not the code: on a
# shared or two-worker run they failed tests that were right (issue 20). Every property and
# its number of examples stay as written.
hypothesis.settings.register_profile(
    "patrolwatch", deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("patrolwatch")
AMQTT_NOTE = ("broker tests ran against the embedded amqtt broker (MQTT 3.1.1, no ACLs, no "
              f"shared subscriptions), not Mosquitto; the Mosquitto-only tests skipped: "
              f"{MOSQUITTO_HOWTO}")
_fallbacks: list[str] = []  # amqtt brokers started this run, for the one warning at the end


def mqtt_broker(workdir: Path, extra_conf: str = "") -> ServerProcess:
    """Start Mosquitto; where it is missing, amqtt (never under CI=true), said once per run."""
    if mosquitto_binary() is not None:
        return mosquitto_server(workdir, extra_conf=extra_conf)
    if IN_CI:
        pytest.fail(f"CI must run against Mosquitto: {MOSQUITTO_HOWTO}")
    _fallbacks.append(str(workdir))
    return amqtt_server(workdir)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Warn once, at the end of the run, when broker tests fell back to amqtt."""
    if _fallbacks:
        terminalreporter.section("broker fallback", sep="-", yellow=True, bold=True)
        terminalreporter.line(f"WARNING: {AMQTT_NOTE} ({len(_fallbacks)} brokers)",
                              yellow=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skip is a failure: CI must have everything the suite needs."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI=true: nothing may skip, but this test skipped: {reason}"


BROWSER_DIR = Path(__file__).parent / "browser"
# Tests that run whole `patrolwatch ingest` or demo processes (children at nice +10) and wait
# for them: beside a browser test on the other worker they missed their deadlines.
HEAVY = frozenset({"test_faults.py", "test_broker_identity.py", "test_demo.py",
                   "test_secrets_in_logs.py", "test_picture.py", "test_archive.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep browser and whole-process tests on one xdist worker (``--dist loadgroup``): one
    at a time, as in a serial run, while the other worker takes the rest."""
    for item in items:
        path = Path(str(item.fspath))
        if BROWSER_DIR in path.parents or (path.name in HEAVY and "integration" in path.parts):
            item.add_marker(pytest.mark.xdist_group("serial"))


def require_mosquitto() -> None:
    """Skip (or, under CI=true, fail) when the mosquitto binary is missing."""
    if mosquitto_binary() is None:
        if IN_CI:
            pytest.fail(f"CI must run the Mosquitto tests: {MOSQUITTO_HOWTO}")
        pytest.skip(MOSQUITTO_HOWTO)


@pytest.fixture(scope="session")
def redis_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One Redis/Valkey process for the session (tests that kill Redis start their own)."""
    server = redis_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.terminate()


@pytest.fixture
def redis_url(redis_proc: ServerProcess) -> Iterator[str]:
    """A clean database on the session's Redis for each test."""
    client = redis.Redis.from_url(redis_proc.url)
    client.flushall()
    client.close()
    yield redis_proc.url


@pytest.fixture(scope="session")
def broker_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One MQTT broker for the session: Mosquitto, or the embedded amqtt where it is missing."""
    server = mqtt_broker(tmp_path_factory.mktemp("broker"))
    yield server
    server.terminate()


@pytest.fixture
def mqtt_url(broker_proc: ServerProcess) -> str:
    """The session broker's URL."""
    return f"mqtt://127.0.0.1:{broker_proc.port}"


@pytest.fixture
def fresh_mqtt_url(tmp_path: Path) -> Iterator[str]:
    """A broker of this test's own, with no retained messages or sessions from others."""
    conf = shipped_mosquitto_conf() if mosquitto_binary() is not None else ""
    server = mqtt_broker(tmp_path, extra_conf=conf)
    yield f"mqtt://127.0.0.1:{server.port}"
    server.terminate()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[ServerProcess]:
    """A private Mosquitto with the shipped config, which this test may kill and restart."""
    require_mosquitto()
    server = mosquitto_server(tmp_path, extra_conf=shipped_mosquitto_conf(), persist=True)
    yield server
    server.terminate()
