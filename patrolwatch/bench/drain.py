"""Drain one backlog three ways in one run: a do-nothing paho subscriber, the worker, the process.

Issue 20 adds a fourth contender, a naive paho + pydantic + pipelined-Redis ingest
(``bench.naive``): the worker should store at least 1.2 times what it does.

Issue 11's ingest target is a ratio, measured in the same run on the same machine: the real
``patrolwatch ingest`` process (worker and its coverage evaluator) should store at least 0.8
of what a paho subscriber that does nothing receives. Each contender gets the same backlog:
a persistent session is created for its client id, ``BACKLOG`` QoS 1 positions are queued in
Mosquitto while it is away, and the clock runs from its first message to its last (for the
process: from the first stored to the last stored, read from Redis), so start-up is not
counted. Redis is flushed between contenders; every trail is checked after each drain.

Run it alone with ``python -m patrolwatch.bench.drain [--backlog N]``; ``patrolwatch bench
ingest --json`` includes it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import redis

from ingest.worker import IngestWorker
from patrolwatch.bench.loadgen import RawPublisher
from patrolwatch.core.messages import ParseContext
from patrolwatch.core.topics import subscriptions
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import Roster
from patrolwatch.servers import (
    free_port,
    mosquitto_server,
    redis_server,
    shipped_mosquitto_conf,
    tempdir,
    wait_until,
)
from patrolwatch.settings import Settings
from patrolwatch.store import Batch, Store

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 60_000
UNITS = 1000


def cpu_seconds(pid: int) -> float:
    """Return the user+system CPU seconds a process and its live children have used."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def redis_cpu(client: redis.Redis) -> float:
    """Return the CPU seconds Redis has used."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _make(base_ts: float) -> Any:
    def make(n: int, _now: float) -> tuple[str, bytes]:
        # one message per unit per second of event time: well inside the per-unit rate
        ts = base_ts + n * (1.0 / UNITS)
        body = (f'{{"ts":{ts!r},"lat":{51.5 + (n % 97) * 1e-4!r},"lon":-0.12,"acc":5,'
                f'"seq":{n}}}')
        return f"patrol/D{n % UNITS:04d}/position", body.encode()
    return make


def queue_backlog(port: int, count: int, base_ts: float) -> None:
    """Publish ``count`` positions at QoS 1 as fast as the broker takes them."""
    pub = RawPublisher("127.0.0.1", port, f"drain-pub-{os.getpid()}")
    try:
        pub.publish(_make(base_ts), count)
    finally:
        pub.close()


def open_session(url: str, client_id: str) -> None:
    """Create a persistent session with the worker's subscriptions, then leave it."""
    seen = threading.Event()
    client = MqttClient(url, client_id, clean_session=False,
                        subscriptions=subscriptions(None), on_message=lambda m: seen.set())
    client.start(wait_s=15)
    probe = MqttClient(url, f"{client_id}-probe")
    probe.start(wait_s=15)
    # the session is subscribed once a message published now reaches it
    wait_until(lambda: probe.publish("patrol/WARMUP/position", b"{}") >= 0 and seen.wait(0.2),
               30, what=f"session {client_id} subscribed")
    probe.stop()
    client.stop()


def drain_paho(url: str, port: int, count: int, base_ts: float) -> tuple[float, float]:
    """Return (msg/s, CPU s/msg) of a do-nothing paho subscriber draining ``count``."""
    client_id = "drain-paho"
    open_session(url, client_id)
    queue_backlog(port, count, base_ts)
    got: queue.SimpleQueue[float] = queue.SimpleQueue()
    sub = MqttClient(url, client_id, clean_session=False, subscriptions=subscriptions(None),
                     on_message=lambda m: got.put(m.received))
    sub.start()
    first = last = got.get(timeout=60)
    cpu = time.process_time()
    for _ in range(count - 1):
        last = got.get(timeout=60)
    cpu = time.process_time() - cpu
    sub.stop()
    return (count - 1) / max(last - first, 1e-9), cpu / (count - 1)


class _Stored:
    """The worker's on_stored hook: first and last store times, positions stored."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last = 0.0
        self.stored = 0

    def __call__(self, batch: Batch) -> None:
        now = time.time()
        self.first = now if self.first is None else self.first
        self.last = now
        self.stored += len(batch.positions)


def drain_worker(url: str, port: int, redis_url: str, settings: Settings, count: int,
                 base_ts: float) -> tuple[float, float, float]:
    """Return (msg/s, CPU s/msg, Redis CPU s/msg) of the IngestWorker alone (no evaluator)."""
    client_id = "drain-worker"
    open_session(url, client_id)
    queue_backlog(port, count, base_ts)
    bench = settings.model_copy(update={"mqtt_url": url, "redis_url": redis_url})
    stored = _Stored()
    worker = IngestWorker(bench, Store.from_url(redis_url),
                          ParseContext.from_settings(bench, Roster.empty(), {}),
                          client_id=client_id, on_stored=stored)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    client = redis.Redis.from_url(redis_url)
    cpu, rcpu = time.process_time(), redis_cpu(client)
    thread.start()
    try:
        wait_until(lambda: stored.stored >= count, 600, interval=0.02, what="backlog stored")
        cpu, rcpu = time.process_time() - cpu, redis_cpu(client) - rcpu
    finally:
        stop.set()
        thread.join(15)
        client.close()
    rate = (count - 1) / max(stored.last - (stored.first or stored.last), 1e-9)
    return rate, cpu / count, rcpu / count


def drain_process(url: str, port: int, redis_url: str, count: int, base_ts: float,
                  work: Path, profile: Path | None = None) -> tuple[float, float, float]:
    """Return (msg/s, CPU s/msg, Redis CPU s/msg) of a real ``patrolwatch ingest`` process.

    Its CPU counts the process and its coverage evaluator child, from its first stored
    message to its last.
    Read from Redis every 5 ms: the first and the last moment the accepted counter moves.
    With ``profile``, py-spy records the process into that SVG.
    """
    client_id = "drain-process"
    open_session(url, client_id)
    queue_backlog(port, count, base_ts)
    env = dict(os.environ, PATROL_REDIS_URL=redis_url, PATROL_MQTT_URL=url,
               PATROL_METRICS_PORT=str(free_port()), PATROL_INGEST_CLIENT_ID=client_id,
               PATROL_HOTSPOTS=str(ROOT / "config/hotspots.geojson"),
               PATROL_UNITS=str(ROOT / "config/units.yaml"),
               PATROL_USERS=str(work / "no-users.yaml"))
    client = redis.Redis.from_url(redis_url)
    log = (work / "drain-process.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "patrolwatch", "ingest"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    spy = None
    if profile is not None:
        spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                                "-o", str(profile), "--pid", str(proc.pid), "-r", "200",
                                "--nonblocking", "--threads",
                                # .txt: collapsed stacks, for reading; anything else: SVG
                                "--format", "raw" if profile.suffix == ".txt" else "flamegraph"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first: float | None = None
    last = 0.0
    cpu = rcpu = 0.0
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            raw = client.hget("pw:{stats}", "accepted_total")
            n = int(raw) if raw else 0
            now = time.time()
            if n and first is None:
                first = now
                cpu, rcpu = cpu_seconds(proc.pid), redis_cpu(client)
            if n >= count:
                last = now
                cpu, rcpu = cpu_seconds(proc.pid) - cpu, redis_cpu(client) - rcpu
                break
            time.sleep(0.005)  # sampling a counter, not waiting for a condition
        else:
            raise TimeoutError(f"the ingest process stored {n} of {count} within 600 s")
    finally:
        proc.terminate()
        proc.wait(30)
        if spy is not None:
            spy.wait(30)
        log.close()
        client.close()
    return (count - 1) / max(last - (first or last), 1e-9), cpu / count, rcpu / count


def drain_naive(url: str, port: int, redis_url: str, count: int, base_ts: float
                ) -> tuple[float, float]:
    """Return (msg/s, CPU s/msg) of the naive paho + pydantic + pipelined-Redis ingest."""
    from patrolwatch.bench import naive

    client_id = "drain-naive"
    open_session(url, client_id)
    queue_backlog(port, count, base_ts)
    return naive.drain_thread(url, client_id, redis_url, count)


def _check(redis_url: str, count: int) -> tuple[int, int]:
    """Return (lost, stored twice) over the drained trails."""
    store = Store.from_url(redis_url)
    expected = {f"D{u:04d}": count // UNITS + (1 if u < count % UNITS else 0)
                for u in range(UNITS)}
    counts = store.units_in_trails(expected)
    lost = sum(max(0, expected[u] - counts[u]) for u in expected)
    extra = sum(max(0, counts[u] - expected[u]) for u in expected)
    return lost, extra


def run(settings: Settings, backlog: int = BACKLOG, profile: Path | None = None
        ) -> dict[str, Any]:
    """Drain the same backlog with paho, the worker and the process; return rates and ratios."""
    with tempdir("pw-bench-drain-") as work:
        redis_proc = redis_server(work)
        broker = mosquitto_server(work, extra_conf=shipped_mosquitto_conf())
        url = f"mqtt://127.0.0.1:{broker.port}"
        flush = redis.Redis.from_url(redis_proc.url)
        try:
            base = time.time() - 3 * 3600
            paho, paho_cpu = drain_paho(url, broker.port, backlog, base)
            flush.flushall()
            naive, naive_cpu = drain_naive(url, broker.port, redis_proc.url, backlog, base)
            flush.flushall()
            worker, worker_cpu, worker_rcpu = drain_worker(url, broker.port, redis_proc.url,
                                                           settings, backlog, base)
            lost_w, extra_w = _check(redis_proc.url, backlog)
            flush.flushall()
            process, process_cpu, process_rcpu = drain_process(
                url, broker.port, redis_proc.url, backlog, base, work, profile)
            lost_p, extra_p = _check(redis_proc.url, backlog)
        finally:
            flush.close()
            broker.terminate()
            redis_proc.terminate()
    return {
        "drain_backlog": backlog,
        "drain_paho_msgs_per_s": round(paho),
        "drain_worker_msgs_per_s": round(worker),
        "drain_process_msgs_per_s": round(process),
        "drain_worker_ratio": round(worker / paho, 3),
        "drain_process_ratio": round(process / paho, 3),
        # CPU per message does not depend on what else the machine runs, as rates do:
        # paho's CPU/msg over the contender's is the rate ratio on an idle machine,
        # as long as the contender is one busy core (the GIL) like paho.
        "drain_paho_cpu_us_per_msg": round(paho_cpu * 1e6, 1),
        "drain_worker_cpu_us_per_msg": round(worker_cpu * 1e6, 1),
        "drain_process_cpu_us_per_msg": round(process_cpu * 1e6, 1),
        "drain_worker_redis_cpu_us_per_msg": round(worker_rcpu * 1e6, 1),
        "drain_process_redis_cpu_us_per_msg": round(process_rcpu * 1e6, 1),
        "drain_worker_cpu_ratio": round(paho_cpu / max(worker_cpu, 1e-12), 3),
        "drain_process_cpu_ratio": round(paho_cpu / max(process_cpu, 1e-12), 3),
        # Issue 20's yardstick: a naive paho + pydantic + pipelined-Redis ingest.
        "drain_naive_msgs_per_s": round(naive),
        "drain_naive_cpu_us_per_msg": round(naive_cpu * 1e6, 1),
        "drain_worker_vs_naive": round(worker / naive, 3),
        "drain_process_vs_naive": round(process / naive, 3),
        "drain_worker_vs_naive_cpu": round(naive_cpu / max(worker_cpu, 1e-12), 3),
        "drain_lost": lost_w + lost_p,
        "drain_duplicates": extra_w + extra_p,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the drain benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=BACKLOG)
    parser.add_argument("--profile", type=Path, help="py-spy SVG of the ingest process")
    args = parser.parse_args(argv)
    print(json.dumps(run(Settings(), args.backlog, args.profile)))


if __name__ == "__main__":
    main()
