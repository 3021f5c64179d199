"""The worker's /metrics on the real `patrolwatch ingest` process: loopback only, or a token."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import free_port, port_open, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-the-test-0123456789"


def lan_address() -> str | None:
    """Return this machine's non-loopback address, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing route
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@contextlib.contextmanager
def worker(tmp_path: Path, mqtt_url: str, redis_url: str, **env: str) -> Iterator[int]:
    """Run `patrolwatch ingest` with its /metrics on a free port; yield the port."""
    port = free_port()
    environ = {**os.environ, "PATROL_MQTT_URL": mqtt_url, "PATROL_REDIS_URL": redis_url,
               "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson"),
               "PATROL_UNITS": str(ROOT / "config/units.yaml"),
               "PATROL_USERS": str(tmp_path / "no-users.yaml"),
               "PATROL_METRICS_PORT": str(port)}
    environ.pop("PATROL_METRICS_TOKEN", None)  # only the test's own
    environ.update(env)
    log = tmp_path / f"ingest-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "patrolwatch", "ingest", "--no-evaluator"],
                                env=environ, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, 30,
                   what="the worker's /metrics to listen")
        assert proc.poll() is None, log.read_text()
        yield port
    finally:
        proc.terminate()
        proc.wait(15)


def get(url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_without_a_token_the_metrics_listen_on_this_machine_only(
        tmp_path: Path, mqtt_url: str, redis_url: str) -> None:
    lan = lan_address()
    with worker(tmp_path, mqtt_url, redis_url) as port:
        status, body, _ = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and b"patrolwatch_ingest_messages" in body  # positive control
        if lan is None:
            pytest.skip("no non-loopback address to try from")
        assert not port_open(port, lan), f"/metrics answers on {lan} without a token"


def test_with_a_token_every_request_must_carry_it(
        tmp_path: Path, mqtt_url: str, redis_url: str) -> None:
    with worker(tmp_path, mqtt_url, redis_url, PATROL_METRICS_TOKEN=TOKEN) as port:
        hosts = ["127.0.0.1", *([lan] if (lan := lan_address()) else [])]
        for host in hosts:  # every interface now, so every one checks the token
            url = f"http://{host}:{port}/metrics"
            status, body, headers = get(url)
            assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer")
            assert b"patrolwatch_ingest" not in body
            assert get(url, TOKEN[:-1])[0] == 401
            assert get(url, TOKEN + "x")[0] == 401
            assert get(url.replace("/metrics", "/"), "wrong")[0] == 401
            status, body, _ = get(url, TOKEN)
            assert status == 200 and b"patrolwatch_ingest_messages" in body
        status, body, _ = get(f"http://127.0.0.1:{port}/metrics", TOKEN)
        refused = f"patrolwatch_ingest_metrics_refused_total {4.0 * len(hosts)}"
        assert refused.encode() in body  # counted, not logged per request


def test_an_open_bind_address_without_a_token_is_refused_at_start(
        tmp_path: Path, mqtt_url: str, redis_url: str) -> None:
    env = {**os.environ, "PATROL_MQTT_URL": mqtt_url, "PATROL_REDIS_URL": redis_url,
           "PATROL_METRICS_HOST": "0.0.0.0"}
    env.pop("PATROL_METRICS_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "patrolwatch", "ingest"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "PATROL_METRICS_HOST=0.0.0.0" in done.stderr and "PATROL_METRICS_TOKEN" in done.stderr
