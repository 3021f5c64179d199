"""The simulated fleet's movement and behaviour model: pure, deterministic with a seed, no I/O.

Time is whatever the caller passes (epoch seconds). :meth:`Fleet.advance` moves every unit
whose report is due and returns what the fleet would send, as plain values; the publishing
loop in :mod:`patrolwatch.sim.publisher` only turns those into MQTT messages.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from patrolwatch.sim.types import (
    AckReport,
    PositionReport,
    Report,
    StatusReport,
    Target,
    Tasking,
    TransitionReport,
    UnitSpec,
    distance_m,
    offset,
)

SPEED_MPS = {"foot": 1.4, "cycle": 4.0, "vehicle": 8.0}  # DOMAIN.md ETA speeds
STROLL_MPS = {"foot": 0.6, "cycle": 0.7, "vehicle": 0.0}  # while lingering; a carrier parks
URGENT_FACTOR = 1.25  # blue-light or running to an incident
LINGER_S = (5 * 60.0, 25 * 60.0)  # some visits qualify (>= 10 min), some do not
STREET_LINGER_S = (60.0, 240.0)
TASKED_DWELL_S = (12.5 * 60.0, 18 * 60.0)  # long enough for a qualifying visit: the gap closes
ACK_INTERVALS = (1.0, 6.0)  # a crew answers within 1-6 report intervals (5-30 s by default)
POOR_FIX_SHARE = 0.03  # positions with a poor fix (acc 150 m, not a presence ping)
BOUNDS_MARGIN_M = 1500.0
NEGLECT_MARGIN_M = 250.0  # street stops keep this far from a neglected hotspot's edge
MIN_INTERVAL_S = 0.05  # guards the report schedule against a zero or negative interval
RESPONSE_EPISODE_FACTOR = 0.3  # borough response units: an episode every ~27 min, not 90
# Random status episodes while patrolling: (kind, weight). OFF_DUTY is rare.
EPISODES = (("AVAILABLE", 0.35), ("INCIDENT", 0.35), ("REFRESHMENT", 0.26), ("OFF_DUTY", 0.04))
DECLINE_REASONS = (
    "dealing with a member of the public",
    "escorting a prisoner",
    "vehicle defect",
    "already committed nearby",
)
BUSY_REASONS = {
    "EMERGENCY": "emergency in progress",
    "OFF_DUTY": "off duty",
    "AT_SCENE": "committed at an incident",
    "EN_ROUTE": "en route to an incident",
    "REFRESHMENT": "on refreshment break",
}
MOVING = frozenset({"travel", "incident", "task_travel"})
LINGERING = frozenset({"linger", "task_dwell"})


@dataclass(slots=True)
class SimUnit:
    """One unit's true (noise-free) state; tests read it, only the fleet writes it."""

    spec: UnitSpec
    lat: float
    lon: float
    t: float
    base_speed: float
    battery: float
    drain_per_s: float
    next_episode: float
    activity: str = "travel"
    status: str = "ON_PATROL"
    status_until: float = math.inf  # a timed status (AVAILABLE) that reverts to ON_PATROL
    until: float = math.inf  # end of a timed activity
    dest: tuple[float, float] = (0.0, 0.0)
    leg_speed: float = 1.0
    anchor: tuple[float, float] = (0.0, 0.0)
    wander_m: float = 0.0
    target: Target | None = None
    heading: float = 0.0
    odometer_m: float = 0.0
    seq: int = 0
    last_report_t: float | None = None
    last_report_odo: float = 0.0
    tasking_id: str | None = None
    seen_taskings: set[str] = field(default_factory=set)


class Fleet:
    """N units patrolling between hotspots, answering taskings, now and then changing status."""

    def __init__(
        self,
        specs: Sequence[UnitSpec],
        targets: Sequence[Target],
        *,
        start: float,
        interval_s: float = 5.0,
        seed: int | None = None,
        emergency_every_s: float = 1800.0,
        episode_every_s: float = 5400.0,
        accept_share: float = 0.85,
        neglect: Collection[str] = (),
    ) -> None:
        if not targets:
            raise ValueError("the simulator needs at least one hotspot to patrol")
        self.rng = random.Random(seed)
        self.by_target_id = {t.id: t for t in targets}
        # Hotspots ordinary patrol never picks (a taskforce stretched thin): they become gaps,
        # so the demo shows the job; a tasking still sends a unit there.
        self.neglected = frozenset(neglect) & set(self.by_target_id)
        self.targets = [t for t in targets if t.id not in self.neglected] or list(targets)
        if len(self.targets) == len(targets):
            self.neglected = frozenset()
        self.interval_s = max(interval_s, MIN_INTERVAL_S)
        self.emergency_every_s = emergency_every_s
        self.episode_every_s = episode_every_s
        self.accept_share = accept_share
        lats = [t.lat for t in targets]
        lons = [t.lon for t in targets]
        south, west = offset(min(lats), min(lons), -BOUNDS_MARGIN_M, -BOUNDS_MARGIN_M)
        north, east = offset(max(lats), max(lons), BOUNDS_MARGIN_M, BOUNDS_MARGIN_M)
        self.bounds = (south, west, north, east)
        self._out: list[Report] = []
        self.units = [self._new_unit(spec, start) for spec in specs]
        self.index = {u.spec.id: i for i, u in enumerate(self.units)}
        self._reports: list[tuple[float, int]] = [
            (start + self.rng.uniform(0, self.interval_s), i) for i in range(len(self.units))
        ]
        heapq.heapify(self._reports)
        self._acks: list[tuple[float, int, Tasking]] = []
        self._ack_counter = 0
        self._next_emergency = start + self._exp(emergency_every_s)
        self._started = False
        self._start = start

    @property
    def start(self) -> float:
        """Return when the simulated shift began (in the past when history is replayed)."""
        return self._start

    def go_live(self, now: float, interval_s: float, emergency_every_s: float = 1800.0) -> None:
        """Switch from replaying history (coarse, no emergencies) to live reporting at ``now``.

        Reports already due at the history's coarse interval are brought within one live
        interval, and emergencies start: none is raised in the past, so a demo does not open
        on alarms that ended hours ago.
        """
        self.interval_s = max(interval_s, MIN_INTERVAL_S)
        self.emergency_every_s = emergency_every_s
        self._next_emergency = now + self._exp(emergency_every_s)
        self._reports = [(min(t, now + self.rng.uniform(0, self.interval_s)), i)
                         for t, i in self._reports]
        heapq.heapify(self._reports)

    # -- set-up ---------------------------------------------------------------------------------
    def _exp(self, mean: float) -> float:
        return self.rng.expovariate(1.0 / mean) if mean > 0 and math.isfinite(mean) else math.inf

    def _new_unit(self, spec: UnitSpec, start: float) -> SimUnit:
        rng = self.rng
        home = self._weighted(self.targets)
        # Response units start the shift out on calls and beats, up to ~2 km from a hotspot.
        response = spec.street_share > 0.5
        spread = 5.0 if response else 1.0
        lat, lon = self._clamp(*offset(home.lat, home.lon, spread * rng.uniform(-400, 400),
                                       spread * rng.uniform(-400, 400)))
        powered = spec.kind == "vehicle"  # a carrier's tracker runs off the vehicle
        unit = SimUnit(
            spec=spec, lat=lat, lon=lon, t=start,
            base_speed=SPEED_MPS.get(spec.kind, SPEED_MPS["foot"]) * rng.uniform(0.85, 1.15),
            battery=100.0 if powered else rng.uniform(55.0, 100.0),
            drain_per_s=0.0 if powered else rng.uniform(3.0, 8.0) / 3600.0,
            next_episode=start + self._exp(self._episode_mean(spec)),
        )
        if rng.random() < (0.05 if response else 0.4):  # already at a hotspot at the start
            unit.lat, unit.lon = home.lat, home.lon
            self._linger(unit, home, rng.uniform(0, LINGER_S[1]))
        else:
            self._go(unit, home, (home.lat, home.lon), "travel")
        return unit

    def _episode_mean(self, spec: UnitSpec) -> float:
        """Return the mean time between status episodes: response units take more calls."""
        return self.episode_every_s * (RESPONSE_EPISODE_FACTOR if spec.street_share > 0.5 else 1.0)

    def _weighted(self, targets: Sequence[Target]) -> Target:
        weights = [4 - min(max(t.priority, 1), 3) for t in targets]  # priority 1 weighs 3
        return self.rng.choices(targets, weights=weights)[0]

    def _street_point(self, unit: SimUnit, near_m: float, far_m: float) -> tuple[float, float]:
        """Return a random point between ``near_m`` and ``far_m`` away, clear of neglected areas.

        Routes are straight lines, so a unit may still cross a neglected hotspot; it just
        never stops there.
        """
        rng = self.rng
        dest = (unit.lat, unit.lon)
        for _ in range(8):
            angle, r = rng.uniform(0, 2 * math.pi), rng.uniform(near_m, far_m)
            dest = self._clamp(*offset(unit.lat, unit.lon, r * math.sin(angle),
                                       r * math.cos(angle)))
            if self._clear(dest):
                break
        return dest

    def _clear(self, point: tuple[float, float]) -> bool:
        """Tell whether a point is well away from every neglected hotspot."""
        return all(distance_m(*point, t.lat, t.lon) > t.radius_m + NEGLECT_MARGIN_M
                   for t in (self.by_target_id[h] for h in self.neglected))

    def _clamp(self, lat: float, lon: float) -> tuple[float, float]:
        south, west, north, east = self.bounds
        return min(max(lat, south), north), min(max(lon, west), east)

    # -- the clock ------------------------------------------------------------------------------
    def next_due(self) -> float:
        """Return when the next report, ack or emergency falls due."""
        times = [self._next_emergency]
        if self._reports:
            times.append(self._reports[0][0])
        if self._acks:
            times.append(self._acks[0][0])
        return min(times)

    def advance(self, now: float) -> list[Report]:
        """Run the fleet up to ``now``; return the reports due, oldest first."""
        if not self._started:
            self._started = True
            for unit in self.units:
                status = "AVAILABLE" if self.rng.random() < 0.1 else "ON_PATROL"
                self._set_status(unit, self._start, status, "start of shift")
                if status == "AVAILABLE":
                    unit.status_until = self._start + self.rng.uniform(300, 1200)
        while True:
            due = self.next_due()
            if due > now:
                break
            if self._acks and self._acks[0][0] == due:
                _, _, tasking = heapq.heappop(self._acks)
                self._answer(due, tasking)
            elif due == self._next_emergency:
                self._emergency(due)
                self._next_emergency = due + self._exp(self.emergency_every_s)
            else:
                _, i = heapq.heappop(self._reports)
                self._report(self.units[i], due)
                heapq.heappush(self._reports, (due + self._jittered_interval(), i))
        out, self._out = self._out, []
        return out

    def _jittered_interval(self) -> float:
        return self.interval_s * self.rng.uniform(0.8, 1.2)

    # -- reports --------------------------------------------------------------------------------
    def _report(self, unit: SimUnit, t: float) -> None:
        self._move(unit, t)
        if unit.status_until <= t:
            unit.status_until = math.inf
            self._set_status(unit, t, "ON_PATROL", None)
        if t >= unit.next_episode:
            unit.next_episode = t + self._exp(self._episode_mean(unit.spec))
            if self._free(unit):
                self._episode(unit, t)
        unit.battery = max(3.0, unit.battery - unit.drain_per_s * (t - (unit.last_report_t or t)))
        moved = unit.odometer_m - unit.last_report_odo
        elapsed = t - unit.last_report_t if unit.last_report_t is not None else 0.0
        unit.last_report_t, unit.last_report_odo = t, unit.odometer_m
        if unit.activity == "off":  # no tracking off duty (DOMAIN.md, privacy)
            return
        rng = self.rng
        acc = 150.0 if rng.random() < POOR_FIX_SHARE else 5.0 + 25.0 * rng.random() ** 2
        lat, lon = offset(unit.lat, unit.lon, rng.gauss(0, acc / 3), rng.gauss(0, acc / 3))
        unit.seq += 1
        self._out.append(PositionReport(
            unit=unit.spec.id, ts=t, lat=round(lat, 6), lon=round(lon, 6), acc=round(acc, 1),
            speed=round(moved / elapsed, 2) if elapsed > 0 else 0.0,
            heading=round(unit.heading, 1), battery=round(unit.battery), seq=unit.seq,
        ))

    def _set_status(self, unit: SimUnit, t: float, status: str, note: str | None) -> None:
        unit.status = status
        self._out.append(StatusReport(unit.spec.id, t, status, note))

    def _free(self, unit: SimUnit) -> bool:
        """Tell whether the unit is on ordinary patrol (not tasked, committed or off)."""
        return unit.activity in ("travel", "linger") and unit.status in ("ON_PATROL", "AVAILABLE")

    # -- movement -------------------------------------------------------------------------------
    def _move(self, unit: SimUnit, t_end: float) -> None:
        """Move the unit along its activities until ``t_end``."""
        while unit.t < t_end:
            if unit.activity in MOVING:
                if self._step(unit, unit.dest, unit.leg_speed, t_end):
                    self._arrive(unit)
                continue
            stop_at = min(t_end, unit.until)
            if unit.activity in LINGERING and STROLL_MPS.get(unit.spec.kind, 0.0) > 0:
                if self._step(unit, unit.dest, STROLL_MPS[unit.spec.kind], stop_at):
                    unit.dest = self._waypoint(unit)
            else:
                unit.t = stop_at
            if unit.t >= unit.until:
                self._finish(unit)

    def _step(self, unit: SimUnit, dest: tuple[float, float], speed: float, t_stop: float) -> bool:
        """Move toward ``dest`` at ``speed`` until ``t_stop``; tell whether it got there."""
        dist = distance_m(unit.lat, unit.lon, *dest)
        reach = speed * (t_stop - unit.t)
        if dist <= reach:
            unit.t = unit.t + dist / speed if speed > 0 else t_stop
            fraction = 1.0
        else:
            unit.t = t_stop
            fraction = reach / dist
        if dist > 0:
            dlat, dlon = dest[0] - unit.lat, dest[1] - unit.lon
            east = dlon * math.cos(math.radians(unit.lat))
            unit.heading = math.degrees(math.atan2(east, dlat)) % 360.0
            unit.lat, unit.lon = unit.lat + dlat * fraction, unit.lon + dlon * fraction
            unit.odometer_m += dist * fraction
        return fraction >= 1.0

    def _waypoint(self, unit: SimUnit) -> tuple[float, float]:
        """Return a random point within the unit's wander radius of its anchor."""
        r = unit.wander_m * math.sqrt(self.rng.random())
        angle = self.rng.uniform(0, 2 * math.pi)
        return offset(*unit.anchor, r * math.sin(angle), r * math.cos(angle))

    def _go(self, unit: SimUnit, target: Target | None, dest: tuple[float, float],
            activity: str, urgent: bool = False) -> None:
        unit.activity, unit.target, unit.dest, unit.until = activity, target, dest, math.inf
        unit.leg_speed = unit.base_speed * self.rng.uniform(0.9, 1.1) * (
            URGENT_FACTOR if urgent else 1.0)

    def _linger(self, unit: SimUnit, target: Target | None, seconds: float,
                activity: str = "linger") -> None:
        unit.activity, unit.target, unit.until = activity, target, unit.t + seconds
        unit.anchor = (target.lat, target.lon) if target else (unit.lat, unit.lon)
        unit.wander_m = min(max(target.radius_m * 0.5, 5.0), 40.0) if target else 20.0
        unit.dest = self._waypoint(unit)
        if target and unit.spec.owntracks:
            self._transition(unit, "enter", target)

    def _hold(self, unit: SimUnit, seconds: float, activity: str = "hold") -> None:
        unit.activity, unit.target, unit.until = activity, None, unit.t + seconds

    def _transition(self, unit: SimUnit, event: str, target: Target) -> None:
        self._out.append(TransitionReport(unit.spec.id, unit.t, event, target.id, target.name,
                                          unit.lat, unit.lon))

    def _arrive(self, unit: SimUnit) -> None:
        if unit.activity == "incident":
            self._set_status(unit, unit.t, "AT_SCENE", "at scene")
            self._hold(unit, self.rng.uniform(600, 1800))
        elif unit.activity == "task_travel":
            self._set_status(unit, unit.t, "ON_PATROL", f"arrived for tasking {unit.tasking_id}")
            self._linger(unit, unit.target, self.rng.uniform(*TASKED_DWELL_S), "task_dwell")
        elif unit.target is not None:
            self._linger(unit, unit.target, self.rng.uniform(*LINGER_S))
        else:
            self._linger(unit, None, self.rng.uniform(*STREET_LINGER_S))

    def _finish(self, unit: SimUnit) -> None:
        """End a timed activity: restore the status if needed, then patrol on."""
        if unit.target is not None and unit.spec.owntracks and unit.activity in LINGERING:
            self._transition(unit, "leave", unit.target)
        if unit.activity == "task_dwell":
            unit.tasking_id = None
        if unit.status in ("EMERGENCY", "AT_SCENE", "REFRESHMENT", "OFF_DUTY"):
            note = {"EMERGENCY": "emergency cleared: officer safe", "OFF_DUTY": "back on duty",
                    "REFRESHMENT": "refreshment over", "AT_SCENE": "clear from scene"}
            if unit.status == "REFRESHMENT":
                unit.battery = 100.0
            self._set_status(unit, unit.t, "ON_PATROL", note[unit.status])
        self._patrol_on(unit)

    def _patrol_on(self, unit: SimUnit) -> None:
        """Head for a nearby hotspot (weighted by priority) or a street point between them."""
        rng = self.rng
        if rng.random() < unit.spec.street_share:
            self._go(unit, None, self._street_point(unit, 150, 600), "travel")
            return
        k = {"foot": 5, "cycle": 8}.get(unit.spec.kind, 10)
        leaving = unit.target.id if unit.target else None
        nearest = sorted(
            (t for t in self.targets if t.id != leaving),
            key=lambda t: distance_m(unit.lat, unit.lon, t.lat, t.lon),
        )[:k] or self.targets
        target = self._weighted(nearest)
        self._go(unit, target, (target.lat, target.lon), "travel")

    # -- status episodes and emergencies --------------------------------------------------------
    def _episode(self, unit: SimUnit, t: float) -> None:
        rng = self.rng
        kind = rng.choices([k for k, _ in EPISODES], weights=[w for _, w in EPISODES])[0]
        if kind == "AVAILABLE":
            self._set_status(unit, t, "AVAILABLE", None)
            unit.status_until = t + rng.uniform(300, 1200)
            return
        unit.status_until = math.inf
        if kind == "INCIDENT":
            dest = self._street_point(unit, 300, 3000 if unit.spec.kind == "vehicle" else 1200)
            self._set_status(unit, t, "EN_ROUTE", "called to an incident")
            self._go(unit, None, dest, "incident", urgent=True)
        elif kind == "REFRESHMENT":
            self._set_status(unit, t, "REFRESHMENT", None)
            self._hold(unit, rng.uniform(1200, 2700))
        else:
            self._set_status(unit, t, "OFF_DUTY", "end of tour")
            self._hold(unit, rng.uniform(1800, 5400), "off")

    def _emergency(self, t: float) -> None:
        """Press one patrolling unit's emergency button; it clears after a few minutes."""
        for _ in range(20):
            unit = self.rng.choice(self.units) if self.units else None
            if unit is None:
                return
            self._move(unit, t)
            if self._free(unit):
                unit.status_until = math.inf
                self._set_status(unit, t, "EMERGENCY", "emergency button activated")
                self._hold(unit, self.rng.uniform(120, 360))
                return

    # -- taskings -------------------------------------------------------------------------------
    def receive_tasking(self, tasking: Tasking, now: float) -> bool:
        """Hand a tasking to a simulated crew; it answers after a short delay. False if unknown."""
        i = self.index.get(tasking.unit)
        if i is None:
            return False
        unit = self.units[i]
        if tasking.id in unit.seen_taskings:  # a QoS 1 re-delivery: answered once
            return True
        unit.seen_taskings.add(tasking.id)
        self._ack_counter += 1
        heapq.heappush(self._acks,
                       (now + self.rng.uniform(*ACK_INTERVALS) * self.interval_s,
                        self._ack_counter, tasking))
        return True

    def _answer(self, due: float, tasking: Tasking) -> None:
        unit = self.units[self.index[tasking.unit]]
        tasking_id, lat, lon, hotspot = tasking.id, tasking.lat, tasking.lon, tasking.hotspot
        self._move(unit, due)
        busy: str | None = None
        if unit.activity == "off":
            busy = BUSY_REASONS["OFF_DUTY"]
        elif unit.activity not in ("task_travel", "task_dwell"):  # a newer tasking replaces one
            busy = BUSY_REASONS.get(unit.status)
        if busy is None and self.rng.random() >= self.accept_share:
            busy = self.rng.choice(DECLINE_REASONS)
        if busy is not None:
            self._out.append(AckReport(unit.spec.id, due, tasking_id, False, busy))
            return
        self._out.append(AckReport(unit.spec.id, due, tasking_id, True, None))
        if unit.target is not None and unit.spec.owntracks and unit.activity in LINGERING:
            self._transition(unit, "leave", unit.target)
        unit.tasking_id, unit.status_until = tasking_id, math.inf
        target = self.by_target_id.get(hotspot or "")
        if target is None or distance_m(lat, lon, target.lat, target.lon) > target.radius_m:
            # Keep to the point the control room sent; stay close to it.
            target = Target(hotspot or tasking_id, hotspot or tasking_id, lat, lon, 30.0)
        else:
            target = Target(target.id, target.name, lat, lon,
                            target.radius_m - distance_m(lat, lon, target.lat, target.lon))
        self._set_status(unit, due, "EN_ROUTE", f"tasking {tasking_id}")
        self._go(unit, target, (lat, lon), "task_travel")
