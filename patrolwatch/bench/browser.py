"""The dashboard benchmark's browser part: headless Chromium watching the live map.

Loads the page, moves one unit at a time through ``Store.write_batch`` and watches every
animation frame until that marker's Leaflet layer is at its new place; samples frame gaps
and the JS heap. Needs the dev extras (selenium) and Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from patrolwatch.bench.figures import summary
from patrolwatch.core.model import Position, Status
from patrolwatch.servers import free_port, wait_until
from patrolwatch.store import Batch, Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


# Arm a watcher for one unit's marker: every animation frame, note the gap since the last
# one and whether the marker is at its new place yet (Leaflet layers of the units layer).
ARM = """
const [uid, lat, lon] = arguments;
performance.clearResourceTimings();
const w = window.__pwBench = {uid: uid, lat: lat, lon: lon, gaps: [], movedAt: null,
                               movedPerf: null, last: performance.now()};
function at() {
  const layers = window.patrolwatch.map._layers;
  for (const k in layers) {
    const f = layers[k].feature;
    if (f && f.properties && f.properties.id === uid && f.properties.s) {
      const ll = layers[k].getLatLng();
      return Math.abs(ll.lat - lat) < 1e-7 && Math.abs(ll.lng - lon) < 1e-7;
    }
  }
  return false;
}
function frame(t) {
  w.gaps.push(t - w.last);
  w.last = t;
  if (w.movedAt === null && at()) { w.movedAt = Date.now(); w.movedPerf = performance.now(); }
  if (w.movedAt === null || performance.now() - w.movedPerf < 300) {
    requestAnimationFrame(frame);
  } else { w.done = true; }
}
requestAnimationFrame(frame);
return true;
"""

# Wait for the watcher; report when the marker moved, the frame gaps and the refresh request.
WAIT = """
const done = arguments[arguments.length - 1];
const deadline = performance.now() + 15000;
(function poll() {
  const w = window.__pwBench;
  if (!w.done && performance.now() < deadline) { setTimeout(poll, 20); return; }
  let best = null;
  for (const e of performance.getEntriesByType("resource")) {
    if (e.name.indexOf("_dash-update-component") < 0 || w.movedPerf === null) { continue; }
    if (e.responseEnd <= w.movedPerf && e.responseEnd > w.movedPerf - 3000
        && (best === null || e.encodedBodySize > best.encodedBodySize)) { best = e; }
  }
  done({movedAt: w.movedAt, gaps: w.gaps,
        applyMs: best ? w.movedPerf - best.responseEnd : null,
        requestMs: best ? best.duration : null,
        heap: performance.memory ? performance.memory.usedJSHeapSize : null});
})();
"""

COUNT_UNITS = """
let n = 0;
const layers = window.patrolwatch && window.patrolwatch.map && window.patrolwatch.map._layers;
for (const k in layers || {}) {
  const f = layers[k].feature;
  if (f && f.properties && f.properties.s) { n += 1; }
}
return n;
"""


class BrowserUnavailableError(RuntimeError):
    """Chromium, chromedriver or selenium is missing: the browser figures are skipped."""


def chromium_driver() -> Any:
    """Start headless Debian Chromium through chromedriver (as tests/browser/conftest.py)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserUnavailableError("selenium is missing: pip install -e '.[dev]'") from exc
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        raise BrowserUnavailableError("apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1600,1000", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"):
        options.add_argument(arg)  # type: ignore[no-untyped-call]
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_script_timeout(30)
    return driver


def watched(store: Store, ids: list[str]) -> tuple[list[str], list[str]]:
    """Return the units drawn on the map and those the browser part moves (one in 97)."""
    rows = store.live_rows()
    drawn = [u for u in ids if rows.statuses[u]["status"] != Status.OFF_DUTY.value]
    movers = [u for u in drawn[2::97] if rows.statuses[u]["status"] != Status.EMERGENCY.value]
    return drawn, movers


def measure_map_updates(url: str, store: Store, ids: list[str], moves: int) -> dict[str, Any]:
    """Load the page, move units through Redis, time until each marker moved on the map.

    A move not seen within 15 s counts as missed (dash-renderer drops a callback answer
    when the next Interval tick fires before it arrives: plotly/dash#1613).
    """
    drawn, movers = watched(store, ids)
    out: dict[str, Any] = {"browser_units_drawn": len(drawn), "browser_moves": moves}
    driver = chromium_driver()
    try:
        began = time.perf_counter()
        driver.get(url)
        try:
            wait_until(lambda: driver.execute_script(COUNT_UNITS) == len(drawn), 60,
                       interval=0.1, what=f"{len(drawn)} unit markers on the map")
        except TimeoutError:
            out["browser_first_draw_ms"] = None
            out["browser_markers_after_60s"] = driver.execute_script(COUNT_UNITS)
            return out
        out["browser_first_draw_ms"] = round((time.perf_counter() - began) * 1000.0)
        latency, apply, request, worst_frame, long_frames, heap = [], [], [], [], 0, 0.0
        for k in range(moves):
            uid = movers[k % len(movers)]
            here = store.live_rows().positions[uid]
            lat, lon = round(here["lat"] + 0.0007, 5), round(here["lon"] - 0.0009, 5)
            driver.execute_script(ARM, uid, lat, lon)
            sent = time.time()
            store.write_batch(Batch(positions=[Position(uid, sent, lat, lon, acc=5.0)]))
            seen = driver.execute_async_script(WAIT)
            gaps = seen["gaps"][1:]
            worst_frame.append(max(gaps, default=0.0))
            long_frames += sum(1 for g in gaps if g > 50)
            heap = float(seen["heap"] or 0) / 2**20
            if seen["movedAt"] is None:
                continue
            latency.append(seen["movedAt"] - sent * 1000.0)
            if seen["applyMs"] is not None:
                apply.append(seen["applyMs"])
                request.append(seen["requestMs"])
    finally:
        driver.quit()
    out |= {"browser_moves_missed": moves - len(latency),
            "browser_move_ms_median": summary(latency)["median"] if latency else None,
            "browser_move_ms_p95": summary(latency)["p95"] if latency else None,
            "browser_apply_ms_median": summary(apply)["median"] if apply else None,
            "browser_request_ms_median": summary(request)["median"] if request else None,
            "browser_worst_frame_ms_median": summary(worst_frame)["median"],
            "browser_long_frames_per_update": round(long_frames / moves, 2),
            "browser_js_heap_mb": round(heap, 1)}
    return out


@contextmanager
def http_server(app: Any) -> Iterator[int]:
    """Serve the app on a free port in a thread (threaded, like the dev server)."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        thread.join(10)
