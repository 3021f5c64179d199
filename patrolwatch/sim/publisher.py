"""The simulated fleet on a real broker: roster and hotspots in, MQTT messages out.

The behaviour lives in :mod:`patrolwatch.sim.fleet` (pure, seeded); this module only reads the
configuration, turns the fleet's reports into native and OwnTracks messages, and feeds the
taskings it receives back to the simulated crews. It is also the benchmarks' load generator,
so the loop does no more than format and publish.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape

from patrolwatch.core.topics import ack_topic, owntracks_topic, position_topic, status_topic
from patrolwatch.errors import ConfigError, problem
from patrolwatch.mqtt import Inbound, MqttClient, url_for_login
from patrolwatch.roster import Roster, load_roster
from patrolwatch.settings import Settings
from patrolwatch.sim import checkins
from patrolwatch.sim.fleet import Fleet
from patrolwatch.sim.radio import Radios
from patrolwatch.sim.types import (
    M_PER_DEG,
    AckReport,
    PositionReport,
    Report,
    StatusReport,
    Target,
    Tasking,
    TransitionReport,
    UnitSpec,
)

log = logging.getLogger(__name__)

# Left for a person: `patrolwatch device CW-401 ...` and the demo's crew login drive this unit.
HUMAN_UNITS = frozenset({"CW-401"})
EXTRA_KINDS = ("foot", "foot", "foot", "cycle", "vehicle")  # units beyond the roster
CONNECT_TIMEOUT_S = 15.0
CLOSE_DRAIN_S = 1.0  # all clients together, on stopping
CLOSE_GRACE_S = 0.5  # past the drain, a client's thread is left to the process's exit
STATS_EVERY_S = 60.0
TASKING_FILTER = "patrol/+/tasking"
HISTORY_MAX_H = 12.0  # --history: a shift, not a week, in one bounded burst
HISTORY_INTERVAL_S = 90.0  # a position every 90 s: under the 120 s a visit allows between pings
HISTORY_MAX_RATE = 800.0  # history messages a second, in all
HISTORY_UNIT_RATE = 4.0  # history messages a second from one unit


# -- configuration -----------------------------------------------------------------------------

HOTSPOT_TEAM_STREET_SHARE = 0.2  # taskforce and VAWG units: mostly hotspot patrols
RESPONSE_STREET_SHARE = 0.75  # borough response and dog units: mostly calls and beats


def street_share(team: str) -> float:
    """Return how much of a unit's patrol happens away from hotspots, by its team."""
    hotspot_teams = ("taskforce", "tsg", "vawg")
    if any(t in team.lower() for t in hotspot_teams):
        return HOTSPOT_TEAM_STREET_SHARE
    return RESPONSE_STREET_SHARE

def _inner_target(geometry: Polygon | MultiPolygon, fid: str, name: str, priority: int) -> Target:
    """Return a polygon's pole of inaccessibility and its distance to the edge, in metres."""
    if isinstance(geometry, MultiPolygon):
        geometry = max(geometry.geoms, key=lambda g: g.area)
    lon0, lat0 = geometry.centroid.x, geometry.centroid.y
    scale = math.cos(math.radians(lat0)) * M_PER_DEG
    local = shapely.transform(geometry, lambda xy: (xy - (lon0, lat0)) * (scale, M_PER_DEG))
    # The centre of the largest circle inside: a concave area's centroid may lie outside it.
    spoke = shapely.maximum_inscribed_circle(local, tolerance=1.0)
    (x, y), _ = spoke.coords
    return Target(fid, name, lat0 + y / M_PER_DEG, lon0 + x / scale, max(spoke.length, 1.0),
                  priority)


def targets_from_geojson(data: Any, path: Path | str = "hotspots") -> list[Target]:
    """Turn a hotspot FeatureCollection into patrol targets; raise ConfigError if unusable."""
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise ConfigError([problem(path, "features", "expected a GeoJSON FeatureCollection")])
    targets: list[Target] = []
    problems: list[str] = []
    for index, feature in enumerate(features):
        props = (feature.get("properties") if isinstance(feature, dict) else None) or {}
        fid = str(props.get("id", f"#{index}"))
        priority = props.get("priority", 2)
        priority = priority if isinstance(priority, int) else 2
        try:
            geometry = shape(feature["geometry"])
        except Exception as exc:
            problems.append(problem(path, fid, f"unreadable geometry: {exc}"))
            continue
        name = str(props.get("name", fid))
        if isinstance(geometry, Point):
            radius = props.get("radius_m")
            if not isinstance(radius, int | float) or radius <= 0:
                problems.append(problem(path, fid, "a Point hotspot needs radius_m > 0"))
                continue
            targets.append(Target(fid, name, geometry.y, geometry.x, float(radius), priority))
        elif isinstance(geometry, Polygon | MultiPolygon) and not geometry.is_empty:
            targets.append(_inner_target(geometry, fid, name, priority))
        else:
            problems.append(problem(path, fid, f"{geometry.geom_type} is not a hotspot area"))
    if problems:
        raise ConfigError(problems)
    if not targets:
        raise ConfigError([problem(path, "features", "no hotspots: the fleet has nowhere to go")])
    return targets


def _read_hotspots(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([problem(path, "hotspots", "file not found (set PATROL_HOTSPOTS)")]
                          ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError([problem(path, "hotspots", f"cannot read: {exc}")]) from None


ALL_DAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def every_day(schedule: Any) -> bool:
    """Tell whether a hotspot's schedule (CONTRACT section 5) is active on every day."""
    if not schedule:
        return True
    return isinstance(schedule, list) and all(
        isinstance(rule, dict) and {str(d).lower() for d in rule.get("days") or []} >= ALL_DAYS
        for rule in schedule)


def load_targets(path: Path) -> list[Target]:
    """Read the hotspot file and return the fleet's patrol targets."""
    return targets_from_geojson(_read_hotspots(path), path)


def left_uncovered(data: Any, count: int) -> list[str]:
    """Return up to ``count`` hotspots the fleet leaves to become gaps: ones active every day.

    A hotspot with no schedule, or one whose every rule runs all seven days, is active every
    day, so a gap there shows whenever the simulator runs; the lowest priority go first (then
    by id, so the choice is the same every run). Never every hotspot: some must be patrolled.
    """
    features = data.get("features") if isinstance(data, dict) else None
    if count <= 0 or not isinstance(features, list):
        return []
    always: list[tuple[int, str]] = []
    for feature in features:
        props = (feature.get("properties") if isinstance(feature, dict) else None) or {}
        if "id" not in props or not every_day(props.get("schedule")):
            continue
        priority = props.get("priority", 2)
        always.append((-priority if isinstance(priority, int) else -2, str(props["id"])))
    always.sort()
    return [hid for _, hid in always[:min(count, max(len(features) - 1, 0))]]


def fleet_specs(roster: Roster, count: int) -> list[UnitSpec]:
    """Pick ``count`` units spread across the roster's teams; invent unregistered ones beyond it."""
    pool = [u for u in roster.units.values() if u.id not in HUMAN_UNITS]
    n = min(count, len(pool))
    picked = [pool[(i * len(pool)) // n] for i in range(n)]
    specs = []
    for u in picked:
        user, _, device = (u.owntracks or "").partition("/")
        specs.append(UnitSpec(u.id, u.kind, (user, device) if u.owntracks else None,
                              street_share=street_share(u.team), issi=u.issi))
    for n in range(count - len(specs)):
        specs.append(UnitSpec(f"SIM-{n + 1:05d}", EXTRA_KINDS[n % len(EXTRA_KINDS)]))
    return specs


def _roster(settings: Settings) -> Roster:
    if not settings.units.exists():
        log.warning("no roster at %s (PATROL_UNITS): simulating unregistered units only",
                    settings.units)
        return Roster.empty()
    return load_roster(settings.units)


# -- message formats ---------------------------------------------------------------------------
def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def native_message(report: Report) -> tuple[str, bytes] | None:
    """Return the native (topic, payload) for a report, or None for OwnTracks-only events."""
    body: dict[str, Any]
    if isinstance(report, PositionReport):
        body = {"ts": round(report.ts, 3), "lat": report.lat, "lon": report.lon,
                "acc": report.acc, "speed": report.speed, "heading": report.heading,
                "battery": report.battery, "seq": report.seq}
        return position_topic(report.unit), _dump(body)
    if isinstance(report, StatusReport):
        body = {"ts": round(report.ts, 3), "status": report.status}
        if report.note:
            body["note"] = report.note
        return status_topic(report.unit), _dump(body)
    if isinstance(report, AckReport):
        body = {"id": report.tasking_id, "ts": round(report.ts, 3), "accepted": report.accepted}
        if report.reason:
            body["reason"] = report.reason
        return ack_topic(report.unit), _dump(body)
    return None


def owntracks_message(report: PositionReport | TransitionReport, user: str, device: str
                      ) -> tuple[str, bytes]:
    """Return the OwnTracks (topic, payload) for a location or a region transition."""
    tid = device[-2:].upper()
    topic = owntracks_topic(user, device)
    if isinstance(report, TransitionReport):
        body: dict[str, Any] = {
            "_type": "transition", "tst": int(report.ts), "wtst": int(report.ts) - 86_400,
            "lat": round(report.lat, 6), "lon": round(report.lon, 6), "acc": 10, "tid": tid,
            "event": report.event, "desc": report.name, "t": "c",
        }
        return f"{topic}/event", _dump(body)
    # Extra fields the app sends (tid, alt, conn, bs, m, t, created_at) must be ignored.
    body = {
        "_type": "location", "tid": tid, "tst": int(report.ts), "lat": report.lat,
        "lon": report.lon, "acc": round(report.acc), "alt": 25, "vel": round(report.speed * 3.6),
        "cog": round(report.heading) % 360, "batt": round(report.battery), "bs": 1, "conn": "m",
        "m": 2, "t": "t", "created_at": int(report.ts),
    }
    return topic, _dump(body)


def parse_tasking(message: Inbound) -> Tasking | None:
    """Read a tasking addressed to a unit; None (and a warning) if it is not one."""
    parts = message.topic.split("/")
    try:
        body = json.loads(message.payload)
        tasking = Tasking(parts[1], str(body["id"]), float(body["lat"]), float(body["lon"]),
                          str(body["hotspot"]) if body.get("hotspot") is not None else None)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        log.warning("ignored a tasking on %s that cannot be read (%r): %.200r",
                    message.topic, exc, message.payload)
        return None
    if not (math.isfinite(tasking.lat) and math.isfinite(tasking.lon)):
        log.warning("ignored tasking %s on %s: lat/lon not finite", tasking.id, message.topic)
        return None
    return tasking


# -- the publishing loop -----------------------------------------------------------------------
class _Publisher:
    """One connection for the native units, one per OwnTracks phone (each has its last-will)."""

    def __init__(self, url: str, specs: Sequence[UnitSpec], start: float,
                 password_file: Path | None = None) -> None:
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.native = MqttClient(url, f"patrolwatch-sim-{os.getpid()}",
                                 subscriptions=[(TASKING_FILTER, 1), (checkins.FILTER, 1)],
                                 on_message=self.inbox.put)
        self.phones: dict[str, tuple[MqttClient, str, str]] = {}
        lwt = _dump({"_type": "lwt", "tst": int(start)})
        for spec in specs:
            if spec.owntracks:
                user, device = spec.owntracks
                client = MqttClient(url_for_login(url, user, password_file),  # its own login
                                    f"owntracks-{user}-{device}",
                                    will=(owntracks_topic(user, device), lwt, 1, False))
                self.phones[spec.id] = (client, user, device)
        self.counts: Counter[str] = Counter()
        self.radios = Radios({s.id: s.issi for s in specs if s.issi is not None})

    def connect(self) -> None:
        """Connect every client; raise ConnectionError if the broker cannot be reached."""
        for client, _, _ in self.phones.values():
            client.start()
        if not self.native.start(wait_s=CONNECT_TIMEOUT_S):
            self.close()
            raise ConnectionError(
                f"cannot reach the MQTT broker at {self.native.address} within "
                f"{CONNECT_TIMEOUT_S:.0f} s: start it, or point PATROL_MQTT_URL at it")

    def send(self, report: Report) -> None:
        """Publish one report in its unit's format."""
        radio = self.radios.message(report)
        if radio is not None:
            self.native.publish(*radio, qos=1)
            self.counts["tetra"] += 1
            return
        phone = self.phones.get(report.unit)
        if phone is not None and isinstance(report, PositionReport | TransitionReport):
            client, user, device = phone
            topic, payload = owntracks_message(report, user, device)
            # The OwnTracks app publishes locations retained; events are not.
            client.publish(topic, payload, qos=1, retain=isinstance(report, PositionReport))
            self.counts["owntracks"] += 1
            return
        message = native_message(report)
        if message is not None:
            self.native.publish(*message, qos=1)
            self.counts[type(report).__name__] += 1

    def close(self, drain_s: float = CLOSE_DRAIN_S) -> None:
        """Disconnect every client (cleanly, so no last-will fires) within ``drain_s`` in all.

        One deadline for every client, not one each: with the broker stopping at the same
        moment (the demo's Ctrl-C), each phone's wait for its last acknowledgement would run
        to its own deadline, and 31 clients held the simulator past the demo's 10 s.
        """
        # In parallel: each stop also joins its network thread, which can sit in a socket
        # wait of its own while the broker goes down; one after another, 31 clients took
        # longer than the demo's 10 s deadline.
        clients = [self.native, *(c for c, _, _ in self.phones.values())]
        threads = [threading.Thread(target=c.stop, kwargs={"drain_s": drain_s}, daemon=True,
                                    name=f"close-{i}") for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + drain_s + CLOSE_GRACE_S
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))


def _stop_event(stop: threading.Event | None) -> tuple[threading.Event, Callable[[], None]]:
    """Return the stop event, installing SIGINT/SIGTERM handlers if the caller gave none."""
    if stop is not None:
        return stop, lambda: None
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return event, lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: event.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return event, restore


def run_simulator(settings: Settings, units: int = 200, interval_s: float = 5.0, *,
                  stop: threading.Event | None = None, seed: int | None = None,
                  history_h: float = 0.0, gaps: int = 0) -> None:
    """Run ``units`` simulated units against the broker until stopped.

    ``history_h`` hours of the shift so far are published first, with their past times, as
    devices flushing their buffers would (see ``publish_history``). ``gaps`` always-active
    hotspots are left to ordinary patrol's neglect, so they become gaps (``left_uncovered``).
    """
    if units < 1:
        raise ValueError(f"--units must be at least 1, not {units}")
    if not interval_s > 0:
        raise ValueError(f"--interval must be a positive number of seconds, not {interval_s}")
    if not 0 <= history_h <= HISTORY_MAX_H:
        raise ValueError(f"--history must be 0 to {HISTORY_MAX_H:g} hours, not {history_h:g}")
    data = _read_hotspots(settings.hotspots)
    targets = targets_from_geojson(data, settings.hotspots)
    neglect = left_uncovered(data, gaps)
    if neglect:
        log.info("left uncovered so gaps show: %s", ", ".join(neglect))
    specs = fleet_specs(_roster(settings), units)
    now = time.time()
    start = now - history_h * 3600.0
    fleet = (Fleet(specs, targets, start=start, interval_s=HISTORY_INTERVAL_S, seed=seed,
                   emergency_every_s=math.inf, neglect=neglect)
             if history_h else Fleet(specs, targets, start=start, interval_s=interval_s,
                                     seed=seed, neglect=neglect))
    publisher = _Publisher(settings.mqtt_url, specs, start, settings.mqtt_password_file)
    stop, restore = _stop_event(stop)
    try:
        publisher.connect()
        log.info("simulating %d units (%d OwnTracks) over %d hotspots, a position every %.1f s, "
                 "on %s", len(specs), len(publisher.phones), len(targets), interval_s,
                 publisher.native.address)
        if history_h:
            publish_history(fleet, publisher, now, stop, rate=history_rate(len(specs)))
            fleet.go_live(time.time(), interval_s)
        _loop(fleet, publisher, stop)
    finally:
        publisher.close()
        restore()
    log.info("simulator stopped: %s", dict(publisher.counts))


def history_rate(units: int) -> float:
    """Return how many history messages a second to publish: bounded in total and per unit.

    Per unit it stays under the worker's per-unit limit (PATROL_UNIT_MAX_RATE, 5 a second
    by default); in total under what the embedded broker takes without queueing up.
    """
    return float(min(HISTORY_MAX_RATE, HISTORY_UNIT_RATE * max(units, 1)))


def publish_history(fleet: Fleet, publisher: _Publisher, now: float, stop: threading.Event,
                    rate: float) -> int:
    """Publish the fleet's reports from its start up to ``now``, oldest first, at ``rate``/s.

    Real MQTT messages with their own past times, through the broker and the worker, as a
    handheld flushing its buffer after a dead spot sends them; return how many were sent.
    """
    # By event time (stable: a unit's own messages keep their order at equal times).
    reports = sorted(fleet.advance(now), key=lambda r: r.ts)
    began = time.monotonic()
    for sent, report in enumerate(reports, start=1):
        publisher.send(report)
        ahead = sent / rate - (time.monotonic() - began)
        if ahead > 0.05 and stop.wait(ahead):
            return sent
    log.info("history: %d messages from the last %.1f h published in %.0f s", len(reports),
             (now - fleet.start) / 3600.0, time.monotonic() - began)
    return len(reports)


def _loop(fleet: Fleet, publisher: _Publisher, stop: threading.Event) -> None:
    next_stats = time.monotonic() + STATS_EVERY_S
    while not stop.is_set():
        now = time.time()
        while True:
            try:
                message = publisher.inbox.get_nowait()
            except queue.Empty:
                break
            if checkins.answer(message, publisher.native):  # welfare check-ins (issue 18)
                continue
            tasking = parse_tasking(message)
            if tasking is not None and fleet.receive_tasking(tasking, now):
                log.info("tasking %s for %s received", tasking.id, tasking.unit)
        for report in fleet.advance(now):
            publisher.send(report)
        if time.monotonic() >= next_stats:
            next_stats += STATS_EVERY_S
            log.info("sent so far: %s", dict(publisher.counts))
        stop.wait(min(max(fleet.next_due() - time.time(), 0.0), 0.25))
