"""A radio's LIP reports through a real broker and `patrolwatch ingest` onto ``/api/units``."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dashboard.app import create_app
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.mqtt import MqttClient
from patrolwatch.roster import load_roster
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.integration.ingest_process import IngestProcess
from tests.lip_encoder import lat_code, lon_code, long_report, short_report
from tests.services import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RADIO_UNIT, RADIO_ISSI = "CW-413", 1002413  # config/units.yaml


def api_units(redis_url: str) -> dict[str, dict[str, Any]]:
    settings = Settings(redis_url=redis_url, units=ROOT / "config/units.yaml",  # type: ignore[arg-type]
                        hotspots=ROOT / "config/hotspots.geojson",
                        users=ROOT / "no-such-users.yaml", mqtt_url="mqtt://127.0.0.1:9",
                        open_access=True)
    app = create_app(settings, Store.from_url(redis_url), load_roster(settings.units),
                     load_hotspots(settings.hotspots, CoverageDefaults.from_settings(settings),
                                   settings.zone))
    response = app.server.test_client().get("/api/units")
    assert response.status_code == 200, response.data
    return {u["id"]: u for u in response.get_json()["units"]}


def test_a_radio_unit_appears_at_its_decoded_position_with_its_accuracy(
        fresh_mqtt_url: str, redis_url: str, tmp_path: Path) -> None:
    store = Store.from_url(redis_url)
    ingest = IngestProcess(fresh_mqtt_url, redis_url, tmp_path / "ingest.log", evaluator=False)
    ingest.start()
    client = MqttClient(fresh_mqtt_url, f"gateway-{uuid.uuid4().hex[:8]}")
    assert client.start(wait_s=10)
    try:
        ingest.wait_storing(store)
        # Hex text, as `patrolwatch pei` sends: Westminster, error class < 20 m, 9 km/h east.
        pdu = short_report(elapsed=0, lon=lon_code(-0.1276), lat=lat_code(51.5072), error=1,
                           velocity=9, direction=4)
        client.publish(f"tetra/{RADIO_ISSI}/lip", pdu.hex())
        unit = wait_until(lambda: api_units(redis_url)[RADIO_UNIT].get("lat") and
                          api_units(redis_url)[RADIO_UNIT], 30, what=ingest.log()[-2000:])
        assert unit["lat"] == pytest.approx(51.5072, abs=1e-5)
        assert unit["lon"] == pytest.approx(-0.1276, abs=2e-5)
        assert (unit["acc"], unit["source"], unit["stale"]) == (20.0, "tetra", False)

        # Raw bytes, a long report with a circle of uncertainty, sent for an emergency.
        now = time.gmtime()
        later = long_report(time_type=2, moment=(now.tm_mday, now.tm_hour, now.tm_min,
                                                 now.tm_sec), shape=2,
                            lon=lon_code(-0.1300), lat=lat_code(51.5080),
                            shape_codes={"uncertainty": 8}, user=0, extra=2)
        client.publish(f"tetra/{RADIO_ISSI}/lip", later)
        unit = wait_until(lambda: api_units(redis_url)[RADIO_UNIT]["status"] == "EMERGENCY"
                          and api_units(redis_url)[RADIO_UNIT], 30, what=ingest.log()[-2000:])
        assert unit["lat"] == pytest.approx(51.5080, abs=1e-5)
        assert unit["acc"] == pytest.approx(2 * (1.2**8 - 1))

        # An ISSI no unit carries, and a cut PDU: rejected, counted, kept in the log.
        client.publish("tetra/7654321/lip", pdu.hex())
        client.publish(f"tetra/{RADIO_ISSI}/lip", pdu[:7])
        wait_until(lambda: {"unknown_issi", "lip_malformed"} <=
                   set(store.stats().rejected_by_reason), 30, what=ingest.log()[-2000:])
        recent = {r["reason"]: r for r in store.recent_rejections()}
        assert recent["unknown_issi"]["topic"] == "tetra/7654321/lip"
        assert recent["lip_malformed"]["topic"] == f"tetra/{RADIO_ISSI}/lip"

        # Off duty (a status from the unit's app or dispatch): the radio's fixes are not kept.
        off = float(int(time.time()))
        client.publish(f"patrol/{RADIO_UNIT}/status",
                       json.dumps({"ts": off, "status": "OFF_DUTY"}))
        wait_until(lambda: (store.unit_status(RADIO_UNIT) or {}).get("status") == "OFF_DUTY",
                   30, what=ingest.log()[-2000:])
        after = time.gmtime(off + 2)
        client.publish(f"tetra/{RADIO_ISSI}/lip", long_report(
            time_type=2, moment=(after.tm_mday, after.tm_hour, after.tm_min, after.tm_sec),
            lon=lon_code(-0.14), lat=lat_code(51.52)))
        wait_until(lambda: store.stats().rejected_by_reason.get("off_duty"), 30,
                   what=ingest.log()[-2000:])
        assert api_units(redis_url)[RADIO_UNIT]["lat"] == pytest.approx(51.5080, abs=1e-5)
    finally:
        client.stop()
        ingest.stop()


def test_the_simulators_radio_only_units_move_on_the_map(
        mqtt_url: str, redis_url: str, start_worker: Callable[..., Any], tmp_path: Path) -> None:
    """The demo's fleet: units with an issi report by LIP alone, and move."""
    from patrolwatch.sim.publisher import run_simulator
    from tests.integration.conftest import make_settings

    roster = load_roster(ROOT / "config/units.yaml")
    worker = start_worker(roster=roster)
    radio_units = {unit for unit in roster.issis.values()}
    stop = threading.Event()
    settings = make_settings(mqtt_url, redis_url)
    sim = threading.Thread(target=run_simulator, args=(settings, 20, 1.0),
                           kwargs={"stop": stop, "seed": 4}, daemon=True)
    sim.start()
    places: dict[str, set[tuple[float, float]]] = {}

    def moved() -> bool:
        rows = worker.store.live_rows().positions
        for unit in radio_units & set(rows):
            assert rows[unit]["source"] == "tetra", rows[unit]
            places.setdefault(unit, set()).add((rows[unit]["lat"], rows[unit]["lon"]))
        return sum(len(p) >= 3 for p in places.values()) >= 3

    try:
        wait_until(moved, 60, interval=0.2, what=f"radio units moving: {places}")
    finally:
        stop.set()
        sim.join(20)
    native = {u for u, row in worker.store.live_rows().positions.items() if u not in radio_units}
    assert native  # the rest of the fleet still reports natively
