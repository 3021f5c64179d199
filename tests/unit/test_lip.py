"""The LIP decoder (core.lip), field by field, against PDUs the tests encode themselves."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patrolwatch.core.lip import LipError, LipReport, decode, fix_time
from tests.lip_encoder import (
    SHAPE_FIELDS,
    VELOCITY_FIELDS,
    lat_code,
    lon_code,
    long_fields,
    long_report,
    pack,
    short_report,
)

LON_STEP = 360 / 2**25
LAT_STEP = 180 / 2**24
ARRIVAL = datetime(2026, 5, 28, 21, 30, 0, tzinfo=UTC).timestamp()


def problem(data: bytes, bits: int | None = None) -> str:
    with pytest.raises(LipError) as caught:
        decode(data, bits)
    return caught.value.problem


# --- short location report: each field ----------------------------------------------------
def test_a_short_report_of_westminster_decodes_field_by_field() -> None:
    pdu = short_report(elapsed=0, lon=lon_code(-0.1276), lat=lat_code(51.5072), error=1,
                       velocity=5, direction=4, user=0, extra=7)
    assert len(pdu) == 10
    r = decode(pdu)
    assert r.pdu == "short"
    assert r.lat == pytest.approx(51.5072, abs=LAT_STEP)
    assert r.lon == pytest.approx(-0.1276, abs=LON_STEP)
    assert r.accuracy_m == 20.0
    assert r.speed_kmh == 5.0
    assert r.heading_deg == 90.0
    assert (r.time_elapsed, r.reason, r.user_data, r.emergency) == (0, 7, None, False)


def test_the_hex_of_a_known_report_reads_back() -> None:
    # 00 00 | lon 0x0000000 | lat 0x000000 | 111 | 1111111 | 0000 | 0 | 00000010, zero fill
    bits = "0000" + "0" * 49 + "111" + "1111111" + "0000" + "0" + "00000010" + "0000"
    pdu = int(bits, 2).to_bytes(10, "big")
    r = decode(pdu)
    assert (r.lat, r.lon, r.accuracy_m, r.speed_kmh, r.heading_deg) == (0.0, 0.0, None, None, 0.0)
    assert r.emergency


@pytest.mark.parametrize(("code", "metres"), [
    (0, 2.0), (1, 20.0), (2, 200.0), (3, 2_000.0), (4, 20_000.0), (5, 200_000.0),
    (6, math.inf), (7, None)])
def test_position_error_gives_the_largest_error_of_its_class(code: int, metres: float | None
                                                               ) -> None:
    assert decode(short_report(error=code)).accuracy_m == metres


@pytest.mark.parametrize(("code", "kmh"), [
    (0, 0.0), (1, 1.0), (13, 13.0), (28, 28.0), (29, 16 * 1.038 ** 16),
    (100, 16 * 1.038 ** 87), (126, 16 * 1.038 ** 113), (127, None)])
def test_horizontal_velocity_is_linear_to_28_then_geometric_and_127_is_unknown(
        code: int, kmh: float | None) -> None:
    got = decode(short_report(velocity=code)).speed_kmh
    assert got == (None if kmh is None else pytest.approx(kmh))


def test_the_velocity_law_is_continuous_where_it_turns_geometric() -> None:
    assert 28 < decode(short_report(velocity=29)).speed_kmh < 30  # type: ignore[operator]


@pytest.mark.parametrize("code", range(16))
def test_direction_of_travel_is_one_of_16_sectors_of_22_5_degrees(code: int) -> None:
    assert decode(short_report(direction=code)).heading_deg == code * 22.5


@pytest.mark.parametrize(("code", "oldest"), [(0, 5.0), (1, 300.0), (2, 1800.0)])
def test_time_elapsed_places_the_fix_at_the_older_end_of_its_range(code: int, oldest: float
                                                                    ) -> None:
    r = decode(short_report(elapsed=code))
    assert r.time_elapsed == code
    assert fix_time(r, ARRIVAL) == ARRIVAL - oldest


def test_time_elapsed_not_known_cannot_be_placed() -> None:
    with pytest.raises(LipError) as caught:
        fix_time(decode(short_report(elapsed=3)), ARRIVAL)
    assert caught.value.problem == "lip_unsupported"


def test_additional_data_is_a_reason_or_user_defined_data() -> None:
    reason = decode(short_report(user=0, extra=2))
    assert (reason.reason, reason.user_data, reason.emergency) == (2, None, True)
    user = decode(short_report(user=1, extra=2))
    assert (user.reason, user.user_data, user.emergency) == (None, 2, False)


# --- boundaries ----------------------------------------------------------------------------
def test_the_most_negative_codes_are_minus_180_and_minus_90() -> None:
    r = decode(short_report(lon=-(2**24), lat=-(2**23)))
    assert (r.lon, r.lat) == (-180.0, -90.0)


def test_the_most_positive_codes_are_one_step_short_of_180_and_90() -> None:
    r = decode(short_report(lon=2**24 - 1, lat=2**23 - 1))
    assert r.lon == pytest.approx(180 - LON_STEP)
    assert r.lat == pytest.approx(90 - LAT_STEP)


def test_plus_180_is_the_same_meridian_as_minus_180() -> None:
    assert decode(short_report(lon=lon_code(180.0))).lon == -180.0


def test_minus_one_code_is_just_west_and_south_of_zero() -> None:
    r = decode(short_report(lon=-1, lat=-1))
    assert (r.lon, r.lat) == (-LON_STEP, -LAT_STEP)


# --- malformed and unsupported -------------------------------------------------------------
@pytest.mark.parametrize("octets", [*range(1, 10), 11, 12, 20])
def test_a_short_report_of_any_other_length_is_malformed(octets: int) -> None:
    pdu = (short_report(lon=123, lat=-456) + b"\0" * 10)[:octets]
    assert problem(pdu) == "lip_malformed"


def test_an_empty_pdu_is_malformed() -> None:
    assert problem(b"") == "lip_malformed"


@pytest.mark.parametrize("bits", [*range(1, 76), 81, 96])
def test_a_stated_bit_length_other_than_76_to_80_is_malformed(bits: int) -> None:
    pdu = short_report()
    if bits > 80:
        pdu += b"\0" * ((bits - 73) // 8)
    pdu = pdu[: (bits + 7) // 8]
    assert problem(pdu, bits) == "lip_malformed"


@pytest.mark.parametrize("bits", range(76, 81))
def test_a_short_report_stated_as_76_to_80_bits_decodes(bits: int) -> None:
    assert decode(short_report(lon=1, lat=2), bits).lon == LON_STEP


@pytest.mark.parametrize("pdu_type", [0b10, 0b11])
def test_reserved_pdu_types_are_unsupported(pdu_type: int) -> None:
    assert problem(bytes([pdu_type << 6]) + b"\0" * 9) == "lip_unsupported"


@pytest.mark.parametrize("extension", [e for e in range(16) if e != 0b0011])
def test_extension_pdus_other_than_the_long_report_are_unsupported(extension: int) -> None:
    pdu, _ = pack([(0b01, 2), (extension, 4), (0, 26)])
    assert problem(pdu) == "lip_unsupported"


# --- long location report ------------------------------------------------------------------
@pytest.mark.parametrize("shape", [s for s in SHAPE_FIELDS if s != 9])
def test_every_location_shape_with_a_point_decodes(shape: int) -> None:
    r = decode(long_report(shape=shape, lon=lon_code(-2.2426), lat=lat_code(53.4808)))
    assert r.pdu == "long"
    assert r.lat == pytest.approx(53.4808, abs=LAT_STEP)
    assert r.lon == pytest.approx(-2.2426, abs=LON_STEP)


def test_a_circle_gives_its_uncertainty_radius() -> None:
    r = decode(long_report(shape=2, shape_codes={"uncertainty": 10}))
    assert r.shape == "circle"
    assert r.accuracy_m == pytest.approx(2 * (1.2**10 - 1))
    assert decode(long_report(shape=2, shape_codes={"uncertainty": 0})).accuracy_m == 0.0


def test_an_ellipse_gives_its_larger_half_axis_and_keeps_angle_and_confidence() -> None:
    r = decode(long_report(shape=3, shape_codes={"half_major": 12, "half_minor": 4,
                                                  "angle": 200, "confidence": 5}))
    assert r.accuracy_m == pytest.approx(2 * (1.2**12 - 1))
    assert dict(r.fields)["angle"] == 200 and dict(r.fields)["confidence"] == 5


def test_altitude_fields_are_read_past_in_order() -> None:
    r = decode(long_report(shape=8, shape_codes={"half_major": 3, "half_minor": 3,
                                                  "altitude_type": 1, "altitude": 2047,
                                                  "altitude_uncertainty": 6, "confidence": 7},
                           velocity_type=1, velocity_codes={"horizontal": 40}, user=0,
                           extra=2))
    assert dict(r.fields)["altitude"] == 2047
    assert r.speed_kmh == pytest.approx(16 * 1.038 ** 27)
    assert r.emergency


@pytest.mark.parametrize("code", range(8))
def test_point_and_position_error_uses_the_short_reports_error_classes(code: int) -> None:
    short = decode(short_report(error=code)).accuracy_m
    assert decode(long_report(shape=10, shape_codes={"position_error": code})).accuracy_m \
        == short


@pytest.mark.parametrize("shape", [0, 11, 12, 13, 14, 15])
def test_no_shape_reserved_shapes_and_extensions_are_unsupported(shape: int) -> None:
    assert problem(long_report(shape=shape)) == "lip_unsupported"


def test_an_arc_is_unsupported_as_the_radio_is_not_at_its_point() -> None:
    assert problem(long_report(shape=9)) == "lip_unsupported"


@pytest.mark.parametrize("velocity_type", sorted(VELOCITY_FIELDS))
def test_every_velocity_type_decodes_speed_and_direction_where_it_has_them(velocity_type: int
                                                                           ) -> None:
    codes = {"horizontal": 20, "direction": 64, "vertical": 5, "vertical_sign": 1}
    r = decode(long_report(velocity_type=velocity_type, velocity_codes=codes, user=1,
                           extra=99, ack=1))
    names = {n for n, _ in VELOCITY_FIELDS[velocity_type]}
    assert r.speed_kmh == (20.0 if "horizontal" in names else None)
    assert r.heading_deg == (90.0 if "direction" in names else None)
    assert (r.ack_requested, r.user_data, r.reason) == (True, 99, None)


def test_time_type_none_cannot_be_placed_and_reserved_time_type_is_unsupported() -> None:
    with pytest.raises(LipError):
        fix_time(decode(long_report(time_type=0)), ARRIVAL)
    assert problem(long_report(time_type=3)) == "lip_unsupported"


def test_time_of_position_is_the_latest_such_moment_not_after_arrival() -> None:
    today = decode(long_report(time_type=2, moment=(28, 21, 29, 30)))
    assert today.time_of_position == (28, 21, 29, 30)
    assert fix_time(today, ARRIVAL) == ARRIVAL - 30
    yesterday_evening = decode(long_report(time_type=2, moment=(28, 22, 0, 0)))
    assert fix_time(yesterday_evening, ARRIVAL) == \
        datetime(2026, 4, 28, 22, 0, tzinfo=UTC).timestamp()
    thirty_first = decode(long_report(time_type=2, moment=(31, 12, 0, 0)))
    assert fix_time(thirty_first, ARRIVAL) == datetime(2026, 3, 31, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("moment", [(0, 0, 0, 0), (1, 24, 0, 0), (1, 0, 60, 0), (1, 0, 0, 60)])
def test_an_impossible_time_of_position_is_malformed(moment: tuple[int, int, int, int]) -> None:
    assert problem(long_report(time_type=2, moment=moment)) == "lip_malformed"


@pytest.mark.parametrize("shape", [s for s in SHAPE_FIELDS if s != 9])
@pytest.mark.parametrize("velocity_type", [0, 4, 7])
def test_a_long_report_cut_anywhere_is_malformed(shape: int, velocity_type: int) -> None:
    pdu, bits = pack(long_fields(time_type=2, moment=(5, 6, 7, 8), shape=shape,
                                 velocity_type=velocity_type))
    for cut in range(1, bits):
        assert problem(pdu[: (cut + 7) // 8], cut) == "lip_malformed", cut


def test_no_latitude_code_reaches_past_90_degrees_in_either_report() -> None:
    for lat in (2**23 - 1, -(2**23)):
        assert -90 <= decode(short_report(lat=lat)).lat < 90
        assert -90 <= decode(long_report(lat=lat)).lat < 90


def test_octets_after_a_long_report_are_counted_not_decoded() -> None:
    pdu = long_report() + b"\x80\x01"
    assert decode(pdu).extra_bits >= 16


def test_a_pdu_over_the_sds_limit_is_malformed() -> None:
    assert problem(long_report() + b"\0" * 256) == "lip_malformed"


# --- round trips ---------------------------------------------------------------------------
@given(elapsed=st.integers(0, 3), lon=st.integers(-(2**24), 2**24 - 1),
       lat=st.integers(-(2**23), 2**23 - 1), error=st.integers(0, 7),
       velocity=st.integers(0, 127), direction=st.integers(0, 15), user=st.integers(0, 1),
       extra=st.integers(0, 255))
def test_short_reports_round_trip(elapsed: int, lon: int, lat: int, error: int, velocity: int,
                                  direction: int, user: int, extra: int) -> None:
    r = decode(short_report(elapsed=elapsed, lon=lon, lat=lat, error=error, velocity=velocity,
                            direction=direction, user=user, extra=extra))
    assert (round(r.lon / LON_STEP), round(r.lat / LAT_STEP)) == (lon, lat)
    assert dict(r.fields) == {"position_error": error, "horizontal": velocity,
                              "direction_of_travel": direction}
    assert r.time_elapsed == elapsed
    assert (r.user_data if user else r.reason) == extra


@st.composite
def _long_codes(draw: st.DrawFn) -> dict[str, object]:
    shape = draw(st.sampled_from([s for s in SHAPE_FIELDS if s != 9]))
    velocity_type = draw(st.integers(0, 7))
    return {
        "time_type": draw(st.integers(1, 2)), "elapsed": draw(st.integers(0, 3)),
        "moment": (draw(st.integers(1, 28)), draw(st.integers(0, 23)),
                   draw(st.integers(0, 59)), draw(st.integers(0, 59))),
        "shape": shape, "lon": draw(st.integers(-(2**24), 2**24 - 1)),
        "lat": draw(st.integers(-(2**23), 2**23 - 1)),
        "shape_codes": {n: draw(st.integers(0, 2**w - 1)) for n, w in SHAPE_FIELDS[shape]},
        "velocity_type": velocity_type,
        "velocity_codes": {n: draw(st.integers(0, 2**w - 1))
                           for n, w in VELOCITY_FIELDS[velocity_type]},
        "ack": draw(st.integers(0, 1)), "user": draw(st.integers(0, 1)),
        "extra": draw(st.integers(0, 255)),
    }


@given(_long_codes())
def test_long_reports_round_trip(codes: dict[str, object]) -> None:
    pdu, bits = pack(long_fields(**codes))  # type: ignore[arg-type]
    for stated in (bits, None):
        r: LipReport = decode(pdu, stated)
        assert (round(r.lon / LON_STEP), round(r.lat / LAT_STEP)) == (codes["lon"], codes["lat"])
        expected = {**codes["shape_codes"], **codes["velocity_codes"]}  # type: ignore[dict-item]
        assert dict(r.fields) == expected
        assert r.ack_requested is bool(codes["ack"])
        assert (r.user_data if codes["user"] else r.reason) == codes["extra"]
        if codes["time_type"] == 1:
            assert r.time_elapsed == codes["elapsed"]
        else:
            assert r.time_of_position == codes["moment"]
