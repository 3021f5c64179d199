"""`patrolwatch ingest` as a real child process, with its settings in its environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from patrolwatch.mqtt import MqttClient
from patrolwatch.store import Store
from tests.conftest import mqtt_broker
from tests.services import ServerProcess, wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class IngestProcess:
    """The ingest worker (and, unless told otherwise, the coverage evaluator) in a process."""

    mqtt_url: str
    redis_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    evaluator: bool = True
    client_id: str = "test-ingest-process"
    verbose: bool = False
    probe_url: str | None = None  # where wait_storing publishes from (default: mqtt_url)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process; its stdout and stderr go to ``log_path``."""
        no_users = self.log_path.parent / "no-users.yaml"
        env = {**os.environ, "PATROL_MQTT_URL": self.mqtt_url,
               "PATROL_REDIS_URL": self.redis_url,
               "PATROL_HOTSPOTS": str(ROOT / "config/hotspots.geojson"),
               "PATROL_UNITS": str(ROOT / "config/units.yaml"),
               "PATROL_USERS": str(no_users), "PATROL_METRICS_PORT": "0", **self.env}
        argv = [sys.executable, "-m", "patrolwatch", *(["-v"] if self.verbose else []),
                "ingest", "--client-id", self.client_id]
        if not self.evaluator:
            argv.append("--no-evaluator")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=ROOT)

    def stop(self) -> None:
        """SIGTERM and wait: the process stops cleanly on it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    @property
    def alive(self) -> bool:
        """Tell whether the process is running."""
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """Return everything the process has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_storing(self, store: Store, timeout: float = 30) -> None:
        """Publish probe positions until one is stored: the worker is connected and subscribed."""
        probe = f"PROBE{time.time_ns() % 10**9}"
        client = MqttClient(self.probe_url or self.mqtt_url, f"probe-{probe}")
        assert client.start(wait_s=10), "probe publisher could not connect"
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                assert self.alive, self.log()[-3000:]
                client.publish(f"patrol/{probe}/position",
                               json.dumps({"ts": time.time() - 1, "lat": 51.5, "lon": -0.1}))
                try:
                    wait_until(lambda: store.last_seen(probe) is not None, 1, what="probe")
                    return
                except TimeoutError:
                    continue
        finally:
            client.stop()
        raise TimeoutError(f"ingest never stored a probe: {self.log()[-3000:]}")


def broker_server(workdir: Path) -> ServerProcess:
    """Start Mosquitto, or amqtt where it is missing (never under CI=true)."""
    return mqtt_broker(workdir)
