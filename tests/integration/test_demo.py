"""`patrolwatch demo` as a person runs it: a subprocess, its printed output, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import free_port, port_open, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class Demo:
    """A running `python -m patrolwatch demo`, its output collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "patrolwatch", "demo", *args], cwd=ROOT,
            env={**base, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))

    def printed(self, pattern: str) -> re.Match[str] | None:
        return next((m for line in list(self.out) if (m := re.search(pattern, line))), None)

    def pids(self) -> set[int]:
        return {int(p) for line in self.out for p in re.findall(r"\bpid (\d+)", line)}

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else already listens on (as 8050 might be)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def healthz(url: str) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"{url}healthz", timeout=2) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:  # 503 degraded is an answer too
        return dict(json.loads(exc.read()))


def test_the_demo_runs_everything_and_ctrl_c_stops_it_all(taken_port: int) -> None:
    mqtt_port_busy = port_open(1883)
    with socket.socket() as metrics_taken:  # the worker's metrics port is busy too
        metrics_taken.bind(("127.0.0.1", 0))
        metrics_taken.listen()
        busy = int(metrics_taken.getsockname()[1])
        demo = Demo("--units", "20", "--port", str(taken_port),
                    env={"PATROL_METRICS_PORT": str(busy)})
        try:
            run_and_stop(demo, taken_port, mqtt_port_busy, busy)
        finally:
            demo.kill()


def run_and_stop(demo: Demo, taken_port: int, mqtt_port_busy: bool, metrics_busy: int) -> None:
    """Check what the demo prints and runs, then stop it with Ctrl-C."""
    try:
        ready = wait_until(lambda: demo.printed(r"ready: open (http://127\.0\.0\.1:(\d+)/)")
                           or demo.proc.poll() is not None, 90, interval=0.2, what="ready")
        assert isinstance(ready, re.Match), "\n".join(demo.out + demo.err)
        url, port = ready.group(1), int(ready.group(2))
        assert port != taken_port
        assert demo.printed(rf"port {taken_port} is taken by something else: the dashboard "
                            rf"uses {port}")
        assert demo.printed(r"embedded MQTT broker \(amqtt\) is for trying PatrolWatch")
        broker = demo.printed(r"started MQTT broker .* mqtt://127\.0\.0\.1:(\d+)")
        assert broker
        if mqtt_port_busy:  # something else holds 1883 here: the demo must move and say so
            assert broker.group(1) != "1883"
            assert demo.printed(rf"port 1883 is taken by something else: the MQTT broker uses "
                                rf"{broker.group(1)}")
        assert demo.printed(r"broker listens on 127\.0\.0\.1:\d+ only, in clear")
        for role in ("viewer", "supervisor", "admin", "crew"):
            assert demo.printed(rf"{role}\s+user \S+\s+password \S+")
        assert demo.printed(r"crew\s+user \S+\s+password \S+\s+\(unit CW-401: its crew page")
        # Every port it picked is said, the worker's metrics included.
        moved = demo.printed(rf"port {metrics_busy} is taken by something else: the worker's "
                             r"metrics use (\d+)")
        assert moved, "\n".join(demo.out)
        assert demo.printed(rf"worker metrics\s+http://127\.0\.0\.1:{moved.group(1)}/metrics")
        wait_until(lambda: port_open(int(moved.group(1))), 30, what="the worker's metrics port")
        assert demo.printed(rf"dashboard\s+{re.escape(url)}")
        assert demo.printed(r"MQTT broker\s+mqtt://") and demo.printed(r"Redis\s+redis://")
        assert healthz(url)["redis"] is True
        # The fleet's messages flow through the broker and the worker into Redis.
        # History first: 20 units x 3 h at 90 s is 2,400 positions with past times.
        wait_until(lambda: demo.proc.poll() is not None
                   or int(healthz(url)["accepted_total"]) > 2000, 90, interval=0.5,  # type: ignore[call-overload]
                   what="the fleet's history accepted")
        assert demo.printed(r"simulator\s+pid \d+\s+20 simulated units, the last 3 h")
        assert demo.proc.poll() is None, "\n".join(demo.out + demo.err)
        pids = demo.pids()
        names = {m.group(1) for line in demo.out if (m := re.match(r"  (\w+)\s+pid", line))}
        assert names == {"valkey", "amqtt", "ingest", "dashboard", "simulator"}
        assert len(pids) == 5 and not any(gone(p) for p in pids)
        workdir = demo.printed(r"logs in (\S+) ")
        assert workdir and Path(workdir.group(1)).is_dir()

        demo.proc.send_signal(signal.SIGINT)
        assert demo.finish() == 0, "\n".join(demo.err)
        assert all(gone(p) for p in pids), [p for p in pids if not gone(p)]
        assert not Path(workdir.group(1)).exists()
        assert demo.out[-1] == "stopped"
    finally:
        demo.kill()


def test_a_child_that_dies_is_named_and_everything_stops(
        redis_url: str, mqtt_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "hotspots.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                   '"geometry": {"type": "Point", "coordinates": [-0.1, 51.5]}, '
                   '"properties": {"id": "no-radius", "name": "x", "category": "other", '
                   '"priority": 1}}]}')
    demo = Demo("--units", "5", "--port", str(free_port()),
                env={"PATROL_REDIS_URL": redis_url, "PATROL_MQTT_URL": mqtt_url,
                     "PATROL_HOTSPOTS": str(bad)})
    try:
        code = demo.finish(90)
        assert code == 1
        assert demo.printed(rf"using your Redis at {re.escape(redis_url)}")
        assert demo.printed(rf"using your MQTT broker at {re.escape(mqtt_url)}")
        assert not demo.printed("started Valkey") and not demo.printed("started MQTT broker")
        died = next((line for line in demo.err if "exited unexpectedly with code" in line), "")
        assert re.search(r"(ingest|simulator|dashboard) \(pid \d+\) exited unexpectedly "
                         r"with code [1-9]", died), "\n".join(demo.err)
        assert any("no-radius" in line for line in demo.err)  # the end of the child's log
        assert all(gone(p) for p in demo.pids())
    finally:
        demo.kill()


def test_the_demo_needs_its_configuration(tmp_path: Path) -> None:
    demo = Demo("--units", "5", env={"PATROL_HOTSPOTS": str(tmp_path / "missing.geojson")})
    try:
        assert demo.finish() == 1
        message = "\n".join(demo.err)
        assert "missing.geojson not found" in message and "PATROL_HOTSPOTS" in message
        assert not demo.pids()
    finally:
        demo.kill()
