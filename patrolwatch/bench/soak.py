"""Real `patrolwatch ingest` processes under load: a ten-minute memory soak, and scale-out.

Starts Mosquitto (the shipped config) and Redis on free ports, runs ``patrolwatch ingest``
(worker and coverage evaluator, shipped hotspots and roster) as a child process, and
publishes a paced QoS 1 load (default 2,000 msg/s: 10,000 units reporting every 5 s) with
the raw-socket load generator. Every 10 s it samples the worker's resident memory, Redis
memory and the worker's inbox and lag gauges. At the end it checks every trail: nothing
lost, nothing stored twice. "Flat" means no growth trend after the warm-up minute: the
slope of RSS against time (least squares) is reported in MiB per hour.

Run it with ``python -m patrolwatch.bench.soak [--minutes 10] [--rate 2000] [--json]``;
it is a benchmark, never part of ``make test``. ``--scale-out N`` instead publishes
``--messages`` as fast as possible to N worker processes sharing one MQTT shared
subscription and reports the stored msg/s (nothing lost, nothing stored twice).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patrolwatch.bench.loadgen import RawPublisher
from patrolwatch.servers import (
    free_port,
    mosquitto_server,
    redis_server,
    shipped_mosquitto_conf,
    tempdir,
    wait_until,
)
from patrolwatch.store import K_EVAL_LOCK, Store

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_EVERY_S = 10.0
WARMUP_S = 60.0
LONDON = (51.5074, -0.1278)


def position(i: int, units: int, now: float) -> tuple[str, bytes]:
    """Return message ``i``: unit ``i % units`` walking a slow 300 m circle near London."""
    unit = i % units
    rng = random.Random(unit)  # each unit's beat centre is fixed
    lat0 = LONDON[0] + rng.gauss(0, 0.06)
    lon0 = LONDON[1] + rng.gauss(0, 0.09)
    angle = (i // units) * 0.05
    lat = round(lat0 + 0.0027 * math.sin(angle), 6)
    lon = round(lon0 + 0.0043 * math.cos(angle), 6)
    body = f'{{"ts":{now!r},"lat":{lat!r},"lon":{lon!r},"acc":6,"seq":{i}}}'
    return f"patrol/S{unit:05d}/position", body.encode()


def _publish(port: int, total: int, rate: float, units: int) -> None:
    """Publish ``total`` positions at ``rate`` msg/s (child process)."""
    pub = RawPublisher("127.0.0.1", port, "soak-load", window=5_000)
    try:
        pub.publish(lambda i, now: position(i, units, now), total, rate)
    finally:
        pub.close()


def rss_mib(pid: int) -> float:
    """Return a process's resident memory in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def gauge(text: str, name: str) -> float | None:
    """Return a Prometheus gauge's value from /metrics text, or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def slope_per_hour(times: list[float], values: list[float]) -> float:
    """Return the least-squares slope of values against times (seconds), per hour."""
    n = len(times)
    if n < 2:
        return 0.0
    mt, mv = sum(times) / n, sum(values) / n
    var = sum((t - mt) ** 2 for t in times)
    cov = sum((t - mt) * (v - mv) for t, v in zip(times, values, strict=True))
    return cov / var * 3600.0 if var else 0.0


@dataclass
class Samples:
    """What the soak saw every ten seconds."""

    t: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    redis_mb: list[float] = field(default_factory=list)
    inbox: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)

    def add(self, t: float, pid: int, store: Store, metrics_port: int) -> None:
        """Take one sample."""
        self.t.append(t)
        self.rss.append(rss_mib(pid))
        self.redis_mb.append(int(store.r.info("memory")["used_memory"]) / 2**20)
        try:
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as resp:
                text = resp.read().decode()
            self.inbox.append(gauge(text, "patrolwatch_ingest_inbox_messages") or 0.0)
            self.lag.append(gauge(text, "patrolwatch_ingest_lag_seconds") or 0.0)
        except OSError:
            pass  # metrics are a nicety; RSS is what the soak is for


def summarise(samples: Samples, sent: int, stored: int, lost: int, extra: int,
              seconds: float) -> dict[str, Any]:
    """Return the soak's figures from its samples."""
    warm = [i for i, t in enumerate(samples.t) if t >= WARMUP_S] or list(range(len(samples.t)))
    rss_warm = [samples.rss[i] for i in warm]
    return {
        "messages_sent": sent, "messages_stored": stored, "lost": lost, "duplicates": extra,
        "achieved_msgs_per_s": round(sent / seconds, 1),
        "rss_mb_first": round(samples.rss[0], 1),
        "rss_mb_after_warmup": round(rss_warm[0], 1),
        "rss_mb_end": round(samples.rss[-1], 1),
        "rss_mb_max": round(max(samples.rss), 1),
        "rss_mb_min_after_warmup": round(min(rss_warm), 1),
        "rss_slope_mb_per_hour_after_warmup": round(
            slope_per_hour([samples.t[i] for i in warm], rss_warm), 2),
        "redis_mb_start": round(samples.redis_mb[0], 1),
        "redis_mb_end": round(samples.redis_mb[-1], 1),
        "redis_bytes_per_stored_message": round(
            (samples.redis_mb[-1] - samples.redis_mb[0]) * 2**20 / max(stored, 1), 1),
        "inbox_max": max(samples.inbox, default=None),
        "lag_s_max": round(max(samples.lag), 3) if samples.lag else None,
        "samples": len(samples.t),
        "rss_series_mb": [round(v, 1) for v in samples.rss],
    }


class TreeCpu:
    """CPU seconds per wall second of the ingest process and each child, from now on (issue 20).

    The children are told apart by the locks they hold: the picture producer's and the
    coverage evaluator's owner strings name their pids.
    """

    def __init__(self, pid: int, store: Store) -> None:
        from patrolwatch.bench.drain import cpu_seconds

        self.cpu_seconds = cpu_seconds
        children = Path(f"/proc/{pid}/task/{pid}/children")
        self.pids = {"worker": pid}
        kids = [int(c) for c in children.read_text().split()] if children.exists() else []
        holders = {"producer": store.picture_holder(),
                   "evaluator": store.r.get(K_EVAL_LOCK)}
        for name, owner in holders.items():
            text = owner.decode() if isinstance(owner, bytes) else owner
            if text and int(text.split(":")[1]) in kids:
                self.pids[name] = int(text.split(":")[1])
        self.start = {name: self._own(p) for name, p in self.pids.items()}
        self.tree_start = cpu_seconds(pid)
        self.began = time.monotonic()

    def _own(self, pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def per_second(self) -> dict[str, float]:
        """Return each process's and the whole tree's CPU per wall second since start."""
        wall = time.monotonic() - self.began
        out = {f"{name}_cpu_per_s": round((self._own(p) - self.start[name]) / wall, 3)
               for name, p in self.pids.items()}
        out["tree_cpu_per_s"] = round(
            (self.cpu_seconds(self.pids["worker"]) - self.tree_start) / wall, 3)
        return out


@dataclass
class Rig:
    """Broker, Redis and the ingest processes of one run."""

    broker_port: int
    store: Store
    workers: list[subprocess.Popen[bytes]]
    metrics_ports: list[int]


@contextmanager
def rig(workers: int = 1, evaluator: bool = True, unit_max_rate: float | None = None
        ) -> Iterator[Rig]:
    """Start Mosquitto, Redis and ``workers`` real ``patrolwatch ingest`` processes.

    Several workers share one MQTT shared subscription (``$share/ingest/...``); only the
    first runs the coverage evaluator. ``unit_max_rate`` overrides PATROL_UNIT_MAX_RATE for
    loads that send one unit's messages faster than a real unit may.
    """
    with tempdir("pw-soak-") as work:
        redis_proc = redis_server(work)
        broker = mosquitto_server(work, extra_conf=shipped_mosquitto_conf())
        ports = [free_port() for _ in range(workers)]
        procs: list[subprocess.Popen[bytes]] = []
        logs = [work / f"ingest-{n}.log" for n in range(workers)]
        try:
            for n in range(workers):
                env = dict(os.environ, PATROL_REDIS_URL=redis_proc.url,
                           PATROL_MQTT_URL=f"mqtt://127.0.0.1:{broker.port}",
                           PATROL_METRICS_PORT=str(ports[n]),
                           PATROL_INGEST_CLIENT_ID=f"soak-ingest-{n}",
                           PATROL_INGEST_SHARE_GROUP="ingest" if workers > 1 else "",
                           PATROL_HOTSPOTS=str(ROOT / "config/hotspots.geojson"),
                           PATROL_UNITS=str(ROOT / "config/units.yaml"),
                           PATROL_USERS=str(work / "no-users.yaml"))
                if unit_max_rate is not None:
                    env["PATROL_UNIT_MAX_RATE"] = repr(unit_max_rate)
                argv = [sys.executable, "-m", "patrolwatch", "ingest",
                        *([] if evaluator and n == 0 else ["--no-evaluator"])]
                with logs[n].open("wb") as log:
                    procs.append(subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log,
                                                  stderr=subprocess.STDOUT))
            store = Store.from_url(redis_proc.url)
            for n in range(workers):  # every worker must have subscribed before the load
                wait_until(lambda k=n: _warm(broker.port, k)  # type: ignore[misc]
                           and _batches(ports[k]) > 0, 60, interval=0.3,
                           what=f"ingest worker {n} storing a first message")
            yield Rig(broker.port, store, procs, ports)
        except Exception:
            for path in logs:
                sys.stderr.write(path.read_text(errors="replace")[-3000:])
            raise
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            broker.terminate()
            redis_proc.terminate()


def check_trails(store: Store, total: int, units: int) -> tuple[int, int]:
    """Return (lost, stored twice) over every unit's trail."""
    expected = {f"S{u:05d}": total // units + (1 if u < total % units else 0)
                for u in range(units)}
    counts = store.units_in_trails(expected)
    return (sum(max(0, n - counts[u]) for u, n in expected.items()),
            sum(max(0, counts[u] - n) for u, n in expected.items()))


def _load(port: int, total: int, rate: float | None, units: int) -> mp.process.BaseProcess:
    proc = mp.get_context("spawn").Process(target=_publish, args=(port, total, rate, units))
    proc.start()
    return proc


def run_soak(minutes: float, rate: float, units: int, evaluator: bool = True
             ) -> dict[str, Any]:
    """Run the soak; return its figures (``evaluator=False``: the worker alone)."""
    total = int(minutes * 60 * rate)
    load_start = os.getloadavg()[0]
    with rig(1, evaluator) as r:
        baseline = r.store.stats().accepted_total
        samples = Samples()
        pid = r.workers[0].pid
        began = time.monotonic()
        proc = _load(r.broker_port, total, rate, units)
        cpu: TreeCpu | None = None
        while proc.is_alive() or not samples.t:
            samples.add(time.monotonic() - began, pid, r.store, r.metrics_ports[0])
            if cpu is None and time.monotonic() - began >= WARMUP_S:
                cpu = TreeCpu(pid, r.store)
            proc.join(SAMPLE_EVERY_S)
        seconds = time.monotonic() - began
        tree = cpu.per_second() if cpu is not None else {}
        wait_until(lambda: r.store.stats().accepted_total - baseline >= total, 120,
                   interval=0.5, what=f"all {total} soak messages stored")
        samples.add(time.monotonic() - began, pid, r.store, r.metrics_ports[0])
        lost, extra = check_trails(r.store, total, units)
        stored = r.store.stats().accepted_total - baseline
    out = summarise(samples, total, stored, lost, extra, seconds)
    return {"minutes": minutes, "rate_msgs_per_s": rate, "units": units,
            "evaluator": evaluator, **out, **tree,
            "loadavg_1m_start": round(load_start, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2)}


def run_scale_out(workers: int, messages: int, units: int) -> dict[str, Any]:
    """Return stored msg/s of ``workers`` ingest processes sharing one subscription."""
    load_start = os.getloadavg()[0]
    # As fast as the broker takes them: each unit far above a real unit's rate limit.
    with rig(workers, evaluator=False, unit_max_rate=1e6) as r:
        baseline = r.store.stats().accepted_total
        proc = _load(r.broker_port, messages, None, units)
        ticks: list[tuple[float, int]] = []

        def done() -> bool:
            ticks.append((time.monotonic(), r.store.stats().accepted_total - baseline))
            return ticks[-1][1] >= messages

        wait_until(done, 600, interval=0.1, what=f"all {messages} messages stored")
        proc.join(60)
        first = next(t for t, n in ticks if n > 0)
        lost, extra = check_trails(r.store, messages, units)
        rss = [rss_mib(w.pid) for w in r.workers]
    return {"workers": workers, "messages": messages, "lost": lost, "duplicates": extra,
            "stored_msgs_per_s": round(messages / max(ticks[-1][0] - first, 1e-9)),
            "rss_mb_per_worker": [round(v, 1) for v in rss],
            "loadavg_1m_start": round(load_start, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2)}


def _warm(port: int, worker: int) -> bool:
    """Publish one warm-up position (shared subscriptions hand it to any worker)."""
    body = f'{{"ts":{time.time()!r},"lat":51.5,"lon":-0.12}}'.encode()
    pub = RawPublisher("127.0.0.1", port, f"soak-warm-{worker}")
    try:
        pub.publish(lambda i, now: (f"patrol/SOAK-WARM-{worker}/position", body), 1)
    finally:
        pub.close()
    return True


def _batches(metrics_port: int) -> float:
    """Return how many batches a worker has stored, from its /metrics (0 if unreadable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                    timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return gauge(text, "patrolwatch_ingest_batch_messages_count") or 0.0


def main(argv: list[str] | None = None) -> None:
    """Run the soak from the command line."""
    parser = argparse.ArgumentParser(prog="python -m patrolwatch.bench.soak",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="messages per second")
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--no-evaluator", action="store_true",
                        help="run the worker without the coverage evaluator thread")
    parser.add_argument("--scale-out", type=int, metavar="WORKERS",
                        help="instead: stored msg/s of this many workers sharing the load")
    parser.add_argument("--messages", type=int, default=200_000,
                        help="messages published as fast as possible for --scale-out")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args(argv)
    if args.scale_out:
        figures = run_scale_out(args.scale_out, args.messages, args.units)
    else:
        figures = run_soak(args.minutes, args.rate, args.units,
                           evaluator=not args.no_evaluator)
    for key, value in figures.items():
        if key != "rss_series_mb":
            print(f"{key:>36}: {value}")
    if args.json:
        print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
