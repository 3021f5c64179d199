"""Simulated crews answering welfare check-ins (``patrol/{unit}/checkin``): most, not all.

Most crews tap "I am OK" after a while; a few miss the prompt, so the demo shows the
control room a welfare alarm. The choice is a pure function of the check-in id (the same
prompt is always answered the same way), the delay a short random wait.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib

from patrolwatch.mqtt import Inbound, MqttClient

log = logging.getLogger(__name__)

FILTER = "patrol/+/checkin"
ANSWER_SHARE = 0.8  # the rest miss the prompt and raise the welfare alarm
HELP_SHARE = 0.03  # of the answers, "need help"
DELAY_S = (4.0, 40.0)


def decide(checkin_id: str) -> tuple[bool, bool, float]:
    """Return (answers, is OK, delay in s) for a check-in id; the same id, the same answer."""
    draw = zlib.crc32(checkin_id.encode()) / 2**32
    answers = draw < ANSWER_SHARE
    ok = draw >= ANSWER_SHARE * HELP_SHARE
    delay = DELAY_S[0] + (DELAY_S[1] - DELAY_S[0]) * (draw / ANSWER_SHARE if answers else 0)
    return answers, ok, delay


def answer(message: Inbound, client: MqttClient) -> bool:
    """Answer a check-in later (or not at all); return False if the message is not one."""
    parts = message.topic.split("/")
    if len(parts) != 3 or parts[2] != "checkin":
        return False
    try:
        checkin_id = str(json.loads(message.payload)["id"])
    except (ValueError, KeyError, TypeError):
        return True
    answers, ok, delay = decide(checkin_id)
    if not answers:
        log.info("check-in %s for %s left unanswered", checkin_id, parts[1])
        return True

    def send() -> None:
        body = {"id": checkin_id, "ts": round(time.time(), 3), "accepted": ok}
        try:
            client.publish(f"patrol/{parts[1]}/ack", json.dumps(body, separators=(",", ":")))
        except (RuntimeError, TimeoutError, OSError) as exc:  # a timer thread: log, not raise
            # The fleet may have stopped (its client closed) before this answer was due.
            log.info("check-in %s for %s not answered: %s", checkin_id, parts[1], exc)

    timer = threading.Timer(delay, send)
    timer.daemon = True
    timer.start()
    return True
