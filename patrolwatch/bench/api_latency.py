"""Publish-to-API latency: a position sent with ``mosquitto_pub`` until ``/api/units`` shows it.

Real processes end to end: Mosquitto (shipped config) and Redis on free ports,
``patrolwatch ingest`` and ``patrolwatch dashboard`` as children. Run it with
``python -m patrolwatch.bench.api_latency`` (needs the mosquitto_pub client).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from patrolwatch.servers import (
    free_port,
    mosquitto_server,
    redis_server,
    shipped_mosquitto_conf,
    tempdir,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 30


def _units(port: int) -> dict[str, dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/units", timeout=2) as resp:
        return {u["id"]: u for u in json.load(resp)["units"]}


def _pub(port: int, unit: str, lat: float) -> float:
    sent = time.time()
    body = json.dumps({"ts": sent, "lat": lat, "lon": -0.12, "acc": 5})
    subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t",
                    f"patrol/{unit}/position", "-m", body], check=True)
    return sent


def run() -> dict[str, float]:
    """Return p50/max/min milliseconds from mosquitto_pub starting to /api/units showing it."""
    if shutil.which("mosquitto_pub") is None:
        raise SystemExit("mosquitto_pub is not installed (apt-get install mosquitto-clients)")
    with tempdir("pw-bench-api-") as work:
        redis_proc = redis_server(work)
        broker = mosquitto_server(work, extra_conf=shipped_mosquitto_conf())
        port = free_port()
        env = dict(os.environ, PATROL_REDIS_URL=redis_proc.url,
                   PATROL_MQTT_URL=f"mqtt://127.0.0.1:{broker.port}",
                   PATROL_USERS=str(work / "no-users.yaml"), PATROL_OPEN_ACCESS="true",
                   PATROL_METRICS_PORT="0")
        children = [subprocess.Popen([sys.executable, "-m", "patrolwatch", *args], env=env,
                                     cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                    for args in (["ingest"], ["dashboard", "--port", str(port)])]
        try:
            wait_until(lambda: _units(port) is not None, 60, what="dashboard answering")
            wait_until(lambda: _pub(broker.port, "WARM", 51.5) and "WARM" in _units(port), 60,
                       interval=0.3, what="worker subscribed")
            samples = []
            for i in range(SAMPLES):
                lat = 51.5 + i * 1e-4
                sent = _pub(broker.port, "LAT-1", lat)

                def shown(expected: float = lat) -> bool:
                    return bool(_units(port).get("LAT-1", {}).get("lat") == expected)

                wait_until(shown, 5, interval=0.005, what="position shown by /api/units")
                samples.append((time.time() - sent) * 1000.0)
        finally:
            for child in children:
                child.terminate()
                child.wait(15)
            broker.terminate()
            redis_proc.terminate()
    return {"samples": float(len(samples)), "p50_ms": round(statistics.median(samples), 1),
            "max_ms": round(max(samples), 1), "min_ms": round(min(samples), 1)}


if __name__ == "__main__":
    print(json.dumps(run()))
