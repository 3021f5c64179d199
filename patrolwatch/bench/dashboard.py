"""`patrolwatch bench dashboard`: /api/units and the live map's refresh with 2,000 and 10,000 units.

Starts its own Redis, writes the fleet's live state through ``Store.write_batch`` exactly as
the ingest worker does (positions around London, a busy evening's status mix, 3% silent long
enough to show as lost contact, one EMERGENCY), builds the real app with ``create_app`` and:

- runs the live-picture producer (dashboard/picture/) as ``patrolwatch ingest`` does, and
  times its build after each write (``producer_build_ms``: paid once per change, whatever
  the number of screens);
- times ``GET /api/units`` through the Flask test client (server time, bytes raw and gzip);
- times the map refresh as the browser asks for it: a POST to ``/_dash-update-component``
  for the 1 s Interval callback, with the version and digests the screen holds: the first
  load (every output), a tick after a fifth of the fleet moved (what one second at
  2,000 msg/s looks like) and a tick with nothing changed; bytes per update;
- in headless Chromium (Debian's chromium + chromedriver), loads the page, moves one unit
  through Redis and times until its marker has moved on the Leaflet map; the browser also
  samples frame gaps (requestAnimationFrame) and the JS heap;
- at 10,000 units, 1, 10 and 30 simulated screens against a dashboard process while the
  fleet moves: server CPU seconds per wall second (patrolwatch/bench/screens.py).

Needs the dev extras (selenium) and Chromium for the browser part; without them that part is
skipped and the figures say why.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from patrolwatch.bench import browser
from patrolwatch.bench.figures import summary, timed
from patrolwatch.core.hotspots import CoverageDefaults, HotspotSet, load_hotspots
from patrolwatch.core.model import Position, Status, StatusChange
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.servers import free_port, redis_server, tempdir, wait_until
from patrolwatch.settings import Settings
from patrolwatch.store import K_GEO, K_POS, K_POS_TS, K_SEEN, K_STATUS, K_STATUS_TS, Batch, Store

SIZES = (2_000, 10_000)
API_REQUESTS = 30
REFRESH_REQUESTS = 20
BROWSER_MOVES = 12
SLOW_REFRESH_MS = 3000
TARGETS = {"refresh_idle_ms": 5.0, "refresh_moved_ms": 50.0, "api_units_ms": 100.0,
           "browser_move_ms_p95": 1200.0, "browser_worst_frame_ms": 100.0,
           "screens_30_vs_1_cpu_ratio": 2.0}  # issue 11
SCREENS_AT = (10_000,)  # sizes that also get the 1, 10 and 30 screens run
STALE_SHARE = 0.03
MOVE_SHARE = 0.2  # one second of a 10,000-unit fleet reporting every 5 s
LONDON = (51.5074, -0.1278)
SPREAD_M = 9_000.0  # standard deviation of unit positions around central London
M_PER_DEG_LAT = 111_320.0
STATUS_MIX = ((Status.ON_PATROL, 52), (Status.AVAILABLE, 18), (Status.EN_ROUTE, 8),
              (Status.AT_SCENE, 8), (Status.COMMITTED, 7), (Status.REFRESHMENT, 5),
              (Status.OFF_DUTY, 2))
LIVE_KEYS = (K_POS, K_POS_TS, K_GEO, K_STATUS, K_STATUS_TS, K_SEEN)


def unit_ids(n: int) -> list[str]:
    """Return ``n`` unit ids like the roster's."""
    return [f"U{i:05d}" for i in range(n)]


def synthetic_roster(ids: list[str]) -> Roster:
    """Return a roster for the fleet: callsigns and teams travel in the map's hideout."""
    kinds = ("foot", "foot", "foot", "cycle", "vehicle")
    units = {uid: RosterUnit(id=uid, callsign=f"{chr(65 + i % 26)}{i // 26 % 100:02d}-{i}",
                             team=f"Team {i % 40}", kind=kinds[i % len(kinds)])
             for i, uid in enumerate(ids)}
    return Roster(units, {})


def jitter(rng: random.Random, lat: float, lon: float, sd_m: float) -> tuple[float, float]:
    """Return a point near (lat, lon), normally spread by ``sd_m`` metres."""
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat))
    return (round(lat + rng.gauss(0, sd_m) / M_PER_DEG_LAT, 6),
            round(lon + rng.gauss(0, sd_m) / m_per_deg_lon, 6))


def fleet_batch(ids: list[str], now: float, stale_after_s: float, seed: int = 5) -> Batch:
    """Return every unit's latest position and status: one EMERGENCY, 3% silent (lost)."""
    rng = random.Random(seed)
    statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
    batch = Batch()
    stale_every = round(1 / STALE_SHARE)
    for i, uid in enumerate(ids):
        lat, lon = jitter(rng, *LONDON, SPREAD_M)
        silent = i % stale_every == 1
        ts = now - (stale_after_s + 120 if silent else rng.uniform(0, 5))
        status = Status.EMERGENCY if i == 0 else rng.choice(statuses)
        batch.positions.append(Position(uid, ts, lat, lon, acc=rng.choice((5.0, 8.0, 12.0)),
                                        speed=round(rng.uniform(0, 2), 1), battery=80.0))
        batch.statuses.append(StatusChange(uid, ts - rng.uniform(60, 3600), status))
    return batch


def moved_batch(ids: list[str], store: Store, share: float, now: float, seed: int) -> Batch:
    """Return fresh positions a few metres on for a share of the fleet."""
    rng = random.Random(seed)
    rows = store.live_rows().positions
    batch = Batch()
    for uid in rng.sample(ids, max(1, int(len(ids) * share))):
        here = rows.get(uid)
        if here is None:  # off duty since before its first position: none was kept
            continue
        lat, lon = jitter(rng, here["lat"], here["lon"], 15.0)
        batch.positions.append(Position(uid, max(now, here["ts"] + 0.001), lat, lon, acc=5.0))
    return batch


def coverage_snapshot(hotspots: HotspotSet, now: float, gap_every: int = 9) -> dict[str, Any]:
    """Return an evaluator-shaped snapshot: every ninth hotspot in a presence gap."""
    entries: dict[str, Any] = {}
    gaps: list[dict[str, Any]] = []
    for i, h in enumerate(hotspots.hotspots):
        gap = i % gap_every == 0
        last_end = now - (h.max_gap_minutes + 20 if gap else 15) * 60
        since = last_end + h.max_gap_minutes * 60
        entries[h.id] = {
            "id": h.id, "active": True, "state": "gap" if gap else "covered",
            "gap_kind": "presence_gap" if gap else None, "gap_since": since if gap else None,
            "overdue_minutes": (now - since) / 60 if gap else 0.0,
            "window_start": now - 3 * 3600, "window_end": now + 3600,
            "last_visit_end": last_end, "reference": last_end, "visits_in_window": 2,
            "qualifying_visits_in_window": 1, "patrol_minutes_in_window": 25.0,
            "officer_minutes_in_window": 40.0, "present_units": [],
            "target_minutes": h.min_visit_minutes, "max_gap_minutes": h.max_gap_minutes,
        }
        if gap:
            lat, lon = h.centroid
            gaps.append({"hotspot": h.id, "name": h.name, "kind": "presence_gap",
                         "since": since, "priority": h.priority,
                         "overdue_minutes": (now - since) / 60, "lat": lat, "lon": lon,
                         "suggested_units": []})
    return {"evaluated_at": now, "feed_fresh": True, "hotspots": entries, "gaps": gaps,
            "dosage": [], "predictability": []}


def refresh_request(app: Any, have: int | None, digests: dict[str, Any] | None
                    ) -> dict[str, Any]:
    """Return the body the browser POSTs to /_dash-update-component for the live refresh."""
    from dashboard import ids

    tick = f"{ids.TICK}.n_intervals"
    key = next(k for k in app.callback_map if f"{ids.PICTURE}.data" in k.strip(".").split("..."))
    spec = app.callback_map[key]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
               for o in key.strip(".").split("...")]
    values = {tick: 7}
    inputs = [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in spec["inputs"]]
    body = {"output": key, "outputs": outputs, "inputs": inputs,
            "state": [{**s} for s in spec["state"]], "changedPropIds": [tick]}
    return with_state(body, have, digests)


def with_state(body: dict[str, Any], have: int | None,
               digests: dict[str, Any] | None) -> dict[str, Any]:
    """Return the refresh body with the version the map holds and the side panel's digests."""
    from dashboard import ids

    values = {f"{ids.PICTURE_HAVE}.data": have, f"{ids.DIGESTS}.data": digests or {}}
    state = [{**s, "value": values.get(f"{s['id']}.{s['property']}")} for s in body["state"]]
    return {**body, "state": state}


def picture_version(answer: dict[str, Any], have: int | None) -> int | None:
    """Return the version a browser holds after this answer (as assets/live.js keeps it)."""
    from dashboard import ids

    picture = answer.get(ids.PICTURE, {}).get("data")
    return int(json.loads(picture)["v"]) if picture else have


class Dashboard:
    """The real app over a seeded Redis, driven through the Flask test client."""

    def __init__(self, settings: Settings, store: Store, roster: Roster,
                 hotspots: HotspotSet) -> None:
        from dashboard.app import create_app

        self.settings, self.store, self.roster, self.hotspots = settings, store, roster, hotspots
        self.app = create_app(settings, store, roster, hotspots)
        self.client = self.app.server.test_client()

    def get(self, path: str, gzipped: bool) -> tuple[float, bytes]:
        """Return (server ms, body bytes as sent) for a GET."""
        headers = {"Accept-Encoding": "gzip"} if gzipped else {}
        ms, resp = timed(lambda: self.client.get(path, headers=headers))
        if resp.status_code != 200:
            raise RuntimeError(f"GET {path} answered {resp.status_code}: {resp.data[:200]!r}")
        return ms, bytes(resp.data)

    def refresh(self, have: int | None, digests: dict[str, Any] | None, gzipped: bool = True
                ) -> tuple[float, bytes, int | None, dict[str, Any]]:
        """Return (server ms, bytes as sent, version held after, new digests) for one refresh."""
        from dashboard import ids

        body = refresh_request(self.app, have, digests)
        headers = {"Accept-Encoding": "gzip"} if gzipped else {}
        ms, resp = timed(lambda: self.client.post("/_dash-update-component", json=body,
                                                  headers=headers))
        if resp.status_code != 200:
            raise RuntimeError(f"refresh answered {resp.status_code}: {resp.data[:300]!r}")
        raw = bytes(resp.data)
        text = gzip.decompress(raw) if resp.headers.get("Content-Encoding") == "gzip" else raw
        answer = json.loads(text)["response"]
        return (ms, raw, picture_version(answer, have),
                answer.get(ids.DIGESTS, {}).get("data") or digests or {})

    @property
    def standby_builds(self) -> int:
        """Return how many pictures this app built itself (0 while a producer runs)."""
        from dashboard.picture import serve

        return serve.screens_for(self.app.server, None).standby.builds  # type: ignore[arg-type]


def api_figures(dash: Dashboard, n: int) -> dict[str, float]:
    """Time GET /api/units ``n`` times (gzip, as browsers and most clients ask)."""
    dash.get("/api/units", gzipped=True)  # warm caches, as a running server has them
    times, body = [], b""
    for _ in range(n):
        ms, body = dash.get("/api/units", gzipped=True)
        times.append(ms)
    _, raw = dash.get("/api/units", gzipped=False)
    s = summary(times)
    return {"api_units_ms_median": s["median"], "api_units_ms_p95": s["p95"],
            "api_units_bytes": float(len(raw)), "api_units_bytes_gzip": float(len(body))}


def producer_for(dash: Dashboard) -> Any:
    """Return a picture producer for the benchmark's app (as ``patrolwatch ingest`` runs one)."""
    from dashboard.deps import Deps
    from dashboard.picture.producer import PictureProducer

    deps = Deps(settings=dash.settings, store=dash.store, roster=dash.roster,
                hotspots=dash.hotspots)
    return PictureProducer(deps, min_interval_s=0.0)


def produce(producer: Any, store: Store) -> None:
    """Build and store the picture now, holding the producer lock as a running producer does."""
    now = time.time()
    if not producer.hold(now):
        raise RuntimeError(f"another picture producer holds the lock: {store.picture_holder()}")
    producer.publish(now, store.live_version())


def refresh_figures(dash: Dashboard, producer: Any, store: Store, ids: list[str], n: int,
                    now: float) -> dict[str, float]:
    """Time the live refresh: first load, a tick after a fifth of the fleet moved, idle ticks.

    The producer builds after each write, outside the timed refresh: its cost is paid once
    per change for every screen (``producer_build_ms``), the refresh's once per screen.
    """
    produce(producer, store)
    first_ms, first_body, have, digests = dash.refresh(None, None)
    _, first_raw, _, _ = dash.refresh(None, None, gzipped=False)
    moving, idle, builds, tick_bytes, tick_raw, idle_bytes = [], [], [], 0, 0, 0
    for i in range(n):
        store.write_batch(moved_batch(ids, store, MOVE_SHARE, now + i + 1, seed=i))
        builds.append(timed(lambda: produce(producer, store))[0])
        ms, body, new_have, new_digests = dash.refresh(have, digests)
        tick_bytes = len(body)
        moving.append(ms)
        if i == 0:  # the same tick uncompressed, for the raw size
            tick_raw = len(dash.refresh(have, digests, gzipped=False)[1])
        have, digests = new_have, new_digests
        ms, body, have, digests = dash.refresh(have, digests)
        idle.append(ms)
        idle_bytes = len(body)
    tick, quiet, build = summary(moving), summary(idle), summary(builds)
    return {"refresh_first_ms": round(first_ms, 1), "refresh_first_bytes": float(len(first_raw)),
            "refresh_first_bytes_gzip": float(len(first_body)),
            "refresh_ms_median": tick["median"], "refresh_ms_p95": tick["p95"],
            "refresh_bytes": float(tick_raw), "refresh_bytes_gzip": float(tick_bytes),
            "refresh_idle_ms_median": quiet["median"], "refresh_idle_ms_p95": quiet["p95"],
            "refresh_idle_bytes": float(idle_bytes),
            "producer_build_ms_median": build["median"], "producer_build_ms_p95": build["p95"],
            "dashboard_standby_builds": float(dash.standby_builds)}


def live_bytes_per_unit(store: Store, units: int) -> float:
    """Return Redis memory of the live-state indexes (hashes, GEO, ZSET) per unit."""
    pipe = store.r.pipeline(transaction=False)
    for key in LIVE_KEYS:
        pipe.memory_usage(key, samples=0)
    return sum(int(b or 0) for b in pipe.execute()) / units


def one_size(settings: Settings, store: Store, hotspots: HotspotSet, n: int,
             browser: bool, work: Path | None = None) -> dict[str, Any]:
    """Seed ``n`` units and return this size's figures (keys prefixed ``u{n}_``)."""
    store.r.flushall()
    ids = unit_ids(n)
    now = time.time()
    store.write_batch(fleet_batch(ids, now, settings.stale_after_s), now=now)
    store.write_coverage(coverage_snapshot(hotspots, now))
    roster = synthetic_roster(ids)
    dash = Dashboard(settings, store, roster, hotspots)
    producer = producer_for(dash)
    out: dict[str, Any] = {"live_bytes_per_unit": round(live_bytes_per_unit(store, n), 1)}
    produce(producer, store)
    out |= api_figures(dash, API_REQUESTS)
    out |= refresh_figures(dash, producer, store, ids, REFRESH_REQUESTS, now)
    if browser:
        with producing(producer):
            out |= browser_figures(dash)
            if out.get("browser_moves_missed") or out.get("browser_first_draw_ms", 0) is None:
                # The default interval starves the map at this size: try a slower one.
                slower = settings.model_copy(update={"refresh_ms": SLOW_REFRESH_MS})
                again = browser_figures(Dashboard(slower, store, roster, hotspots))
                out |= {f"{k}_at_{SLOW_REFRESH_MS}ms": v for k, v in again.items()}
    # The screens run has a producer process of its own: this one hands over the lock.
    producer.store.release_picture_lock(producer.owner)
    if n in SCREENS_AT and work is not None:
        from patrolwatch.bench.screens import run_browser_moving, run_screens

        seed = iter(range(1000, 10**9))
        # The browser part's own units are left to it: the fleet moves the others.
        others = sorted(set(ids) - set(browser_units(store, ids))) if browser else ids

        def move() -> None:
            store.write_batch(moved_batch(others, store, MOVE_SHARE * len(ids) / len(others),
                                          time.time(), next(seed)))

        if browser:
            out |= run_browser_moving(redis_url_of(store), n, work, move, BROWSER_MOVES)
        out |= run_screens(redis_url_of(store), n, work,
                           refresh_request(dash.app, None, None), settings.refresh_ms, move)
    out["server_ok"] = bool(out["api_units_ms_median"] <= TARGETS["api_units_ms"]
                            and out["refresh_ms_median"] <= TARGETS["refresh_moved_ms"]
                            and out["refresh_idle_ms_median"] <= TARGETS["refresh_idle_ms"])
    return {f"u{n}_{k}": v for k, v in out.items()}


def browser_units(store: Store, ids: list[str]) -> list[str]:
    """Return the units the browser part moves itself."""
    return browser.watched(store, ids)[1]


def redis_url_of(store: Store) -> str:
    """Return the redis:// URL the store's client connects to."""
    kw = store.r.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


@contextmanager
def producing(producer: Any) -> Iterator[None]:
    """Run the picture producer on a thread while the block runs (as ingest does)."""
    stop = threading.Event()
    thread = threading.Thread(target=producer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def browser_figures(dash: Dashboard) -> dict[str, Any]:
    """Serve the app over HTTP and measure the live map in headless Chromium."""
    with browser.http_server(dash.app) as port:
        try:
            return {"browser_refresh_ms": dash.settings.refresh_ms,
                    **browser.measure_map_updates(f"http://127.0.0.1:{port}/", dash.store,
                                                  sorted(dash.roster.units), BROWSER_MOVES)}
        except browser.BrowserUnavailableError as exc:
            return {"browser_skipped": str(exc)}


def bench_settings(settings: Settings, redis_url: str, work: Path) -> Settings:
    """Return the settings the benchmark's app runs with: no users (open), no tiles."""
    return settings.model_copy(update={
        "redis_url": redis_url, "users": work / "no-users.yaml", "open_access": True,
        "tile_url": "http://127.0.0.1:9/{z}/{x}/{y}.png",  # refused at once: no network here
        "mqtt_url": f"mqtt://127.0.0.1:{free_port()}",  # nothing is published in this bench
    })


def run(settings: Settings, sizes: tuple[int, ...] = SIZES, browser: bool = True
        ) -> dict[str, Any]:
    """Run the dashboard benchmark at each size; return its figures."""
    load_start = os.getloadavg()[0]
    out: dict[str, Any] = {}
    with tempdir("pw-bench-dash-") as work:
        redis_proc = redis_server(work)
        try:
            store = Store.from_url(redis_proc.url)
            wait_until(store.ping, 10, what="bench Redis answering")
            local = bench_settings(settings, redis_proc.url, work)
            hotspots = load_hotspots(local.hotspots, CoverageDefaults.from_settings(local),
                                     local.zone)
            out["hotspots"] = len(hotspots)
            for n in sizes:
                out |= one_size(local, store, hotspots, n, browser, work)
        finally:
            redis_proc.terminate()
    out["targets"] = TARGETS
    out["loadavg_1m_start"] = round(load_start, 2)
    out["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(run(Settings()), indent=2))
