"""The deployment files agree with the code and with each other (no Docker needed).

The one test that starts a process runs the real Mosquitto on the production config.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from patrolwatch.cli import build_parser
from patrolwatch.mqtt import MqttClient
from tests.services import ServerProcess, free_port, mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
MOSQUITTO_CONF = ROOT / "config" / "mosquitto" / "mosquitto.conf"
# Generated on the operator's machine, never committed; docs/deployment.md says how.
GENERATED = {"config/users.yaml", "config/mosquitto/passwd", "config/mosquitto/acl"}


def command(service: str) -> list[str]:
    cmd = SERVICES[service].get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_the_expected_services_exist() -> None:
    assert set(SERVICES) == {"mosquitto", "redis", "ingest", "dashboard", "simulator"}
    assert SERVICES["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert SERVICES["redis"]["image"] == "redis:7"
    assert command("redis") == ["redis-server", "--appendonly", "yes"]
    assert SERVICES["simulator"]["profiles"] == ["demo"]  # production never runs it
    for name in ("mosquitto", "redis", "ingest", "dashboard"):
        assert "profiles" not in SERVICES[name]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_an_image_or_a_build_that_exists(name: str) -> None:
    service = SERVICES[name]
    assert "image" in service or "build" in service
    if "build" in service:
        context = service["build"] if isinstance(service["build"], str) else (
            service["build"].get("context", "."))
        dockerfile = "Dockerfile" if isinstance(service["build"], str) else (
            service["build"].get("dockerfile", "Dockerfile"))
        assert (ROOT / context / dockerfile).is_file()


def host_mounts() -> list[tuple[str, str]]:
    found = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                found.append((name, source))
    return found


def test_every_mounted_host_path_is_in_the_repository() -> None:
    mounts = host_mounts()
    assert ("mosquitto", "./config/mosquitto") in mounts
    for _, source in mounts:
        relative = os.path.normpath(source)
        assert (ROOT / relative).exists() or relative in GENERATED, source


def test_generated_files_are_documented_and_ignored() -> None:
    docs = (ROOT / "docs" / "deployment.md").read_text()
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    for path in GENERATED:
        assert Path(path).name in docs
        assert path in ignored
    dockerignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert set(dockerignore) >= GENERATED  # no secrets baked into the image


def test_named_volumes_are_declared() -> None:
    named = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", [])
             if not v.startswith((".", "/"))}
    assert named == set(COMPOSE["volumes"]) == {"mosquitto-data", "redis-data"}


@pytest.mark.parametrize("name", ["ingest", "simulator"])
def test_patrolwatch_commands_are_real_subcommands(name: str) -> None:
    argv = command(name)
    assert argv[0] == "patrolwatch"
    assert argv[1] in subcommands()
    build_parser().parse_args(argv[1:])  # the options parse too


def test_docs_name_only_real_subcommands() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    used = set(re.findall(r"\bpatrolwatch ([a-z][a-z-]+)", text))
    assert used and used <= subcommands(), used - subcommands()


def test_the_dashboard_runs_the_wsgi_server_under_gunicorn() -> None:
    argv = command("dashboard")
    assert argv[0] == "gunicorn"
    module, _, attribute = argv[-1].partition(":")
    assert (module, attribute) == ("dashboard.wsgi", "server")
    assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file()
    assert argv[argv.index("-b") + 1] == "0.0.0.0:8050"
    assert SERVICES["dashboard"]["ports"] == ["8050:8050"]
    assert "/healthz" in " ".join(SERVICES["dashboard"]["healthcheck"]["test"])


def test_services_reach_each_other_by_service_name() -> None:
    for name in ("ingest", "dashboard", "simulator"):
        env = SERVICES[name]["environment"]
        assert env["PATROL_REDIS_URL"] == "redis://redis:6379/0"
        assert env["PATROL_MQTT_URL"].endswith("mqtt://mosquitto:1883}")
        assert "./config:/app/config:ro" in SERVICES[name]["volumes"]
    assert SERVICES["mosquitto"]["ports"] == ["1883:1883"]


def test_the_dockerfile_copies_what_exists_and_drops_root() -> None:
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == ["FROM", "python:3.11-slim"]
    for words in (w for w in lines if w[0] == "COPY"):
        for source in words[1:-1]:
            assert (ROOT / source).exists(), source
    assert any(w[:2] == ["RUN", "pip"] and "." in w for w in lines)
    user = [w for w in lines if w[0] == "USER"]
    assert user and user[-1][1] not in ("root", "0")
    assert any(w[:2] == ["WORKDIR", "/app"] for w in lines)  # config/ paths resolve in /app


def compose_ports() -> set[str]:
    return {p.split(":")[0] for s in SERVICES.values() for p in s.get("ports", [])}


def test_the_deployment_doc_agrees_with_the_compose_file() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text()
    for name in SERVICES:
        assert f"`{name}`" in text, name
    for port in compose_ports():
        assert f"`{port}`" in text, port
    for name in ("ingest", "dashboard", "simulator"):
        assert " ".join(command(name)) in text
    assert "--profile demo" in text


def test_the_readme_docker_section_agrees_with_the_compose_file() -> None:
    readme = (ROOT / "README.md").read_text()
    if "docker compose" not in readme:
        pytest.skip("README does not mention docker compose")
    section = readme[readme.index("docker compose"):][:1500]
    for port in re.findall(r"\b(\d{4})\b", section):
        assert port in compose_ports(), port
    for profile in re.findall(r"--profile (\w+)", section):
        assert any(profile in s.get("profiles", []) for s in SERVICES.values())
    assert "gunicorn" not in section or "dashboard.wsgi" in " ".join(command("dashboard"))


# -- the Mosquitto config ------------------------------------------------------------------------
def conf_options() -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in MOSQUITTO_CONF.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            options.setdefault(key, []).append(value)
    return options


def test_the_broker_is_sized_for_a_fleet() -> None:
    options = conf_options()
    # 10,000 units x one message per 5 s x 60 s of worker downtime must fit in the queue.
    assert int(options["max_queued_messages"][0]) >= 10_000 * 60 // 5
    assert options["max_queued_bytes"] == ["0"]
    assert options["max_inflight_messages"] == ["1000"]
    assert options["persistence"] == ["true"]
    assert options["persistence_location"][0].startswith("/mosquitto/data/")
    assert "persistent_client_expiration" in options
    assert int(options["max_packet_size"][0]) > 8192  # the worker counts oversized payloads
    assert options["listener"] == ["1883"]
    assert "stdout" in options["log_dest"]


def test_authentication_lines_are_ready_to_enable() -> None:
    text = MOSQUITTO_CONF.read_text()
    assert "#password_file /mosquitto/config/passwd" in text
    assert "#acl_file /mosquitto/config/acl" in text


def runnable_copy(tmp_path: Path, port: int, enable_auth: bool = False) -> Path:
    """Return the production config with its port and paths moved into a temp folder."""
    text = MOSQUITTO_CONF.read_text()
    text = text.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
    text = text.replace("/mosquitto/data/", f"{tmp_path}/")
    if enable_auth:
        text = text.replace("#password_file /mosquitto/config/passwd",
                            f"password_file {tmp_path}/passwd")
        text = text.replace("#acl_file /mosquitto/config/acl", f"acl_file {tmp_path}/acl")
        text = text.replace("allow_anonymous true", "allow_anonymous false")
    if os.geteuid() == 0:  # as root Mosquitto would switch to a user that cannot read tmp_path
        text += "user root\n"
    path = tmp_path / "mosquitto.conf"
    path.write_text(text)
    return path


def connects(url: str, wait_s: float) -> bool:
    client = MqttClient(url, f"conf-test-{free_port()}")
    try:
        return client.start(wait_s=wait_s)
    finally:
        client.stop()


@pytest.mark.integration
@pytest.mark.mosquitto
@pytest.mark.parametrize("enable_auth", [False, True])
def test_mosquitto_starts_on_the_production_config(tmp_path: Path, enable_auth: bool) -> None:
    from tests.conftest import require_mosquitto

    require_mosquitto()
    if enable_auth:
        from patrolwatch.mqtt_credentials import write_credentials
        from patrolwatch.settings import Settings

        write_credentials(Settings(units=ROOT / "config" / "units.yaml"), tmp_path)
    port = free_port()
    conf = runnable_copy(tmp_path, port, enable_auth)
    server = ServerProcess([str(mosquitto_binary()), "-c", str(conf)], port, tmp_path)
    try:
        server.start()  # raises with the broker's own complaint if a line is wrong
        anonymous = f"mqtt://127.0.0.1:{port}"
        if enable_auth:
            lines = (tmp_path / "credentials.txt").read_text().splitlines()
            password = next(line.split(" ", 1)[1] for line in lines
                            if line.startswith("CW-402 "))
            assert connects(f"mqtt://CW-402:{password}@127.0.0.1:{port}", 10)
            assert not connects(anonymous, 2)
        else:
            assert connects(anonymous, 10)
    finally:
        server.terminate()
    log = server.log_path.read_text()
    assert "mosquitto version" in log and "running" in log, log
    assert "Error" not in log, log
