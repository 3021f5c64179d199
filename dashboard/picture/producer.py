"""The picture producer: one process at a time turns live state into the stored picture.

It holds ``pw:{pic}:lock`` (with expiry, renewed every second) and polls the live-state
version the ingest bumps with every batch: a new version, or a second gone by (time alone
turns units into lost contact, and acknowledgements, taskings and the coverage snapshot
change without a batch), means one build. A build whose result equals the last one only
says the picture is still current (``checked_at``); otherwise it stores the parts, the
whole units layer and the step from the previous version under the next version number.

A build costs in proportion to what moved (issue 20): the ingest adds every unit it wrote to
a set in the same round trip as the write (``store.mark_changed``); the producer empties that
set and reads those units alone, and keeps every unit's state and picture pieces in a
``Fleet`` (units whose lost-contact state turns with time come from its deadlines). It reads
the whole fleet only when it starts, takes over from another producer, or every
``FULL_EVERY_S`` as a safety net for writes that bypass the set (a flush, a restore).

It runs in a child process of ``patrolwatch ingest`` (and so of the demo); a dashboard
process uses the same class as a standby when no producer has confirmed the picture lately.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import math
import os
import socket
import threading
import time
from typing import Any

import redis

from dashboard.control_room import view
from dashboard.control_room.actions import Live, complete_live, degraded_messages
from dashboard.coverage.view import hotspot_states
from dashboard.deps import Deps
from dashboard.picture.build import Built, build, dumps
from dashboard.picture.delta import changes, next_version, step_bytes
from dashboard.picture.fleet import Fleet
from dashboard.picture.parts import SHARED, rendered
from patrolwatch.settings import Settings
from patrolwatch.store.live import LiveStore

log = logging.getLogger(__name__)

EVERY_S = 1.0  # rebuild at least this often: lost contact is a matter of time passing
POLL_S = 0.05  # how often the live version is checked (one GET)
LOCK_TTL_S = 15.0  # a producer that stops renewing is replaced after this; longer than a
# build of a large fleet on a busy machine, so a slow build does not lose the lock
RENEW_EVERY_S = 1.0
GZIP_LEVEL = 1  # /api/units at 10,000 units: level 1 is ~4x faster than 5 for ~10% more bytes
FULL_EVERY_S = 300.0  # read every unit again this often: writes that bypass the changed set
# The side panel and /api/units follow positions at most this often (the map at every build);
# a status change or a new unit brings them along at once.
SIDE_EVERY_S = 1.0


def build_live(deps: Deps, live: Live, now: float) -> Built:
    """Return the picture of what one refresh read (pure: no I/O)."""
    zone = deps.settings.zone
    alarms = view.alarms(live.units, zone, live.acks, live.alarms)
    return build(live.units, alarms, live.gaps, live.tasked, *_others(deps, live, now), zone,
                 live.unknown)


def build_fleet(deps: Deps, fleet: Fleet, live: Live, now: float) -> Built:
    """Return what ``build_live`` returns, from the fleet's pieces (``live.units`` unused)."""
    zone = deps.settings.zone
    alarms = view.alarms(fleet.alarm_units(live.alarms), zone, live.acks, live.alarms)
    return fleet.build(alarms, live.gaps, live.tasked, *_others(deps, live, now), zone,
                       live.unknown)


def _others(deps: Deps, live: Live, now: float) -> tuple[Any, list[str], dict[str, Any]]:
    """Return the hotspot layer's hideout, the degraded messages and the feed line's counters."""
    states = hotspot_states(live.snapshot, (h.id for h in deps.hotspots.hotspots), now,
                            deps.coverage_max_age_s)
    problems = degraded_messages(deps, live.snapshot, live.stats.last_message_ts, now)
    stats = {"last": live.stats.last_message_ts, "accepted": live.stats.accepted_total,
             "rejected": live.stats.rejected_total}
    return view.hotspots_hideout(states), problems, stats


class PictureProducer:
    """Builds and stores the picture while it holds the producer lock."""

    def __init__(self, deps: Deps, *, min_interval_s: float | None = None) -> None:
        self.deps = deps
        self.store = deps.store
        self.min_interval_s = (deps.settings.picture_min_interval_s if min_interval_s is None
                               else min_interval_s)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.holding = False
        self.renewed_at = -math.inf
        self.version: int | None = None  # None until it holds the lock and read the count
        self.verify = True  # read the stored version before the next build
        self.fleet: Fleet | None = None  # None: the next build reads every unit
        self.full_at = -math.inf
        self.digests: dict[str, str] | None = None
        self.live_seen: int | None = None
        self.built_at = -math.inf
        self.builds = 0  # how many builds this producer ran (tests count them)
        self._html: dict[str, tuple[str, bytes]] = {}  # shared part -> (digest, rendered)
        self._coverage: tuple[bytes | None, dict[str, Any] | None] = (None, None)
        self.side_at = -math.inf

    def hold(self, now: float) -> bool:
        """Take or renew the lock when due; tell whether this producer holds it."""
        if self.holding and now - self.renewed_at < RENEW_EVERY_S:
            return True
        if not self.store.acquire_picture_lock(self.owner, LOCK_TTL_S):
            if self.holding:
                log.info("picture producer %s lost the lock", self.owner)
            self.holding = False
            return False
        if not self.holding:
            log.debug("picture producer %s took the lock", self.owner)
            self.verify = True  # another producer may have gone on meanwhile
        self.holding, self.renewed_at = True, now
        return True

    def step(self, now: float) -> bool:
        """Build once if this producer holds the lock and a build is due; tell whether it did."""
        if not self.hold(now):
            return False
        if now - self.built_at < self.min_interval_s:
            return False
        live_version = self.store.live_version()
        if live_version == self.live_seen and now - self.built_at < EVERY_S:
            return False
        self.publish(now, live_version)
        return True

    def publish(self, now: float, live_version: int) -> None:
        """Read what changed, build, and store what changed (RedisError propagates)."""
        if self.version is None or self.verify:
            # Steps and the fleet go on from this producer's last picture only if nobody
            # built since (another producer also emptied the changed set meanwhile).
            raw, by = self.store.picture_fields(["version", "built_by"])
            stored = int(raw) if raw else 0
            if stored != self.version or by != self.owner.encode():
                self.version, self.fleet, self.digests = stored, None, None
            self.verify = False
        fleet, continued = self.read(now)
        side = not continued or fleet.urgent or now - self.side_at >= SIDE_EVERY_S
        built = build_fleet(self.deps, fleet, self.read_others(now, fleet), now) if side else None
        self.builds += 1
        changed, gone = fleet.take_changes()
        if not continued:
            changed, gone = [], []
        digests = built.digests if built is not None else self.digests or {}
        version = next_version(self.version, changed, gone, digests,
                               self.digests if continued else None)
        # Confirmed when stored, not when read: a slow build must not look like a dead producer.
        fields: dict[str, bytes | str] = {"checked_at": repr(max(now, time.time())),
                                          "live_version": str(live_version),
                                          "built_by": self.owner}
        step = None
        if version != self.version:
            units = fleet.full_layer(version)
            fields |= {"version": str(version), "built_at": repr(now), "units": units,
                       "units_len": str(len(units))}
            # Without the previous entries (just took over) there is no step: screens
            # behind this version reload the whole layer.
            step = step_bytes(version, changed, gone) if continued else None
        if built is not None:
            fleet.urgent, self.side_at = False, now
            if version != self.version:
                fields |= {"digests": dumps(built.digests), "api_units": built.api_units,
                           "api_units_gz": gzip.compress(built.api_units,
                                                         compresslevel=GZIP_LEVEL)}
                fields |= {f"part:{name}": data for name, data in built.parts.items()}
                fields |= {f"html:{name}": data for name, data in self.render(built).items()}
        self.store.write_picture(fields, version, step)
        self.version, self.digests = version, digests
        self.live_seen, self.built_at = live_version, now

    def read(self, now: float) -> tuple[Fleet, bool]:
        """Return the fleet brought up to date, and whether it went on from the last build
        (False: read whole, with no previous picture to step from).
        """
        store, settings = self.store, self.deps.settings
        units, _ = store.take_changed()
        fleet = self.fleet
        if fleet is not None and now - self.full_at < FULL_EVERY_S:
            rows = store.live_rows_of(units)
            fleet.update({u: (rows.positions.get(u), rows.statuses.get(u), rows.seen.get(u),
                              rows.lwt.get(u)) for u in units}, now)
            fleet.expire(now)
            return fleet, True
        fresh = Fleet(self.deps.roster, settings.stale_after_s)
        if fleet is not None:
            fresh.acked = fleet.acked  # until the next side build reads acknowledgements
        fresh.load(store.live_rows(), now)
        self.full_at, self.fleet = now, fresh
        fresh.touched = {}
        if fleet is None:
            return fresh, False
        # The periodic reread: the step is whatever differs from the fleet it replaces.
        changed, gone = changes(fleet.entries, fresh.entries)
        fresh.touched = {u: fleet.entries.get(u) for u in [str(c[0]) for c in changed] + gone}
        return fresh, True

    def read_others(self, now: float, fleet: Fleet) -> Live:
        """Read what qualifies the units: coverage, counters, alarms, acks, taskings."""
        coverage, raw_stats = self.store.coverage_and_counters()
        if coverage != self._coverage[0]:  # parsed again only when the evaluator wrote it
            self._coverage = (coverage, json.loads(coverage) if coverage else None)
        return complete_live(self.deps, [], self._coverage[1], LiveStore._stats(raw_stats),
                             now, bool(fleet.emergency))

    def render(self, built: Built) -> dict[str, bytes]:
        """Return the shared parts rendered, rendering again only those whose digest changed."""
        changed = {k for k in SHARED if self._html.get(k, ("", b""))[0] != built.digests[k]}
        fresh = rendered({k: built.parts[k] for k in changed}) if changed else {}
        self._html = {k: (built.digests[k], fresh[k]) if k in fresh else self._html[k]
                      for k in SHARED}
        return {k: data for k, (_, data) in self._html.items()}

    def run(self, stop: threading.Event) -> None:
        """Produce until ``stop`` is set; Redis outages pause it, never end it."""
        while not stop.is_set():
            was = self.holding
            try:
                self.step(time.time())
                if self.holding and not was:
                    log.info("picture producer %s holds the lock", self.owner)
            except redis.RedisError as exc:
                if self.holding:
                    log.warning("picture producer paused, Redis unavailable: %s", exc)
                self.holding, self.version, self.fleet = False, None, None
                self.renewed_at = -math.inf
            stop.wait(POLL_S)
        if self.holding:
            with contextlib.suppress(redis.RedisError):
                self.store.release_picture_lock(self.owner)


def run_producer(settings: Settings, stop: threading.Event) -> int:
    """Load the roster and hotspots (ConfigError if invalid) and produce until ``stop``."""
    from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
    from patrolwatch.roster import load_roster
    from patrolwatch.store import Store

    hotspots = load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                             settings.zone)
    deps = Deps(settings=settings, store=Store.from_settings(settings),
                roster=load_roster(settings.units), hotspots=hotspots)
    log.info("picture producer for %d roster units", len(deps.roster.units))
    PictureProducer(deps).run(stop)
    return 0
