"""The live screens while history runs: the real dashboard under gunicorn (2 workers, the
gthread workers of ``dashboard.gunicorn_conf``), four history requests at once, and
``/api/units`` and ``/healthz`` asked every 50 ms from another thread meanwhile.

Every unit gets a latest position first (one batch through ``Store.write_batch``, the
worker's own path), so ``/api/units`` answers for the whole fleet.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from patrolwatch.core.model import Position
from patrolwatch.servers import free_port
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store
from patrolwatch.users import User, hash_password, save_users

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench history password"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _get(url: str, auth: str, timeout: float = 120.0) -> tuple[int, float, int]:
    """Return (status, seconds, bytes) of one GET."""
    req = urllib.request.Request(url, headers={"Authorization": auth})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            return r.status, time.perf_counter() - t0, len(body)
    except urllib.error.HTTPError as exc:
        return exc.code, time.perf_counter() - t0, len(exc.read())


def _start_dashboard(cfg: Settings, work: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start the dashboard under gunicorn on a free port; return it, its URL and a login."""
    users = work / "users.yaml"
    save_users(users, {"bench": User("bench", "supervisor", hash_password(PASSWORD, rounds=4),
                                     None)})
    port = free_port()
    env = {**os.environ, "PATROL_REDIS_URL": cfg.redis_url, "PATROL_ARCHIVE": cfg.archive,
           "PATROL_USERS": str(users), "PATROL_SECRET_KEY": secrets.token_hex(32),
           "PATROL_MQTT_URL": "mqtt://127.0.0.1:1", "PATROL_HOTSPOTS":
           str(ROOT / "config/hotspots.geojson"), "PATROL_UNITS": str(ROOT / "config/units.yaml")}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen([str(gunicorn), "-c", "python:dashboard.gunicorn_conf", "-b",
                             f"127.0.0.1:{port}", "-w", "2", "dashboard.wsgi:server"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(work / "gunicorn.log", "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    auth = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
    deadline = time.monotonic() + 120
    while True:
        try:
            if _get(f"{base}/healthz", auth, 5)[0] == 200:
                return proc, base, auth
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"gunicorn did not start: see {work / 'gunicorn.log'}")
        time.sleep(0.5)


def live_screens_under_load(cfg: Settings, work: Path, since: float, until: float,
                            polygon: dict[str, Any]) -> dict[str, Any]:
    """Return the live routes' latencies while four history requests run at once."""
    store = Store.from_url(cfg.redis_url)
    now = time.time()
    units = store.seen_units()
    store.write_batch(Batch(positions=[Position(u, now - 5, 51.5 + i * 1e-5, -0.12)
                                       for i, u in enumerate(units)]), now=now)
    proc, base, auth = _start_dashboard(cfg, work)
    try:
        period = f"since={quote(_iso(since))}&until={quote(_iso(until))}"
        history = [f"{base}/api/reports/operation?{period}",
                   f"{base}/api/replay/frame?at={quote(_iso((since + until) / 2 + 1234))}",
                   f"{base}/api/presence?{period}&polygon={quote(json.dumps(polygon))}",
                   f"{base}/api/reports/operation?{period}&format=csv"]
        _get(history[1], auth)  # start the pool processes (an operator's first request)
        results: list[tuple[str, int, float]] = []
        live: dict[str, list[float]] = {"/api/units": [], "/healthz": []}
        done = threading.Event()

        def ask(url: str) -> None:
            code, s, _ = _get(url, auth)
            results.append((url.split("?", maxsplit=1)[0].removeprefix(base), code, round(s, 2)))

        def poll() -> None:
            while not done.is_set():
                for path, samples in live.items():
                    code, s, _ = _get(base + path, auth, 30)
                    samples.append(s if code == 200 else float("inf"))
                time.sleep(0.05)

        # The control: the same polling for 10 s with no history request running.
        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(10)
        done.set()
        poller.join()
        control = {k: list(v) for k, v in live.items()}
        for samples in live.values():
            samples.clear()
        done.clear()
        poller = threading.Thread(target=poll)
        poller.start()
        askers = [threading.Thread(target=ask, args=(u,)) for u in history]
        for t in askers:
            t.start()
        for t in askers:
            t.join()
        done.set()
        poller.join()
    finally:
        proc.terminate()
        proc.wait(30)
    out: dict[str, Any] = {"history": results}
    for path, samples in live.items():
        out[path] = _summary(samples)
        out[f"{path} (no history running)"] = _summary(control[path])
    return out


def _summary(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples) or [float("nan")]
    return {"n": len(samples), "p50_ms": round(statistics.median(ordered) * 1000),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000),
            "max_ms": round(ordered[-1] * 1000)}
