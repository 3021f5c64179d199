"""Simulated radios (sim.radio): their LIP reports decode back to the fleet's own positions."""

from __future__ import annotations

import math
import time

import pytest

from patrolwatch.core.messages import ParseContext, parse_message
from patrolwatch.core.model import RadioReport, Status
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.sim.fleet import Fleet
from patrolwatch.sim.radio import Radios, uncertainty_code, velocity_code
from patrolwatch.sim.types import PositionReport, StatusReport, Target, UnitSpec

TARGETS = [Target("soho", "Old Compton Street", 51.5133, -0.1313, 80, 1),
           Target("kings-cross", "King's Cross", 51.5308, -0.1238, 150, 1)]
ISSI = 1002413
CTX = ParseContext(roster=Roster({"R1": RosterUnit(id="R1", callsign="R1", team="T",
                                                   issi=ISSI)}, {}, {ISSI: "R1"}),
                   status_codes={})


def decoded(topic: str, payload: str, arrival: float) -> RadioReport:
    result = parse_message(topic, payload.encode(), arrival, CTX)
    assert isinstance(result, RadioReport), result
    return result


def test_a_radio_unit_moves_by_lip_and_its_reports_decode_to_its_positions() -> None:
    start = time.time() - 600
    fleet = Fleet([UnitSpec("R1", "vehicle", issi=ISSI), UnitSpec("N1", "foot")], TARGETS,
                  start=start, seed=5, emergency_every_s=math.inf)
    radios = Radios({"R1": ISSI})
    places = []
    t = start
    while t < start + 300:
        t += 5
        for report in fleet.advance(t):
            message = radios.message(report)
            if report.unit != "R1" or not isinstance(report, PositionReport):
                assert message is None  # other units, and a radio unit's statuses, stay native
                continue
            assert message is not None and message[0] == f"tetra/{ISSI}/lip"
            p = decoded(*message, arrival=report.ts + 1).position
            assert (p.unit, p.source, p.ts) == ("R1", "tetra", math.floor(report.ts))
            assert p.lat == pytest.approx(report.lat, abs=1e-5)
            assert p.lon == pytest.approx(report.lon, abs=2e-5)
            assert p.acc == pytest.approx(2 * (1.2 ** uncertainty_code(report.acc) - 1))
            assert p.heading is not None
            assert abs((p.heading - report.heading + 180) % 360 - 180) <= 0.71
            places.append((p.lat, p.lon))
    assert len(places) > 20 and len(set(places)) > 10  # it moves on the map


def test_a_radio_units_emergency_goes_out_as_lip_at_its_last_position() -> None:
    radios = Radios({"R1": ISSI})
    now = time.time()
    assert radios.message(StatusReport("R1", now, "EMERGENCY")) is None  # no position yet
    last = PositionReport("R1", now - 10, 51.5, -0.12, 8.0, 1.2, 90.0, 80, 1)
    radios.message(last)
    message = radios.message(StatusReport("R1", now, "EMERGENCY"))
    assert message is not None
    report = decoded(*message, arrival=now)
    assert report.emergency is not None and report.emergency.status is Status.EMERGENCY
    assert report.position.lat == pytest.approx(51.5, abs=1e-5)
    assert radios.message(StatusReport("R1", now, "AT_SCENE")) is None


@pytest.mark.parametrize("kmh", [0, 1, 14.6, 28.4, 40, 100, 500])
def test_velocity_codes_are_the_nearest(kmh: float) -> None:
    code = velocity_code(kmh / 3.6)
    back = float(code) if code <= 28 else 16 * 1.038 ** (code - 13)
    assert abs(back - kmh) <= max(0.5, kmh * 0.02)


@pytest.mark.parametrize("acc", [0.5, 2, 5, 30, 150, 1000])
def test_uncertainty_codes_cover_the_accuracy(acc: float) -> None:
    code = uncertainty_code(acc)
    assert 2 * (1.2**code - 1) >= acc - 1e-9
    assert code == 0 or 2 * (1.2 ** (code - 1) - 1) < acc


def test_the_unit_panel_says_a_position_came_from_the_radio() -> None:
    from zoneinfo import ZoneInfo

    from dashboard.control_room.unit_panel import render_unit, unit_detail
    from patrolwatch.core.model import UnitState

    state = UnitState(id="R1", callsign="R1", team="T", kind="foot", registered=True,
                      lat=51.5, lon=-0.1, ts=time.time(), last_seen=time.time(),
                      source="tetra")
    rendered = str(render_unit(unit_detail(state, [], ZoneInfo("Europe/London"))))
    assert "via its TETRA radio (LIP)" in rendered
