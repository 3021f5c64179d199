"""`patrolwatch bench ingest`: positions stored per second through a real Mosquitto into Redis.

Starts its own Mosquitto (the shipped config, on a free port) and Redis/Valkey, runs the real
IngestWorker in this process and a publisher in a child process, then checks every trail:
nothing lost, nothing stored twice. Also measures what a do-nothing paho subscriber reaches
on the same machine (the client ceiling), publish->stored latency at half the throughput
just measured, and (``bench.drain``) one backlog drained by a do-nothing paho subscriber,
the worker alone and the real ``patrolwatch ingest`` process, with their ratios.

The simulated units send faster than PATROL_UNIT_MAX_RATE allows a real unit (1,000 units
carry up to 20,000 msg/s), so the throughput and latency runs lift the per-unit limit; the
limiter still runs on every message. The drain paces each unit at 1 msg/s of event time and
keeps the default limit.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from ingest.worker import IngestWorker
from patrolwatch.bench import drain
from patrolwatch.bench.loadgen import RawPublisher
from patrolwatch.core.messages import ParseContext
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster
from patrolwatch.servers import (
    mosquitto_server,
    redis_server,
    shipped_mosquitto_conf,
    tempdir,
    wait_until,
)
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store

UNITS = 1000
THROUGHPUT_MESSAGES = 100_000
LATENCY_MAX_RATE = 20_000  # msg/s: latency is measured at half the measured rate, at most this
LATENCY_SECONDS = 10
def _publisher(port: int, count: int, rate: float | None, base_ts: float, offset: int) -> None:
    """Publish ``count`` positions over UNITS units at QoS 1 (child process)."""

    def make(i: int, now: float) -> tuple[str, bytes]:
        n = offset + i
        ts = now if rate else base_ts + n * 0.001
        body = (f'{{"ts":{ts!r},"lat":{51.5 + (n % 97) * 1e-4!r},"lon":-0.12,"acc":5,'
                f'"seq":{n}}}')
        return f"patrol/B{n % UNITS:04d}/position", body.encode()

    pub = RawPublisher("127.0.0.1", port, f"bench-pub-{offset}")
    try:
        pub.publish(make, count, rate)
    finally:
        pub.close()


def _spawn(port: int, count: int, rate: float | None, base_ts: float, offset: int
           ) -> mp.process.BaseProcess:
    proc = mp.get_context("spawn").Process(target=_publisher,
                                           args=(port, count, rate, base_ts, offset))
    proc.start()
    return proc


def client_ceiling(url: str, port: int, count: int) -> float:
    """Return messages/s a do-nothing paho subscriber receives at QoS 1."""
    got: queue.SimpleQueue[float] = queue.SimpleQueue()
    sub = MqttClient(url, "bench-ceiling", subscriptions=[("patrol/+/position", 1)],
                     on_message=lambda m: got.put(m.received))
    sub.start(wait_s=10)
    proc = _spawn(port, count, None, time.time() - 3600, 0)
    first = got.get(timeout=60)
    last = first
    for _ in range(count - 1):
        last = got.get(timeout=60)
    proc.join(60)
    sub.stop()
    return (count - 1) / max(last - first, 1e-9)


def rss_mb() -> float:
    """Return this process's resident memory now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Recorder:
    """Collect publish->stored latency and store times from the worker's on_stored hook."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.first_stored: float | None = None
        self.last_stored = 0.0
        self.stored = 0
        self.record_latency = False

    def __call__(self, batch: Batch) -> None:
        now = time.time()
        if self.first_stored is None:
            self.first_stored = now
        self.last_stored = now
        self.stored += len(batch.positions)
        if self.record_latency:
            self.latencies_ms += [(now - p.ts) * 1000.0 for p in batch.positions]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _check_trails(store: Store, expected_per_unit: dict[str, int]) -> tuple[int, int]:
    counts = store.units_in_trails(expected_per_unit)
    lost = sum(max(0, expected_per_unit[u] - counts[u]) for u in expected_per_unit)
    extra = sum(max(0, counts[u] - expected_per_unit[u]) for u in expected_per_unit)
    return lost, extra


def run(settings: Settings, with_drain: bool = True) -> dict[str, Any]:
    """Run the ingest benchmark and return its figures."""
    with tempdir("pw-bench-ingest-") as work:
        redis_proc = redis_server(work)
        broker = mosquitto_server(work, extra_conf=shipped_mosquitto_conf())
        url = f"mqtt://127.0.0.1:{broker.port}"
        try:
            ceiling = client_ceiling(url, broker.port, THROUGHPUT_MESSAGES)
            store = Store.from_url(redis_proc.url)
            bench_settings = settings.model_copy(update={"mqtt_url": url,
                                                         "redis_url": redis_proc.url,
                                                         "unit_max_rate": 1e6})
            recorder = _Recorder()
            ctx = ParseContext.from_settings(bench_settings, Roster.empty(), {})
            worker = IngestWorker(bench_settings, store, ctx, client_id="bench-ingest",
                                  on_stored=recorder)
            stop = threading.Event()
            thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
            thread.start()
            wait_until(lambda: worker.client.connected, 15, what="bench worker connected")
            rss_before = rss_mb()

            # Sustained throughput: as fast as the publisher can go.
            proc = _spawn(broker.port, THROUGHPUT_MESSAGES, None, time.time() - 7200, 0)
            wait_until(lambda: recorder.stored >= THROUGHPUT_MESSAGES, 600,
                       interval=0.05, what="all benchmark positions stored")
            proc.join(60)
            span = recorder.last_stored - (recorder.first_stored or recorder.last_stored)
            msgs_per_s = (THROUGHPUT_MESSAGES - 1) / max(span, 1e-9)

            # Latency at half the capacity just measured (issue 11's condition).
            recorder.record_latency = True
            latency_rate = max(100, min(LATENCY_MAX_RATE, round(msgs_per_s / 2)))
            n_latency = latency_rate * LATENCY_SECONDS
            target = recorder.stored + n_latency
            proc = _spawn(broker.port, n_latency, latency_rate, 0.0, THROUGHPUT_MESSAGES)
            wait_until(lambda: recorder.stored >= target, 300, interval=0.05,
                       what="latency run stored")
            proc.join(60)
            rss_after = rss_mb()

            total = THROUGHPUT_MESSAGES + n_latency
            expected = {f"B{u:04d}": 0 for u in range(UNITS)}
            for n in range(total):
                expected[f"B{n % UNITS:04d}"] += 1
            lost, extra = _check_trails(store, expected)
            stats = store.stats()
            stop.set()
            thread.join(15)
            redis_bytes = int(store.r.info("memory")["used_memory"])
        finally:
            broker.terminate()
            redis_proc.terminate()
    drained = drain.run(settings) if with_drain else {}
    return {
        **drained,
        "msgs_per_s": round(msgs_per_s),
        "client_ceiling_msgs_per_s": round(ceiling),
        "ratio_to_ceiling": round(msgs_per_s / ceiling, 3),
        "messages": total,
        "lost": lost,
        "duplicates": extra,
        "duplicates_absorbed": stats.duplicates_total,
        "p50_ms": round(statistics.median(recorder.latencies_ms), 2),
        "p99_ms": round(_percentile(recorder.latencies_ms, 0.99), 2),
        "latency_rate_msgs_per_s": latency_rate,
        "rss_mb": round(rss_after, 1),
        "rss_growth_mb": round(rss_after - rss_before, 1),
        "redis_used_memory_mb": round(redis_bytes / 2**20, 1),
        "redis_bytes_per_trail_point": round(redis_bytes / total, 1),
        "batches": worker.stats.batches,
    }


def _main() -> None:
    print(json.dumps(run(Settings()), indent=2))


if __name__ == "__main__":
    _main()

