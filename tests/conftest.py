"""Shared fixtures: real Redis/Valkey and MQTT broker processes on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
    workdir = tmp_path_factory.mktemp("broker")
    if mosquitto_binary() is not None:
        server = mosquitto_server(workdir)
    elif IN_CI:
        pytest.fail(f"CI must run against Mosquitto: {MOSQUITTO_HOWTO}")
    else:
        server = amqtt_server(workdir)
    yield server
    server.terminate()


@pytest.fixture
def mqtt_url(broker_proc: ServerProcess) -> str:
    """The session broker's URL."""
    return f"mqtt://127.0.0.1:{broker_proc.port}"


@pytest.fixture
def fresh_mqtt_url(tmp_path: Path) -> Iterator[str]:
    """A broker of this test's own, with no retained messages or sessions from others."""
    if mosquitto_binary() is not None:
        server = mosquitto_server(tmp_path, extra_conf=shipped_mosquitto_conf())
    elif IN_CI:
        pytest.fail(f"CI must run against Mosquitto: {MOSQUITTO_HOWTO}")
    else:
        server = amqtt_server(tmp_path)
    yield f"mqtt://127.0.0.1:{server.port}"
    server.terminate()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[ServerProcess]:
    """A private Mosquitto with the shipped config, which this test may kill and restart."""
    require_mosquitto()
    server = mosquitto_server(tmp_path, extra_conf=shipped_mosquitto_conf(), persist=True)
    yield server
    server.terminate()
