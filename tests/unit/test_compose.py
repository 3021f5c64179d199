"""The deployment files agree with the code and with each other (no Docker needed).

The tests that start a process run the real Mosquitto on the production config.
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
from patrolwatch.core import topics
from patrolwatch.mqtt import BrokerAddress, MqttClient
from patrolwatch.mqtt_credentials import Account, service_accounts
from patrolwatch.settings import Settings
from patrolwatch.sim.publisher import TASKING_FILTER
from patrolwatch.tls_certs import write_certs
from tests.services import ServerProcess, free_port, mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
MOSQUITTO_CONF = ROOT / "config" / "mosquitto" / "mosquitto.conf"
# Generated on the operator's machine, never committed; docs/deployment.md says how.
GENERATED = {"config/users.yaml", "config/mosquitto/passwd", "config/mosquitto/acl",
             "config/mosquitto/credentials.txt", "config/tls"}  # tls: tls-certs or the force
BROKER_UID = 1883  # the mosquitto user of the eclipse-mosquitto image


def command(service: str) -> list[str]:
    cmd = SERVICES[service].get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_the_expected_services_exist() -> None:
    assert set(SERVICES) == {"mqtt-credentials", "tls-certs", "mosquitto", "redis", "ingest",
                             "dashboard", "simulator", "minio"}
    assert SERVICES["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert SERVICES["redis"]["image"] == "redis:7"
    assert command("redis") == ["redis-server", "--appendonly", "yes"]
    assert SERVICES["simulator"]["profiles"] == ["demo"]  # production never runs it
    for name in ("mqtt-credentials", "tls-certs", "mosquitto", "redis", "ingest", "dashboard",
                 "minio"):
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
    assert named == set(COMPOSE["volumes"]) == {"mosquitto-data", "redis-data", "minio-data"}


@pytest.mark.parametrize("name", ["mqtt-credentials", "ingest", "simulator"])
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
        address = BrokerAddress.from_url(env["PATROL_MQTT_URL"])
        assert (address.host, address.port, address.tls) == ("mosquitto", 8883, True)
        assert address.ca_file == "/app/config/tls/ca.crt"
        assert "./config:/app/config:ro" in SERVICES[name]["volumes"]
    # Nothing in clear on the network: MQTT over TLS is the only broker port published.
    assert SERVICES["mosquitto"]["ports"] == ["8883:8883"]


def test_the_stack_is_encrypted_in_transit_out_of_the_box() -> None:
    """MQTT over TLS and HTTPS with Secure cookies, from certificates tls-certs provides."""
    assert command("tls-certs")[:2] == ["patrolwatch", "tls-certs"]
    assert "tls-certs" in subcommands()
    certs = command("tls-certs")[2]
    assert container_to_host(certs, "tls-certs") == Path("config/tls")
    for name in ("mosquitto", "ingest", "dashboard"):
        needs = SERVICES[name]["depends_on"]["tls-certs"]
        assert needs["condition"] == "service_completed_successfully", name
    # The broker's TLS files are where its config reads them.
    options = conf_options()
    for key, stem in (("cafile", "ca.crt"), ("certfile", "broker.crt"), ("keyfile", "broker.key")):
        [inside] = options[key]
        assert container_to_host(inside, "mosquitto") == Path("config/tls") / stem, key
    argv = command("dashboard")
    for flag, stem in (("--certfile", "dashboard.crt"), ("--keyfile", "dashboard.key")):
        assert container_to_host(argv[argv.index(flag) + 1], "dashboard") == (
            Path("config/tls") / stem)
    assert SERVICES["dashboard"]["environment"]["PATROL_SECURE_COOKIES"] == "true"
    assert "https://" in " ".join(SERVICES["dashboard"]["healthcheck"]["test"])
    assert "config/tls" in (ROOT / ".gitignore").read_text().splitlines()  # keys stay home


# -- broker credentials --------------------------------------------------------------------------
def credentials_args() -> argparse.Namespace:
    return build_parser().parse_args(command("mqtt-credentials")[1:])


def container_to_host(path: str, service: str) -> Path | None:
    """Return the repository path a container path of ``service`` is mounted from."""
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith(".") and (path == target or path.startswith(target + "/")):
            return Path(os.path.normpath(source + path[len(target):]))
    return None


def test_credentials_are_written_before_the_broker_starts() -> None:
    assert SERVICES["mosquitto"]["depends_on"] == {
        "mqtt-credentials": {"condition": "service_completed_successfully"},
        "tls-certs": {"condition": "service_completed_successfully"}}
    service = SERVICES["mqtt-credentials"]
    assert service["restart"] == "no"  # a one-shot: "unless-stopped" would loop it
    assert "depends_on" not in service and "ports" not in service
    assert service["image"] == SERVICES["ingest"]["image"]  # PatrolWatch's own image
    # Root, only to give the files to the users that read them.
    assert service["user"] == "0"
    args = credentials_args()
    assert args.broker_uid == BROKER_UID
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"--uid {args.secrets_uid} " in dockerfile  # the services' user reads the secrets
    assert not args.password_stdin  # nobody types into a compose service


def test_credentials_land_where_the_broker_and_the_services_read_them() -> None:
    out = credentials_args().out
    folder = container_to_host(out, "mqtt-credentials")
    assert folder == container_to_host("/mosquitto/config", "mosquitto") == Path(
        "config/mosquitto")
    conf = conf_options()
    for option, name in (("password_file", "passwd"), ("acl_file", "acl")):
        assert conf[option] == [f"/mosquitto/config/{name}"]
        assert container_to_host(conf[option][0], "mosquitto") == folder / name
    for name in ("ingest", "dashboard", "simulator"):
        secrets = SERVICES[name]["environment"]["PATROL_MQTT_PASSWORD_FILE"]
        assert secrets == f"{out}/credentials.txt"
        assert container_to_host(secrets, name) == folder / "credentials.txt"


def test_only_the_credentials_service_may_write_the_configuration() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            if volume.startswith("."):
                read_only = volume.endswith(":ro")
                assert read_only == (name not in ("mqtt-credentials", "tls-certs")), volume
    assert SERVICES["tls-certs"]["volumes"] == ["./config/tls:/app/config/tls"]


def account(name: str) -> Account:
    user = BrokerAddress.from_url(SERVICES[name]["environment"]["PATROL_MQTT_URL"]).username
    found = [a for a in service_accounts(Settings()) if a.name == user]
    assert found, f"{name} signs in as {user!r}, which mqtt-credentials does not create"
    return found[0]


def covers(pattern: str, wanted: str) -> bool:
    """Tell whether an ACL pattern grants a topic or a whole subscription filter."""
    theirs, ours = pattern.split("/"), wanted.split("/")
    for index, level in enumerate(theirs):
        if level == "#":
            return True
        if index >= len(ours) or level not in ("+", ours[index]):
            return False
    return len(ours) == len(theirs)


def unshared(subscription: str) -> str:
    return subscription.split("/", 2)[2] if subscription.startswith("$share/") else subscription


UNIT, OWNTRACKS = "CW-402", ("cw402", "phone")
# What each service does on the broker, taken from the code that does it.
DOES: dict[str, dict[str, list[str]]] = {
    "ingest": {
        "read": [unshared(t) for share in (None, "ingest")
                 for t, _ in topics.subscriptions(share)],
        "write": [topics.COVERAGE_EVENTS_TOPIC],
    },
    "dashboard": {  # taskings; the crew page reports as its signed-in unit
        "read": [],
        "write": [topics.tasking_topic(UNIT), topics.position_topic(UNIT),
                  topics.status_topic(UNIT), topics.ack_topic(UNIT)],
    },
    "simulator": {  # its OwnTracks phones sign in as their own users
        "read": [TASKING_FILTER],
        "write": [topics.position_topic(UNIT), topics.status_topic(UNIT),
                  topics.ack_topic(UNIT)],
    },
}
# What each service must not do: a leaked service password is not a licence for everything.
MUST_NOT: dict[str, dict[str, list[str]]] = {
    "ingest": {"write": [topics.position_topic(UNIT), topics.tasking_topic(UNIT)],
               "read": [topics.tasking_topic(UNIT), "#"]},
    "dashboard": {"write": [topics.owntracks_topic(*OWNTRACKS), "$SYS/x"],
                  "read": [topics.position_topic(UNIT), "#"]},
    "simulator": {"write": [topics.COVERAGE_EVENTS_TOPIC, topics.tasking_topic(UNIT),
                            topics.owntracks_topic(*OWNTRACKS)],
                  "read": [topics.position_topic(UNIT), "#"]},
}


@pytest.mark.parametrize("name", sorted(DOES))
def test_each_service_signs_in_as_its_own_user_with_the_rights_it_needs(name: str) -> None:
    acc = account(name)
    url = SERVICES[name]["environment"]["PATROL_MQTT_URL"]
    assert BrokerAddress.from_url(url).password is None  # it comes from credentials.txt
    for way in ("read", "write"):
        granted = acc.read if way == "read" else acc.write
        for topic in DOES[name][way]:
            assert any(covers(p, topic) for p in granted), f"{acc.name} cannot {way} {topic}"
        for topic in MUST_NOT[name][way]:
            assert not any(covers(p, topic) for p in granted), f"{acc.name} may {way} {topic}"


def test_every_service_has_a_user_of_its_own() -> None:
    users = [account(name).name for name in DOES]
    assert len(set(users)) == len(users)


@pytest.mark.parametrize(("pattern", "wanted", "expected"), [
    ("patrol/+/position", "patrol/CW-402/position", True),
    ("patrol/+/position", "patrol/+/position", True),
    ("patrol/CW-402/position", "patrol/+/position", False),  # one unit is not all of them
    ("patrol/#", "patrol/a/b/c", True),
    ("patrol/#", "owntracks/a/b", False),
    ("owntracks/+/+", "owntracks/a/b/event", False),
    ("patrol/+/tasking", "patrol/#", False),
])
def test_acl_coverage_table(pattern: str, wanted: str, expected: bool) -> None:
    assert covers(pattern, wanted) is expected


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
    assert "docker compose up" in readme, "README must say how to run it with docker compose"
    start = readme.index("docker compose up")  # the deployment section, not the doc index
    section = readme[start:readme.find("\n## ", start)]
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
    assert options["listener"] == ["8883", "1883 127.0.0.1"]  # TLS; clear on loopback only
    assert "stdout" in options["log_dest"]


def test_the_broker_refuses_anonymous_clients_and_applies_the_acl() -> None:
    options = conf_options()
    assert options["allow_anonymous"] == ["false"]
    # A login holds its own client id only (tests/integration/test_broker_identity.py).
    assert options["use_username_as_clientid"] == ["true"]
    assert options["password_file"] == ["/mosquitto/config/passwd"]
    assert options["acl_file"] == ["/mosquitto/config/acl"]


AUTH_LINES = ("password_file /mosquitto/config/passwd\n", "acl_file /mosquitto/config/acl\n")


def runnable_copy(tmp_path: Path, port: int, enable_auth: bool) -> Path:
    """Return the production config with its port and paths moved into a temp folder."""
    text = MOSQUITTO_CONF.read_text()
    text = text.replace("listener 1883 127.0.0.1\n", f"listener {port} 127.0.0.1\n")
    text = text.replace("listener 8883\n", f"listener {free_port()} 127.0.0.1\n")
    text = text.replace("/mosquitto/tls/", f"{tmp_path}/tls/")
    if not (tmp_path / "tls" / "broker.key").exists():
        write_certs(tmp_path / "tls")
    text = text.replace("/mosquitto/data/", f"{tmp_path}/")
    for line in AUTH_LINES:
        assert line in text
        text = text.replace(line, line.replace("/mosquitto/config/", f"{tmp_path}/")
                            if enable_auth else "")
    if not enable_auth:
        text = text.replace("allow_anonymous false", "allow_anonymous true")
        # Client ids from logins need logins: the broker turns away clients without one.
        text = text.replace("use_username_as_clientid true", "")
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
@pytest.mark.parametrize("enable_auth", [True, False])
def test_mosquitto_starts_on_the_production_config(tmp_path: Path, enable_auth: bool) -> None:
    """As shipped (with the files mqtt-credentials writes), and anonymous as tests run it."""
    from tests.conftest import require_mosquitto

    require_mosquitto()
    port = free_port()
    if enable_auth:
        from patrolwatch.mqtt_credentials import write_credentials
        from patrolwatch.settings import Settings

        me = os.geteuid()
        write_credentials(Settings(units=ROOT / "config" / "units.yaml"), tmp_path,
                          broker_uid=me, secrets_uid=me)
    conf = runnable_copy(tmp_path, port, enable_auth)
    server = ServerProcess([str(mosquitto_binary()), "-c", str(conf)], port, tmp_path)
    try:
        server.start()  # raises with the broker's own complaint if a line is wrong
        anonymous = f"mqtt://127.0.0.1:{port}"
        if enable_auth:
            from patrolwatch.settings import Settings

            # A service as compose configures it: user in the URL, password from the file.
            ingest = Settings(mqtt_url=f"mqtt://patrolwatch-ingest-1@127.0.0.1:{port}",
                              mqtt_password_file=tmp_path / "credentials.txt")
            assert connects(ingest.mqtt_url, 10)
            unit = Settings(mqtt_url=f"mqtt://CW-402@127.0.0.1:{port}",
                            mqtt_password_file=tmp_path / "credentials.txt")
            assert connects(unit.mqtt_url, 10)
            assert not connects(anonymous, 2)
        else:
            assert connects(anonymous, 10)
    finally:
        server.terminate()
    log = server.log_path.read_text()
    assert "mosquitto version" in log and "running" in log, log
    # Mosquitto warns about file permissions and owners; only our test's "user root" may warn.
    trouble = [line for line in log.splitlines() if ("Error" in line or "Warning" in line)
               and "should not be run as root" not in line]
    assert not trouble, log
