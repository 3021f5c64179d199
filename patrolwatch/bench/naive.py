"""The yardstick ingest of issue 20: paho, a pydantic model per message, pipelined Redis writes.

What a first version of an MQTT -> Redis worker looks like: the paho adapter hands messages
to a queue; a loop takes up to ``BATCH`` of them, validates each payload with a pydantic
model, queues a trail ZADD, a latest-position HSET and a last-seen ZADD per message in one
pipeline, executes it, then acknowledges the batch. No rate limit, no ordering rules, no
change feed: less than the worker does, so the worker must beat it on speed of its own
making. ``bench.drain`` drains the same backlog with it.
"""

from __future__ import annotations

import queue
import threading
import time

import redis
from pydantic import BaseModel, Field

from patrolwatch.core.topics import subscriptions
from patrolwatch.mqtt import Inbound, MqttClient

BATCH = 500


class NaivePosition(BaseModel):
    """A native position payload, checked the plain pydantic way."""

    ts: float
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    acc: float | None = Field(None, ge=0)
    speed: float | None = Field(None, ge=0)
    heading: float | None = Field(None, ge=0, le=360)
    battery: float | None = Field(None, ge=0, le=100)
    seq: int | None = None


def drain(url: str, client_id: str, redis_url: str, count: int) -> tuple[float, float]:
    """Store ``count`` queued positions; return (msg/s first to last stored, CPU s/msg)."""
    inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
    client = MqttClient(url, client_id, clean_session=False, manual_ack=True,
                        subscriptions=subscriptions(None), on_message=inbox.put)
    r = redis.Redis.from_url(redis_url)
    stored, first, last = 0, None, 0.0
    cpu = time.process_time()
    client.start()
    try:
        while stored < count:
            batch = [inbox.get(timeout=60)]
            while len(batch) < BATCH:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            pipe = r.pipeline(transaction=False)
            for msg in batch:
                unit = msg.topic.split("/")[1]
                p = NaivePosition.model_validate_json(msg.payload)
                pipe.zadd(f"naive:trail:{unit}", {f"{p.ts!r},{p.lat!r},{p.lon!r}": p.ts})
                pipe.hset("naive:latest", unit, p.model_dump_json())
                pipe.zadd("naive:seen", {unit: p.ts})
            pipe.execute()
            for msg in batch:
                client.ack(msg)
            now = time.time()
            first = now if first is None else first
            last = now
            stored += len(batch)
        cpu = time.process_time() - cpu
    finally:
        client.stop()
        r.close()
    return (count - 1) / max(last - (first or last), 1e-9), cpu / count


def drain_thread(url: str, client_id: str, redis_url: str, count: int
                 ) -> tuple[float, float]:
    """Run ``drain`` on a thread (as the worker runs in the benchmark) and return its result."""
    out: list[tuple[float, float]] = []
    thread = threading.Thread(target=lambda: out.append(drain(url, client_id, redis_url, count)),
                              daemon=True)
    thread.start()
    thread.join(600)
    if not out:
        raise TimeoutError("the naive ingest did not store the backlog within 600 s")
    return out[0]
