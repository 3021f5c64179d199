"""Many control-room screens on one dashboard process: its CPU per wall second, 1 to 30 screens.

The dashboard runs in a child process (the real app on werkzeug's threaded server) and the
picture producer in another (as ``patrolwatch ingest`` runs it); the benchmark's process
moves a fifth of the fleet every second through ``Store.write_batch`` while N simulated
screens POST the live refresh every ``refresh_ms`` exactly as dash-renderer does, each
keeping the version and digests its answers gave it, as the browser does. The children's
user+system CPU time over a measured window, divided by the window, is what the server side
spends: the dashboard's share grows with screens, the producer's does not.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from patrolwatch.servers import free_port, wait_until
from patrolwatch.settings import Settings

SCREENS = (1, 10, 30)
WARM_S = 4.0  # every screen has had its first, whole answer
WINDOW_S = 10.0


def serve_main(redis_url: str, units: int, port: int, work: str) -> None:
    """Serve the real app for the benchmark's fleet until killed (runs in the child)."""
    import logging

    from werkzeug.serving import make_server

    from dashboard.app import create_app
    from patrolwatch.bench import dashboard as bench
    from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
    from patrolwatch.store import Store

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = bench.bench_settings(Settings(), redis_url, Path(work))
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    app = create_app(settings, Store.from_url(redis_url),
                     bench.synthetic_roster(bench.unit_ids(units)), hotspots)
    make_server("127.0.0.1", port, app.server, threaded=True).serve_forever()


def producer_main(redis_url: str, units: int, work: str) -> None:
    """Run the picture producer for the benchmark's fleet until killed (runs in the child)."""
    from dashboard.deps import Deps
    from dashboard.picture.producer import PictureProducer
    from patrolwatch.bench import dashboard as bench
    from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
    from patrolwatch.store import Store

    settings = bench.bench_settings(Settings(), redis_url, Path(work))
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    deps = Deps(settings=settings, store=Store.from_url(redis_url),
                roster=bench.synthetic_roster(bench.unit_ids(units)), hotspots=hotspots)
    PictureProducer(deps).run(threading.Event())


def cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU time so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def child(call: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``call`` (Python, with its import) in a child process; stop it afterwards."""
    proc = subprocess.Popen([sys.executable, "-c", call], stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def server_processes(redis_url: str, units: int, work: Path) -> Iterator[tuple[int, int, int]]:
    """Start the dashboard and the producer children; yield (dashboard pid, port, producer pid)."""
    port = free_port()
    args = f"{redis_url!r}, {units}, {port}, {str(work)!r}"
    with child(f"from patrolwatch.bench.screens import serve_main; serve_main({args})") as dash, \
            child("from patrolwatch.bench.screens import producer_main; "
                  f"producer_main({redis_url!r}, {units}, {str(work)!r})") as producer:
        wait_until(lambda: _answers(port), 60, interval=0.2, what="bench dashboard answering")
        from patrolwatch.store import Store

        store = Store.from_url(redis_url)
        wait_until(lambda: f":{producer.pid}:" in (store.picture_holder() or ""), 60,
                   interval=0.2, what="the bench producer holding the picture lock")
        yield dash.pid, port, producer.pid


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


class Screen(threading.Thread):
    """One simulated browser tab: a refresh every interval, holding what the answers gave."""

    def __init__(self, port: int, body: dict[str, Any], interval_s: float, offset_s: float,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.template, self.interval_s = port, body, interval_s
        self.offset_s, self.stop = offset_s, stop
        self.have: int | None = None
        self.digests: dict[str, Any] = {}
        self.times: list[float] = []
        self.errors = 0

    def run(self) -> None:
        """Refresh until stopped, on a fixed cadence like dcc.Interval."""
        from patrolwatch.bench.dashboard import with_state

        due = time.monotonic() + self.offset_s
        while not self.stop.wait(max(0.0, due - time.monotonic())):
            due += self.interval_s
            began = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", "/_dash-update-component",
                             json.dumps(with_state(self.template, self.have, self.digests)),
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except OSError:
                self.errors += 1
                continue
            self.times.append((time.perf_counter() - began) * 1000.0)
            if resp.status == 204 or not data:
                continue
            self.remember(json.loads(data)["response"])

    def remember(self, answer: dict[str, Any]) -> None:
        """Keep the version and digests, as assets/live.js and the digests store do."""
        from dashboard import ids

        picture = answer.get(ids.PICTURE, {}).get("data")
        if picture:
            self.have = int(json.loads(picture)["v"])
        self.digests = answer.get(ids.DIGESTS, {}).get("data") or self.digests


def run_screens(redis_url: str, units: int, work: Path, body: dict[str, Any],
                refresh_ms: int, move: Any, counts: tuple[int, ...] = SCREENS) -> dict[str, Any]:
    """Return the server side's CPU per wall second with each number of screens.

    ``move()`` writes one second's worth of positions; it runs every second throughout.
    """
    out: dict[str, Any] = {}
    halt = threading.Event()
    mover = threading.Thread(target=_keep_moving, args=(move, halt), daemon=True)
    with server_processes(redis_url, units, work) as (pid, port, producer_pid):
        mover.start()
        for n in counts:
            stop = threading.Event()
            screens = [Screen(port, body, refresh_ms / 1000.0, i * refresh_ms / 1000.0 / n, stop)
                       for i in range(n)]
            for s in screens:
                s.start()
            time.sleep(WARM_S)  # a benchmark's warm-up, not a condition being waited for
            for s in screens:
                s.times.clear()
            cpu0, made0, wall0 = cpu_seconds(pid), cpu_seconds(producer_pid), time.perf_counter()
            time.sleep(WINDOW_S)
            cpu1, made1, wall1 = cpu_seconds(pid), cpu_seconds(producer_pid), time.perf_counter()
            stop.set()
            for s in screens:
                s.join(30)
            times = [t for s in screens for t in s.times]
            wall = wall1 - wall0
            out[f"screens_{n}_dashboard_cpu_per_s"] = round((cpu1 - cpu0) / wall, 3)
            out[f"screens_{n}_producer_cpu_per_s"] = round((made1 - made0) / wall, 3)
            out[f"screens_{n}_server_cpu_per_s"] = round((cpu1 - cpu0 + made1 - made0) / wall, 3)
            out[f"screens_{n}_refresh_ms_median"] = (round(statistics.median(times), 1)
                                                     if times else None)
            out[f"screens_{n}_refreshes"] = len(times)
            out[f"screens_{n}_errors"] = sum(s.errors for s in screens)
        halt.set()
        mover.join(10)
    first, last = out.get(f"screens_{counts[0]}_server_cpu_per_s"), \
        out.get(f"screens_{counts[-1]}_server_cpu_per_s")
    if first and last:
        out[f"screens_{counts[-1]}_vs_{counts[0]}_cpu_ratio"] = round(last / first, 2)
    return out


def run_browser_moving(redis_url: str, units: int, work: Path, move: Any, moves: int
                       ) -> dict[str, Any]:
    """Time a marker's move in Chromium while ``move()`` moves the fleet every second.

    As deployed: the dashboard and the producer are processes of their own; the producer's
    CPU per wall second over the browser part is reported beside the latencies.
    """
    from patrolwatch.bench import browser
    from patrolwatch.bench.dashboard import unit_ids
    from patrolwatch.store import Store

    halt = threading.Event()
    mover = threading.Thread(target=_keep_moving, args=(move, halt), daemon=True)
    with server_processes(redis_url, units, work) as (pid, port, producer_pid):
        mover.start()
        cpu0, made0, wall0 = cpu_seconds(pid), cpu_seconds(producer_pid), time.perf_counter()
        try:
            out = browser.measure_map_updates(f"http://127.0.0.1:{port}/",
                                              Store.from_url(redis_url), unit_ids(units), moves)
        except browser.BrowserUnavailableError as exc:
            out = {"browser_skipped": str(exc)}
        wall = time.perf_counter() - wall0
        out["dashboard_cpu_per_s"] = round((cpu_seconds(pid) - cpu0) / wall, 3)
        out["producer_cpu_per_s"] = round((cpu_seconds(producer_pid) - made0) / wall, 3)
        halt.set()
        mover.join(10)
    return {f"moving_{k}": v for k, v in out.items()}


def _keep_moving(move: Any, halt: threading.Event) -> None:
    """Call ``move()`` once a second until halted (the fleet reporting)."""
    due = time.monotonic()
    while not halt.wait(max(0.0, due - time.monotonic())):
        due += 1.0
        move()
