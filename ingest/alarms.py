"""The alarm evaluator: the rules of ``core/alarms.py`` on a short tick, under a Redis lock.

Started by ``patrolwatch ingest`` in a child process of its own (like the coverage evaluator):
every ingest process offers, one holds ``K_ALARM_LOCK`` and evaluates; raising is idempotent
anyway (one id per cause), so a lapsed lock costs no duplicate. Each tick it reads the live
rows, raises what the rules find, clears lost contact that came back, asks welfare check-ins
and raises those missed, escalates, and announces every change once: to the unit's device
(``patrol/{unit}/alarm``, ``patrol/{unit}/checkin``, QoS 1, through the worker's connection)
and to the webhooks (a Redis queue a sender thread drains with backoff, so a slow receiver
never holds up the ingest).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import redis

from patrolwatch.core import alarms as rules_
from patrolwatch.core.alarm_records import alarm_row, device_notice
from patrolwatch.core.alarm_rules import AlertRules
from patrolwatch.core.hotspots import HotspotSet
from patrolwatch.core.model import UnitState
from patrolwatch.core.taskings import rfc3339
from patrolwatch.live import unit_states
from patrolwatch.roster import Roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from patrolwatch.store.keys import WEBHOOK_ATTEMPTS

log = logging.getLogger(__name__)

TICK_S = 1.0
ALARMS_NICENESS = 5  # below the worker, above the coverage evaluator (10)
HOUSEKEEPING_S = 600.0  # how often old check-ins and cleared alarms are dropped
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_BACKOFF_MAX_S = 300.0
Publish = Callable[[str, str], object]


def unit_now(u: UnitState, categories: frozenset[str]) -> rules_.UnitNow:
    """Return what the rules read of one unit's live state."""
    return rules_.UnitNow(unit=u.id, kind=u.kind, status=u.status, status_since=u.status_ts,
                          last_seen=u.last_seen, battery=u.battery, categories=categories,
                          stale=u.stale)


def webhook_body(record: dict[str, Any], event: str, callsigns: dict[str, str],
                 now: float) -> str:
    """Return the JSON a webhook receives: ``{event, ts, alarm: <an /api/alarms row>}``."""
    row = alarm_row(record, callsigns.get(str(record.get("unit", ""))))
    return json.dumps({"event": event, "ts": rfc3339(now), "alarm": row}, sort_keys=True)


def signature(secret: str, body: bytes) -> str:
    """Return the ``X-PatrolWatch-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AlarmEvaluator:
    """Evaluates every unit's alarm rules while it holds the lock."""

    def __init__(self, settings: Settings, store: Store, rules: AlertRules,
                 hotspots: HotspotSet, roster: Roster, publish: Publish) -> None:
        self.settings, self.store, self.rules = settings, store, rules
        self.hotspots, self.roster, self.publish = hotspots, roster, publish
        self.callsigns = {u.id: u.callsign for u in roster.units.values()}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        wanted = set(rules.welfare.categories)
        self.welfare_spots = {h.id for h in hotspots if h.category in wanted}
        self.category = {h.id: h.category for h in hotspots}
        self.moved: dict[str, tuple[float, float]] = {}  # unit -> (last seen, when it moved)
        self.swept = 0.0

    def run(self, stop: threading.Event, tick_s: float = TICK_S) -> None:
        """Evaluate every ``tick_s`` while holding the lock, until stopped."""
        while not stop.is_set():
            try:
                if self.store.take_alarm_lock(self.owner, max(10.0, 5 * tick_s)):
                    self.tick(time.time())
            except redis.RedisError as exc:
                log.warning("alarm evaluation paused, Redis unavailable: %s", exc)
            stop.wait(tick_s)

    def _categories(self, units: list[UnitState]) -> dict[str, frozenset[str]]:
        """Return the categories of welfare hotspots each lone unit is inside now."""
        lone = [u for u in units if u.kind in self.rules.welfare.kinds and u.lat is not None
                and u.lon is not None and not u.stale]
        if not lone or not self.welfare_spots:
            return {}
        inside = self.hotspots.containing_many([u.lat for u in lone], [u.lon for u in lone])
        return {u.id: frozenset(self.category[h] for h in ids if h in self.welfare_spots)
                for u, ids in zip(lone, inside, strict=True) if ids}

    def tick(self, now: float) -> None:
        """Evaluate once: raise, clear, ask, miss, escalate, announce."""
        store, rules = self.store, self.rules
        units = unit_states(store.live_rows(), self.roster, now, self.settings.stale_after_s)
        cats = self._categories(units)
        views = {u.id: unit_now(u, cats.get(u.id, frozenset())) for u in units}
        spells = store.battery_spells()
        started: dict[str, float] = {}
        ended: list[str] = []
        for u in units:
            if self._catching_up(u, now):
                continue
            was = spells.get(u.id)
            spell = rules_.battery_spell(was, u.battery, u.ts, rules)
            if spell != was:
                (started.__setitem__(u.id, spell) if spell is not None else ended.append(u.id))
            for found in rules_.unit_raises(views[u.id], rules, self.settings.stale_after_s,
                                            now, spell):
                store.raise_alarm(found, now)
        if started or ended:
            store.set_battery_spells(started, ended)
        for record in store.open_alarm_records():
            if record.get("kind") == rules_.LOST_CONTACT:
                seen = views.get(str(record["unit"]))
                if seen is not None and rules_.contact_resumed(float(record["ts"]),
                                                               seen.last_seen):
                    store.close_alarm(str(record["id"]), now)
        self._checkins(views, now)
        self._escalate(now)
        self._announce(now)
        if now - self.swept > HOUSEKEEPING_S:
            self.swept = now
            store.forget_checkins(now)
            store.forget_closed_alarms(now)

    def _catching_up(self, u: UnitState, now: float) -> bool:
        """Note when the unit's newest event time moved; tell whether it is flushing a buffer."""
        if u.last_seen is None:
            return False
        seen = self.moved.get(u.id)
        if seen is None or seen[0] != u.last_seen:
            self.moved[u.id] = (u.last_seen, now if seen is not None else -1e18)
            if seen is None:
                return True  # first sight: wait a tick to tell a flush from silence
        return rules_.catching_up(u.last_seen, self.moved[u.id][1], now,
                                  self.settings.stale_after_s)

    def _checkins(self, views: dict[str, rules_.UnitNow], now: float) -> None:
        store, rules = self.store, self.rules
        waiting = {}
        for c in store.open_checkins():
            u = views.get(c["unit"])
            if u is not None and (u.status_since or 0.0) > float(c["since"]):
                # A new status is an answer: the officer is using the device.
                store.end_checkin(c["id"], c["unit"], "OK", now, now)
            elif float(c["answer_by"]) <= now:
                if store.end_checkin(c["id"], c["unit"], "MISSED", now, now) is not None:
                    store.raise_alarm(rules_.Raise(c["unit"], rules_.WELFARE, float(c["since"]),
                                                   "no answer to the welfare check-in"), now)
            else:
                waiting[c["unit"]] = c
        answers = store.checkin_answers()
        for u in views.values():
            if u.unit in waiting:
                continue
            since = rules_.welfare_due(u, rules, self.settings.zone, now, answers.get(u.unit))
            if since is None:
                continue
            record = {"id": rules_.checkin_id(u.unit, since), "unit": u.unit, "ts": now,
                      "since": since, "answer_by": rules_.checkin_answer_by(now, rules),
                      "reason": f"no status change for {rules.welfare.quiet_minutes:g} min "
                                "in a welfare area", "state": "OPEN"}
            if store.open_checkin(record):
                self.publish(f"patrol/{u.unit}/checkin", json.dumps(
                    {k: record[k] for k in ("id", "ts", "reason", "answer_by")}))

    def _escalate(self, now: float) -> None:
        due = [str(a["id"]) for a in self.store.open_alarm_records()
               if rules_.escalation_due(rules_.kind_of(a), float(a.get("arrival", a["ts"])),
                                        False, a.get("escalated_at") is not None,
                                        self.rules, now)]
        for record in self.store.escalate(due, now):
            self.store.queue_webhooks([w.url for w in self.rules.webhooks],
                                      webhook_body(record, "escalated", self.callsigns, now),
                                      now)

    def _announce(self, now: float) -> None:
        changes = self.store.announce(
            now, [w.url for w in self.rules.webhooks],
            lambda record, event: webhook_body(record, event, self.callsigns, now))
        for record, state in changes:
            unit = str(record.get("unit", ""))
            if unit:
                self.publish(f"patrol/{unit}/alarm",
                             json.dumps(device_notice(record, state, now)))


def answer_checkins(store: Store, acks: list[Any], now: float) -> None:
    """Apply crews' answers to check-ins (``patrol/{unit}/ack`` with a check-in id).

    ``accepted: true`` is "I am OK"; ``false`` is "need help" and raises the welfare alarm
    at once. Acks of other ids (taskings) are left alone; a repeat changes nothing.
    """
    for ack in acks:
        if not str(ack.id).startswith(rules_.CHECKIN_PREFIX + "-"):
            continue
        state = "OK" if ack.accepted else "HELP"
        try:
            done = store.end_checkin(ack.id, ack.unit, state, min(ack.ts, now), now)
            if done is not None and not ack.accepted:
                store.raise_alarm(rules_.Raise(ack.unit, rules_.WELFARE, float(done["since"]),
                                               "asked for help at a welfare check-in"), now)
        except redis.RedisError as exc:  # fails safe: an unanswered check-in raises the alarm
            log.warning("could not record the answer to check-in %s: %s", ack.id, exc)


class WebhookSender:
    """POST queued webhook jobs, signed, retried with backoff; drops one after many tries."""

    def __init__(self, store: Store, rules: AlertRules, timeout_s: float = WEBHOOK_TIMEOUT_S):
        self.store, self.rules, self.timeout_s = store, rules, timeout_s

    def run(self, stop: threading.Event, idle_s: float = 0.5) -> None:
        """Send what is due until stopped."""
        while not stop.is_set():
            try:
                jobs = self.store.take_webhook_jobs(time.time())
            except redis.RedisError:
                jobs = []
            for job in jobs:
                self.send(job)
            if not jobs:
                stop.wait(idle_s)

    def send(self, job: dict[str, Any]) -> bool:
        """POST one job; on failure put it back with backoff (2, 4, 8 ... 300 s)."""
        secret = self.rules.secret_for(job["url"])
        if secret is None:
            return False  # no longer configured: the job goes with it
        body = job["body"].encode()
        request = urllib.request.Request(job["url"], data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "PatrolWatch",
            "X-PatrolWatch-Signature": signature(secret, body)})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                if 200 <= answer.status < 300:
                    return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.info("webhook %s failed (%s); will retry", job["url"], exc)
        attempt = int(job.get("attempt", 0)) + 1
        if attempt >= WEBHOOK_ATTEMPTS:
            log.warning("webhook %s dropped after %d attempts", job["url"], attempt)
            return False
        with contextlib.suppress(redis.RedisError):
            self.store.retry_webhook(job, time.time() + min(2.0 ** attempt, WEBHOOK_BACKOFF_MAX_S))
        return False


def run_alarms(settings: Settings, stop: Any, parent: int, level: int, events: Any) -> None:
    """Run the alarm evaluator and webhook sender until stopped (a child of ``ingest``)."""
    from ingest.service import _child_setup
    from patrolwatch.alerts import load_alerts
    from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
    from patrolwatch.roster import load_roster

    done = _child_setup(level, stop, parent)
    # Positions first when CPU is short; an EMERGENCY is raised by the worker itself.
    with contextlib.suppress(OSError):
        os.nice(ALARMS_NICENESS)
    rules = load_alerts(settings.alerts)
    store = Store.from_settings(settings)
    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)

    def publish(topic: str, payload: str) -> None:
        try:
            events.put_nowait((topic, payload))
        except queue.Full:
            log.warning("alarm notice queue full; dropped a message on %s", topic)

    sender = threading.Thread(target=WebhookSender(store, rules).run, args=(done,),
                              name="webhooks", daemon=True)
    sender.start()
    try:
        AlarmEvaluator(settings, store, rules, hotspots, load_roster(settings.units),
                       publish).run(done)
    finally:
        sender.join(timeout=WEBHOOK_TIMEOUT_S + 1)
        events.cancel_join_thread()  # exit even if the parent stopped reading (best effort)
        events.close()


def start(settings: Settings, worker: Any, stop: threading.Event, stop_reader: Any,
          children: list[Any]) -> Callable[[], None]:
    """Start the alarm child process and its forwarder; return the function that joins them.

    The child stops like ingest's other children (``ingest.service``): at EOF on the parent's
    stop pipe, and is reaped with them by ``stop_children``.
    """
    import multiprocessing

    from ingest.service import forward_events, start_child
    from patrolwatch.alerts import load_alerts

    load_alerts(settings.alerts)  # a bad rules file stops the start, saying where (ConfigError)
    spawn = multiprocessing.get_context("spawn")
    events: Any = spawn.Queue(maxsize=10_000)
    child = spawn.Process(target=run_alarms, name="alarms", daemon=True,
                          args=(settings, stop_reader, os.getpid(),
                                logging.getLogger().getEffectiveLevel(), events))
    forwarder = threading.Thread(target=forward_events, args=(events, worker, stop),
                                 name="alarm-notices", daemon=True)
    start_child(child, stop, children)
    forwarder.start()

    def join() -> None:
        forwarder.join(timeout=5)

    return join


def nothing() -> None:
    """Join nothing (the alarm evaluator was not started)."""
