"""``tetra/{issi}/lip`` messages: the roster's issi names the unit, the report a tetra position."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ingest.worker import build_batch
from patrolwatch.config_check import check_config
from patrolwatch.core.messages import ParseContext, parse_message
from patrolwatch.core.model import (
    Position,
    RadioReport,
    Reason,
    Rejection,
    Status,
)
from patrolwatch.core.ratelimit import RateLimiter
from patrolwatch.core.topics import SUBSCRIPTION_FILTERS, TopicFilter, classify, lip_topic
from patrolwatch.errors import ConfigError
from patrolwatch.mqtt import Inbound
from patrolwatch.roster import Roster, RosterUnit, load_roster
from patrolwatch.settings import Settings
from tests.lip_encoder import lat_code, lon_code, short_report

NOW = 1_780_000_000.0
ROSTER = Roster(
    units={"R1": RosterUnit(id="R1", callsign="Radio 1", team="North", issi=2001234)},
    owntracks={}, issis={2001234: "R1"})
CTX = ParseContext(roster=ROSTER, status_codes={})
TOPIC = "tetra/2001234/lip"
PDU = short_report(elapsed=0, lon=lon_code(-0.1276), lat=lat_code(51.5072), error=1,
                   velocity=18, direction=8, extra=0)


def parse(payload: bytes, topic: str = TOPIC) -> object:
    return parse_message(topic, payload, NOW, CTX)


def reason(result: object) -> Reason:
    assert isinstance(result, Rejection), result
    return result.reason


def test_the_topic_is_taken_and_subscribed() -> None:
    kind = classify(TOPIC)
    assert kind is not None and (kind.kind, kind.issi) == ("tetra_lip", "2001234")
    assert any(TopicFilter(f).matches(TOPIC) for f in SUBSCRIPTION_FILTERS)
    assert lip_topic(2001234) == TOPIC
    with pytest.raises(ValueError):
        lip_topic(2**24)


@pytest.mark.parametrize("payload", [PDU, PDU.hex().encode(), PDU.hex().upper().encode(),
                                     b" ".join(bytes([b]).hex().encode() for b in PDU) + b"\n"])
def test_raw_bytes_or_hex_text_become_a_tetra_position_of_the_issis_unit(payload: bytes) -> None:
    result = parse(payload)
    assert isinstance(result, RadioReport) and result.emergency is None
    p = result.position
    assert (p.unit, p.source, p.acc, p.arrival) == ("R1", "tetra", 20.0, NOW)
    assert p.ts == NOW - 5.0  # time elapsed < 5 s: the older end
    assert p.lat == pytest.approx(51.5072, abs=1e-5)
    assert p.lon == pytest.approx(-0.1276, abs=2e-5)
    assert p.speed == pytest.approx(18 / 3.6)
    assert p.heading == 180.0


def test_an_emergency_reason_for_sending_raises_the_units_emergency_at_that_time() -> None:
    result = parse(short_report(lon=1, lat=1, extra=2))
    assert isinstance(result, RadioReport) and result.emergency is not None
    assert (result.emergency.unit, result.emergency.status, result.emergency.ts) == \
        ("R1", Status.EMERGENCY, result.position.ts)
    assert result.emergency.source == "tetra"


def test_user_defined_data_2_is_no_emergency() -> None:
    result = parse(short_report(user=1, extra=2))
    assert isinstance(result, RadioReport) and result.emergency is None


def test_more_than_200_km_is_stored_as_its_lower_bound_and_unknown_as_none() -> None:
    far = parse(short_report(error=6))
    unknown = parse(short_report(error=7))
    assert isinstance(far, RadioReport) and far.position.acc == 200_000.0
    assert isinstance(unknown, RadioReport) and unknown.position.acc is None
    assert far.position.acc is not None and math.isfinite(far.position.acc)


def test_an_unknown_issi_is_rejected_with_its_own_reason() -> None:
    assert reason(parse(PDU, "tetra/7/lip")) is Reason.UNKNOWN_ISSI


@pytest.mark.parametrize("issi", ["abc", "-1", "16777216", "123456789", ""])
def test_an_issi_that_is_not_one_is_an_invalid_unit(issi: str) -> None:
    assert reason(parse(PDU, f"tetra/{issi}/lip")) is Reason.INVALID_UNIT


def test_malformed_and_unsupported_pdus_are_rejected_by_reason() -> None:
    assert reason(parse(PDU[:9])) is Reason.LIP_MALFORMED
    assert reason(parse(b"")) is Reason.LIP_MALFORMED
    assert reason(parse(PDU.hex()[:-2].encode())) is Reason.LIP_MALFORMED
    assert reason(parse(short_report(elapsed=3))) is Reason.LIP_UNSUPPORTED
    assert reason(parse(b"\xc0" + b"\0" * 9)) is Reason.LIP_UNSUPPORTED
    rejection = parse(PDU[:9])
    assert isinstance(rejection, Rejection) and rejection.payload_head == PDU[:9]


def _inbound(payload: bytes, n: int) -> Inbound:
    return Inbound(TOPIC, payload, 1, False, n, 0, NOW + n * 1e-3)


def test_the_worker_stores_the_position_and_never_rate_limits_the_emergency() -> None:
    limiter = RateLimiter(0.1, 10.0)
    messages = [_inbound(short_report(lon=n, lat=n, extra=2), n) for n in range(5)]
    batch = build_batch(messages, CTX, NOW + 1, limiter)
    assert len(batch.statuses) == 5
    assert all(s.status is Status.EMERGENCY for s in batch.statuses)
    assert all(isinstance(p, Position) and p.source == "tetra" for p in batch.positions)
    assert {r.reason for r in batch.rejections} == {Reason.RATE_LIMITED}
    assert len(batch.positions) + len(batch.rejections) == 5


def test_a_duplicate_issi_is_refused_by_the_roster_and_check_config(tmp_path: Path) -> None:
    units = tmp_path / "units.yaml"
    units.write_text("units:\n"
                     "  - {id: R1, callsign: R1, team: T, issi: 2001234}\n"
                     "  - {id: R2, callsign: R2, team: T, issi: 2001234}\n")
    with pytest.raises(ConfigError) as caught:
        load_roster(units)
    assert caught.value.problems == [f"{units}:R2: issi 2001234 already belongs to R1; a radio "
                                     "reports for one unit"]
    settings = Settings(units=units, users=tmp_path / "none.yaml", _env_file=None)
    assert f"{units}:R2: issi 2001234 already belongs to R1; a radio reports for one unit" \
        in check_config(settings)


@pytest.mark.parametrize("issi", ["'2001234'", "true", "-1", "16777216"])
def test_an_issi_must_be_a_24_bit_integer(tmp_path: Path, issi: str) -> None:
    units = tmp_path / "units.yaml"
    units.write_text(f"units:\n  - {{id: R1, callsign: R1, team: T, issi: {issi}}}\n")
    with pytest.raises(ConfigError):
        load_roster(units)


def test_the_shipped_roster_gives_some_units_radios() -> None:
    roster = load_roster(Path("config/units.yaml"))
    assert len(roster.issis) >= 3
