"""The picture producer: one process at a time turns live state into the stored picture.

It holds ``pw:{pic}:lock`` (with expiry, renewed every second) and polls the live-state
version the ingest bumps with every batch: a new version, or a second gone by (time alone
turns units into lost contact, and acknowledgements, taskings and the coverage snapshot
change without a batch), means one build. A build whose result equals the last one only
says the picture is still current (``checked_at``); otherwise it stores the parts, the
whole units layer and the step from the previous version under the next version number.

It runs as a thread of ``patrolwatch ingest`` (and so of the demo); a dashboard process
uses the same class as a standby when no producer has confirmed the picture lately.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import math
import os
import socket
import threading
import time

import redis

from dashboard.control_room import view
from dashboard.control_room.actions import Live, degraded_messages, read_live
from dashboard.coverage.view import hotspot_states
from dashboard.deps import Deps
from dashboard.picture.build import Built, build, dumps
from dashboard.picture.delta import changes, full_bytes, next_version, step_bytes
from dashboard.picture.parts import SHARED, rendered
from patrolwatch.live import StateCache
from patrolwatch.settings import Settings

log = logging.getLogger(__name__)

EVERY_S = 1.0  # rebuild at least this often: lost contact is a matter of time passing
POLL_S = 0.05  # how often the live version is checked (one GET)
LOCK_TTL_S = 15.0  # a producer that stops renewing is replaced after this; longer than a
# build of a large fleet on a busy machine, so a slow build does not lose the lock
RENEW_EVERY_S = 1.0
GZIP_LEVEL = 1  # /api/units at 10,000 units: level 1 is ~4x faster than 5 for ~10% more bytes


def build_live(deps: Deps, live: Live, now: float) -> Built:
    """Return the picture of what one refresh read (pure: no I/O)."""
    zone = deps.settings.zone
    alarms = view.alarms(live.units, zone, live.acks, live.alarms)
    states = hotspot_states(live.snapshot, (h.id for h in deps.hotspots.hotspots), now,
                                  deps.coverage_max_age_s)
    problems = degraded_messages(deps, live.snapshot, live.stats.last_message_ts, now)
    stats = {"last": live.stats.last_message_ts, "accepted": live.stats.accepted_total,
             "rejected": live.stats.rejected_total}
    return build(live.units, alarms, live.gaps, live.tasked, view.hotspots_hideout(states),
                 problems, stats, zone, live.unknown)


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
        self.entries: dict[str, tuple[float, float, str, int]] | None = None
        self.digests: dict[str, str] | None = None
        self.live_seen: int | None = None
        self.built_at = -math.inf
        self.builds = 0  # how many builds this producer ran (tests count them)
        self.states = StateCache()  # a unit's state is built again only when its rows change
        self._html: dict[str, tuple[str, bytes]] = {}  # shared part -> (digest, rendered)

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
        """Read live state, build, and store what changed (RedisError propagates)."""
        built = build_live(self.deps, read_live(self.deps, now, self.states), now)
        self.builds += 1
        if self.version is None or self.verify:
            # Steps go on from this producer's last picture only if nobody built since.
            raw = self.store.picture_fields(["version"])[0]
            stored = int(raw) if raw else 0
            if stored != self.version:
                self.version, self.entries = stored, None
            self.verify = False
        before = self.entries
        changed, gone = changes(before or {}, built.entries)
        version = next_version(self.version, changed, gone, built.digests,
                               self.digests if before is not None else None)
        # Confirmed when stored, not when read: a slow build must not look like a dead producer.
        fields: dict[str, bytes | str] = {"checked_at": repr(max(now, time.time())),
                                          "live_version": str(live_version)}
        step = None
        if version != self.version:
            units = full_bytes(version, built.entries)
            fields |= {"version": str(version), "built_at": repr(now),
                       "digests": dumps(built.digests),
                       "units": units,
                       "units_len": str(len(units)),
                       "api_units": built.api_units,
                       "api_units_gz": gzip.compress(built.api_units, compresslevel=GZIP_LEVEL)}
            fields |= {f"part:{name}": data for name, data in built.parts.items()}
            fields |= {f"html:{name}": data for name, data in self.render(built).items()}
            # Without the previous entries (just took over) there is no step: screens
            # behind this version reload the whole layer.
            step = step_bytes(version, changed, gone) if before is not None else None
        self.store.write_picture(fields, version, step)
        self.version, self.entries, self.digests = version, built.entries, built.digests
        self.live_seen, self.built_at = live_version, now

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
                self.holding, self.version, self.entries = False, None, None
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
