"""parse_message against CONTRACT.md section 3: accepted shapes, every rejection, boundaries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from patrolwatch.core.messages import MAX_PAYLOAD_BYTES, ParseContext, parse_message
from patrolwatch.core.model import (
    Ack,
    LostContact,
    Message,
    Position,
    Reason,
    Rejection,
    Status,
    StatusChange,
    UnitEvent,
)
from patrolwatch.roster import Roster, RosterUnit
from patrolwatch.settings import Settings

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z
NOW_ISO = "2026-05-28T20:26:40Z"
POS = "patrol/A1/position"
STATUS = "patrol/A1/status"
ACK = "patrol/A1/ack"
OT = "owntracks/alice/phone"
OT_EVENT = "owntracks/alice/phone/event"

ROSTER = Roster(
    units={
        "A1": RosterUnit(id="A1", callsign="Alpha 1", team="North"),
        "B7": RosterUnit(id="B7", callsign="Bravo 7", team="South", kind="cycle",
                         owntracks="alice/phone"),
    },
    owntracks={"alice/phone": "B7"},
)
CODES = {"1": Status.AVAILABLE, "6": Status.REFRESHMENT, "0": Status.EMERGENCY}
CTX = ParseContext(roster=ROSTER, status_codes=CODES)
STRICT = ParseContext(roster=ROSTER, status_codes=CODES, strict_roster=True)


def parse(topic: str, payload: dict[str, Any] | bytes | str, *, ctx: ParseContext = CTX,
          now: float = NOW) -> Message | Rejection:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return parse_message(topic, payload, now, ctx)


def rejected(result: Message | Rejection, reason: Reason) -> Rejection:
    assert isinstance(result, Rejection), f"expected {reason.value}, got {result!r}"
    assert result.reason is reason, f"expected {reason.value}, got {result!r}"
    return result


def pos(**fields: Any) -> dict[str, Any]:
    return {"ts": NOW, "lat": 51.5072, "lon": -0.1276, **fields}


# --- native positions ---------------------------------------------------------------------
def test_full_native_position() -> None:
    got = parse(POS, pos(acc=8, speed=1.25, heading=270.5, battery=77, seq=42, unit="A1"))
    assert got == Position("A1", NOW, 51.5072, -0.1276, 8.0, 1.25, 270.5, 77.0, 42, "native")


def test_minimal_native_position_and_number_types() -> None:
    got = parse(POS, {"ts": int(NOW), "lat": 51, "lon": 0})
    assert got == Position("A1", NOW, 51.0, 0.0)
    assert isinstance(got, Position)
    assert type(got.ts) is float and type(got.lat) is float and type(got.lon) is float


def test_unknown_fields_are_ignored_and_null_optionals_are_absent() -> None:
    got = parse(POS, pos(alt=30, fw="2.1", extra={"deep": [1, 2]}, acc=None, seq=None))
    assert got == Position("A1", NOW, 51.5072, -0.1276)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (NOW, NOW),
        (int(NOW), NOW),
        (NOW - 0.25, NOW - 0.25),
        (NOW_ISO, NOW),
        ("2026-05-28t20:26:40z", NOW),
        ("2026-05-28 20:26:40Z", NOW),  # RFC 3339 5.6 note: a space may replace 'T'
        ("2026-05-28T21:26:40+01:00", NOW),
        ("2026-05-28T14:56:40-05:30", NOW),
        ("2026-05-28T20:26:40-00:00", NOW),  # unknown local offset, still UTC
        ("2026-05-28T20:26:39.5Z", NOW - 0.5),
        ("2026-05-28T20:26:39.123456789Z", NOW - 1 + 0.123456789),
        ("2026-05-28T20:26:40.000Z", NOW),
        ("2026-05-28T20:26:40.250+00:00", NOW + 0.25),
        ("2026-05-28T20:25:60Z", NOW - 40),  # a leap second reads as 20:26:00
    ],
)
def test_timestamps_epoch_and_rfc3339(ts: Any, expected: float) -> None:
    got = parse(POS, pos(ts=ts))
    assert isinstance(got, Position), got
    assert got.ts == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "ts",
    [
        "2026-05-28T20:26:40",  # no offset: local time of what zone?
        "2026-05-28",
        "20:26:40Z",
        "20260528T202640Z",  # ISO 8601 basic format, not RFC 3339
        "2026-W22-4T20:26:40Z",
        "2026-05-28T20:26:40+0100",
        "2026-05-28T20:26:40+01",
        "2026-05-28T20:26Z",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-05-28T24:00:00Z",
        "2026-05-28T20:61:00Z",
        "2026-05-28T20:26:61Z",
        "2026-05-28T20:26:40+24:00",
        "2026-05-28T20:26:40+01:60",
        "0000-01-01T00:00:00Z",
        "2026-05-28T20:26:40.Z",
        "2026-05-28T20:26:40.1234567890Z",
        "２０２６-05-28T20:26:40Z",  # fullwidth digits
        "2026-05-28T20:26:40Z\n",
        " 2026-05-28T20:26:40Z",
        "2026-05-28T20:26:40 Z",
        "",
        "now",
        "1780000000",  # epoch seconds must be a number, not a string
        "2026-05-28T20:26:40Z" + "0" * 100,
    ],
)
def test_malformed_times_are_invalid_fields(ts: str) -> None:
    got = rejected(parse(POS, pos(ts=ts)), Reason.INVALID_FIELD)
    assert got.detail.startswith("ts ")


def test_time_window_boundaries() -> None:
    assert isinstance(parse(POS, pos(ts=NOW + 300)), Position)  # exactly max_future_s
    assert rejected(parse(POS, pos(ts=NOW + 300.001)), Reason.FUTURE_TIMESTAMP)
    age = 31 * 86400.0
    assert isinstance(parse(POS, pos(ts=NOW - age)), Position)  # exactly max_age_s
    rejected(parse(POS, pos(ts=NOW - age - 0.001)), Reason.TOO_OLD)
    tight = ParseContext(ROSTER, CODES, max_future_s=0.0, max_age_s=60.0)
    assert isinstance(parse(POS, pos(ts=NOW), ctx=tight), Position)
    rejected(parse(POS, pos(ts=NOW + 0.5), ctx=tight), Reason.FUTURE_TIMESTAMP)
    rejected(parse(POS, pos(ts=NOW - 61), ctx=tight), Reason.TOO_OLD)


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({"lat": 90}, True), ({"lat": -90}, True), ({"lat": 90.000001}, False),
        ({"lat": -90.000001}, False),
        ({"lon": 180}, True), ({"lon": -180}, True), ({"lon": 180.000001}, False),
        ({"lon": -180.000001}, False),
        ({"battery": 0}, True), ({"battery": 100}, True), ({"battery": -0.1}, False),
        ({"battery": 100.1}, False),
        ({"heading": 0}, True), ({"heading": 360}, True), ({"heading": -1}, False),
        ({"heading": 360.5}, False),
        ({"acc": 0}, True), ({"acc": 1e6}, True), ({"acc": -0.5}, False),
        ({"speed": 0}, True), ({"speed": -1}, False),
        ({"seq": 0}, True), ({"seq": -1}, True), ({"seq": 2**63 - 1}, True),
        ({"seq": -(2**63)}, True), ({"seq": 2**63}, False), ({"seq": -(2**63) - 1}, False),
    ],
)
def test_range_boundaries(fields: dict[str, Any], ok: bool) -> None:
    got = parse(POS, pos(**fields))
    if ok:
        assert isinstance(got, Position), got
    else:
        rejected(got, Reason.OUT_OF_RANGE)


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"lat": 95.2}, "lat 95.2 is out of range [-90, 90]"),
        ({"lon": -180.5}, "lon -180.5 is out of range [-180, 180]"),
        ({"acc": -3}, "acc -3 is out of range (it must be at least 0)"),
        ({"battery": 101}, "battery 101 is out of range [0, 100]"),
        ({"lat": "51.5"}, "lat must be a number, not a string ('51.5')"),
        ({"lat": True}, "lat must be a number, not true (a boolean)"),
        ({"lon": None}, "lon must be a number, not null"),
        ({"lon": [1]}, "lon must be a number, not a list"),
        ({"lon": {"v": 1}}, "lon must be a number, not an object"),
        ({"seq": 1.5}, "seq must be an integer, not 1.5"),
        ({"ts": False}, "ts must be epoch seconds or an RFC 3339 string, not false (a boolean)"),
        ({"ts": "2026-05-28T20:26:40"},
         "ts '2026-05-28T20:26:40' has no UTC offset; add Z or an offset such as +01:00"),
    ],
)
def test_details_say_field_value_and_rule(fields: dict[str, Any], detail: str) -> None:
    got = parse(POS, pos(**fields))
    assert isinstance(got, Rejection)
    assert got.detail == detail


@pytest.mark.parametrize(
    "value",
    ["51.5", "", True, False, None, [], [51.5], {}, {"lat": 51.5}, "NaN", "Infinity"],
)
@pytest.mark.parametrize("field", ["lat", "lon"])
def test_type_confusion_in_required_numbers(field: str, value: Any) -> None:
    rejected(parse(POS, pos(**{field: value})), Reason.INVALID_FIELD)


@pytest.mark.parametrize("value", ["8", True, False, [], {}, "null"])
@pytest.mark.parametrize("field", ["acc", "speed", "heading", "battery", "seq"])
def test_type_confusion_in_optional_numbers(field: str, value: Any) -> None:
    rejected(parse(POS, pos(**{field: value})), Reason.INVALID_FIELD)


@pytest.mark.parametrize("field", ["ts", "lat", "lon"])
def test_missing_required_fields(field: str) -> None:
    payload = pos()
    del payload[field]
    got = rejected(parse(POS, payload), Reason.MISSING_FIELD)
    assert got.detail == f"{field} is missing; it is required"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"ts": 1780000000, "lat": NaN, "lon": 0}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1, "lon": Infinity}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1, "lon": -Infinity}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1, "lon": 1, "x": NaN}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1e999, "lon": 0}', Reason.INVALID_FIELD),
        ('{"ts": 1e999, "lat": 1, "lon": 0}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": -1e400, "lon": 0}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1' + "0" * 400 + ', "lon": 0}', Reason.INVALID_FIELD),
        ('{"ts": 1' + "0" * 400 + ', "lat": 1, "lon": 0}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1, "lon": 1' + "0" * 5000 + "}", Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1, "lon": 0, "acc": 1e309}', Reason.INVALID_FIELD),
        ('{"ts": 1780000000, "lat": 1, "lon": 0, "seq": 1e3}', Reason.INVALID_FIELD),
    ],
)
def test_non_finite_and_huge_numbers(raw: str, reason: Reason) -> None:
    rejected(parse(POS, raw), reason)


def test_unit_field_must_agree_with_the_topic() -> None:
    assert isinstance(parse(POS, pos(unit="A1")), Position)
    assert isinstance(parse(POS, pos(unit=None)), Position)  # null counts as absent
    got = rejected(parse(POS, pos(unit="B7")), Reason.UNIT_MISMATCH)
    assert got.detail == "payload says unit 'B7' but the topic is for 'A1'"
    rejected(parse(POS, pos(unit="a1")), Reason.UNIT_MISMATCH)  # ids are case-sensitive
    rejected(parse(POS, pos(unit="A 1")), Reason.INVALID_UNIT)
    rejected(parse(POS, pos(unit="A1\n")), Reason.INVALID_UNIT)
    rejected(parse(POS, pos(unit=1)), Reason.INVALID_FIELD)
    rejected(parse(STATUS, {"ts": NOW, "status": "AVAILABLE", "unit": "Z9"}),
             Reason.UNIT_MISMATCH)
    rejected(parse(ACK, {"ts": NOW, "id": "t1", "accepted": True, "unit": "Z9"}),
             Reason.UNIT_MISMATCH)


@pytest.mark.parametrize(
    "unit",
    ["", " ", "A 1", "A+1", "+", "#", "A#", "x" * 33, "А1", "Ａ1", "A1\n", "A1\x00",
     "A.1", "A:1", "A\u200b1", "ñ", "\ud800"],
)
def test_invalid_unit_ids_in_topics(unit: str) -> None:
    rejected(parse(f"patrol/{unit}/position", pos()), Reason.INVALID_UNIT)


def test_longest_valid_unit_id() -> None:
    unit = "u" * 32
    got = parse(f"patrol/{unit}/position", pos())
    assert isinstance(got, Position) and got.unit == unit


@pytest.mark.parametrize(
    "topic",
    ["patrol/A1/tasking", "patrol/A1", "patrol/A1/position/x", "patrol/events/coverage/x",
     "owntracks/alice", "owntracks/alice/phone/cmd", "", "/", "random", "PATROL/A1/position",
     "$SYS/broker/uptime"],
)
def test_unknown_topics(topic: str) -> None:
    rejected(parse(topic, pos()), Reason.UNKNOWN_TOPIC)


# --- status and ack -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sent", "status"),
    [(s.value, s) for s in Status] + [("1", Status.AVAILABLE), ("6", Status.REFRESHMENT),
                                      ("0", Status.EMERGENCY)],
)
def test_statuses_canonical_and_local_codes(sent: str, status: Status) -> None:
    got = parse(STATUS, {"ts": NOW, "status": sent})
    assert got == StatusChange("A1", NOW, status, None, "native")


@pytest.mark.parametrize(
    "sent",
    ["available", "Available", " AVAILABLE", "AVAILABLE ", "AVAILABLE\n", "ON PATROL",
     "ON-PATROL", "BUSY", "", "9", "01", "１"],
)
def test_unknown_statuses(sent: str) -> None:
    got = rejected(parse(STATUS, {"ts": NOW, "status": sent}), Reason.UNKNOWN_STATUS)
    assert "AVAILABLE, ON_PATROL" in got.detail and "local code (0, 1, 6)" in got.detail


@pytest.mark.parametrize("sent", [1, 6, True, None, ["AVAILABLE"], {"s": "AVAILABLE"}])
def test_status_must_be_a_string(sent: Any) -> None:
    rejected(parse(STATUS, {"ts": NOW, "status": sent}), Reason.INVALID_FIELD)


def test_status_without_local_codes_names_only_the_canonical_set() -> None:
    bare = ParseContext(ROSTER, {})
    got = rejected(parse(STATUS, {"ts": NOW, "status": "6"}, ctx=bare), Reason.UNKNOWN_STATUS)
    assert "local code" not in got.detail


def test_status_note() -> None:
    ok = parse(STATUS, {"ts": NOW_ISO, "status": "AT_SCENE", "note": "n" * 200})
    assert isinstance(ok, StatusChange) and ok.note == "n" * 200
    multi = parse(STATUS, {"ts": NOW, "status": "AT_SCENE", "note": "line 1\nline 2\ttab"})
    assert isinstance(multi, StatusChange) and multi.note == "line 1\nline 2\ttab"
    assert parse(STATUS, {"ts": NOW, "status": "AT_SCENE", "note": ""}) == StatusChange(
        "A1", NOW, Status.AT_SCENE)
    assert parse(STATUS, {"ts": NOW, "status": "AT_SCENE", "note": None}) == StatusChange(
        "A1", NOW, Status.AT_SCENE)
    long = rejected(parse(STATUS, {"ts": NOW, "status": "AT_SCENE", "note": "n" * 201}),
                    Reason.OUT_OF_RANGE)
    assert long.detail == "note is 201 characters long; at most 200 are allowed"
    for bad in ("bell\x07", "nul\x00", "esc\x1b[31m", "\ud800", "evil\u202etxt.exe", "\u2066x", 5,
                ["x"]):
        rejected(parse(STATUS, {"ts": NOW, "status": "AT_SCENE", "note": bad}),
                 Reason.INVALID_FIELD)


def test_status_missing_fields() -> None:
    rejected(parse(STATUS, {"ts": NOW}), Reason.MISSING_FIELD)
    rejected(parse(STATUS, {"status": "AVAILABLE"}), Reason.MISSING_FIELD)


def test_ack() -> None:
    assert parse(ACK, {"id": "T-2026_05-28", "ts": NOW, "accepted": True}) == Ack(
        "A1", "T-2026_05-28", NOW, True, None)
    assert parse(ACK, {"id": "x" * 64, "ts": NOW, "accepted": False,
                       "reason": "at scene"}) == Ack("A1", "x" * 64, NOW, False, "at scene")


@pytest.mark.parametrize(
    "ack_id",
    ["", "x" * 65, "t 1", "t/1", "t+1", "t#1", "t.1", "ü", "t1\n", "Т1", 17, None, True,
     ["t1"]],
)
def test_ack_bad_ids(ack_id: Any) -> None:
    rejected(parse(ACK, {"id": ack_id, "ts": NOW, "accepted": True}), Reason.INVALID_FIELD)


@pytest.mark.parametrize("accepted", [1, 0, "true", "yes", None, [True]])
def test_ack_accepted_must_be_a_boolean(accepted: Any) -> None:
    rejected(parse(ACK, {"id": "t1", "ts": NOW, "accepted": accepted}), Reason.INVALID_FIELD)


def test_ack_missing_fields() -> None:
    for missing in ("id", "ts", "accepted"):
        payload = {"id": "t1", "ts": NOW, "accepted": True}
        del payload[missing]
        rejected(parse(ACK, payload), Reason.MISSING_FIELD)


# --- roster ---------------------------------------------------------------------------------
def test_strict_roster() -> None:
    assert isinstance(parse(POS, pos(), ctx=STRICT), Position)
    got = rejected(parse("patrol/Z9/position", pos(), ctx=STRICT), Reason.UNKNOWN_UNIT)
    assert "PATROL_STRICT_ROSTER" in got.detail
    assert isinstance(parse("patrol/Z9/position", pos()), Position)  # not strict: accepted
    # invalid ids are invalid before they are unknown
    rejected(parse("patrol/Z 9/position", pos(), ctx=STRICT), Reason.INVALID_UNIT)
    # OwnTracks: the roster mapping is on the roster; the fallback id is not
    assert isinstance(parse(OT, ot_location(), ctx=STRICT), Position)
    rejected(parse("owntracks/bob/phone", ot_location(), ctx=STRICT), Reason.UNKNOWN_UNIT)


# --- OwnTracks ------------------------------------------------------------------------------
def ot_location(**fields: Any) -> dict[str, Any]:
    return {"_type": "location", "tst": int(NOW), "lat": 51.5, "lon": -0.12, **fields}


def test_owntracks_location_maps_fields_and_converts_kmh() -> None:
    got = parse(OT, ot_location(acc=12, vel=36, cog=90, batt=55, alt=20, tid="ap", conn="m",
                                BSSID="aa:bb:cc:dd:ee:ff", inregions=["Soho"], t="u"))
    assert got == Position("B7", NOW, 51.5, -0.12, 12.0, 10.0, 90.0, 55.0, None, "owntracks")


def test_owntracks_kmh_conversion_is_exact_enough() -> None:
    got = parse(OT, ot_location(vel=5))
    assert isinstance(got, Position) and got.speed == pytest.approx(5 / 3.6)


def test_owntracks_unregistered_device_falls_back_to_user_dash_device() -> None:
    got = parse("owntracks/bob/phone", ot_location())
    assert isinstance(got, Position) and got.unit == "bob-phone"
    got = parse("owntracks/b_1/Pixel-7", ot_location())
    assert isinstance(got, Position) and got.unit == "b_1-Pixel-7"


@pytest.mark.parametrize(
    "topic",
    ["owntracks/bob smith/phone", "owntracks/bob/my phone", "owntracks//phone",
     "owntracks/bob/", "owntracks/" + "u" * 20 + "/" + "d" * 12, "owntracks/bøb/phone",
     "owntracks/bob/+", "owntracks/#/phone"],
)
def test_owntracks_fallback_ids_that_are_not_unit_ids(topic: str) -> None:
    rejected(parse(topic, ot_location()), Reason.INVALID_UNIT)


def test_owntracks_fallback_exactly_32_characters() -> None:
    got = parse("owntracks/" + "u" * 20 + "/" + "d" * 11, ot_location())
    assert isinstance(got, Position) and len(got.unit) == 32


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"lat": "51.5"}, Reason.INVALID_FIELD),
        ({"tst": "1780000000"}, Reason.INVALID_FIELD),
        ({"tst": True}, Reason.INVALID_FIELD),
        ({"vel": "36"}, Reason.INVALID_FIELD),
        ({"batt": False}, Reason.INVALID_FIELD),
        ({"lat": 91}, Reason.OUT_OF_RANGE),
        ({"tst": int(NOW) + 301}, Reason.FUTURE_TIMESTAMP),
        ({"tst": 0}, Reason.TOO_OLD),
        ({"tst": int(NOW) * 1000}, Reason.FUTURE_TIMESTAMP),  # milliseconds by mistake
    ],
)
def test_owntracks_location_rejections(fields: dict[str, Any], reason: Reason) -> None:
    rejected(parse(OT, ot_location(**fields)), reason)


def test_owntracks_location_missing_fields() -> None:
    for missing in ("tst", "lat", "lon"):
        payload = ot_location()
        del payload[missing]
        got = rejected(parse(OT, payload), Reason.MISSING_FIELD)
        assert got.detail.startswith(missing)


def test_owntracks_lwt_is_placed_at_its_tst() -> None:
    # CONTRACT.md: an lwt with tst is placed at that time; without one, at its arrival.
    assert parse(OT, {"_type": "lwt", "tst": int(NOW) - 3600}) == LostContact("B7", NOW - 3600)
    assert parse(OT, {"_type": "lwt"}) == LostContact("B7", NOW)
    assert parse("owntracks/bob/phone", {"_type": "lwt"}) == LostContact("bob-phone", NOW)
    rejected(parse(OT, {"_type": "lwt", "tst": "yesterday"}), Reason.INVALID_FIELD)
    rejected(parse(OT, {"_type": "lwt", "tst": True}), Reason.INVALID_FIELD)
    rejected(parse(OT, {"_type": "lwt", "tst": int(NOW) + 3600}), Reason.FUTURE_TIMESTAMP)


def test_owntracks_transition() -> None:
    enter = {"_type": "transition", "tst": int(NOW), "event": "enter", "desc": "Soho",
             "wtst": 1_700_000_000, "lat": 51.5, "lon": -0.13, "acc": 10, "t": "c"}
    assert parse(OT_EVENT, enter) == UnitEvent("B7", NOW, "enter", "Soho")
    leave = {"_type": "transition", "tst": int(NOW) - 60, "event": "leave"}
    assert parse(OT_EVENT, leave) == UnitEvent("B7", NOW - 60, "leave", None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"_type": "transition", "tst": int(NOW), "event": "ENTER"}, Reason.INVALID_FIELD),
        ({"_type": "transition", "tst": int(NOW), "event": "exit"}, Reason.INVALID_FIELD),
        ({"_type": "transition", "tst": int(NOW), "event": 1}, Reason.INVALID_FIELD),
        ({"_type": "transition", "tst": int(NOW), "event": ["enter"]}, Reason.INVALID_FIELD),
        ({"_type": "transition", "tst": int(NOW)}, Reason.MISSING_FIELD),
        ({"_type": "transition", "event": "enter"}, Reason.MISSING_FIELD),
        ({"_type": "transition", "tst": int(NOW), "event": "enter", "desc": 5},
         Reason.INVALID_FIELD),
        ({"_type": "transition", "tst": int(NOW), "event": "enter", "desc": "d" * 201},
         Reason.OUT_OF_RANGE),
        ({"_type": "transition", "tst": 5, "event": "enter"}, Reason.TOO_OLD),
        ({"_type": "location", "tst": int(NOW), "lat": 1, "lon": 1}, Reason.UNSUPPORTED_TYPE),
        ({"_type": "lwt"}, Reason.UNSUPPORTED_TYPE),
        ({"tst": int(NOW), "event": "enter"}, Reason.MISSING_FIELD),
    ],
)
def test_owntracks_transition_rejections(payload: dict[str, Any], reason: Reason) -> None:
    rejected(parse(OT_EVENT, payload), reason)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"_type": "card", "name": "Alice"}, Reason.UNSUPPORTED_TYPE),
        ({"_type": "waypoint"}, Reason.UNSUPPORTED_TYPE),
        ({"_type": "encrypted", "data": "abc"}, Reason.UNSUPPORTED_TYPE),
        ({"_type": "transition", "tst": int(NOW), "event": "enter"}, Reason.UNSUPPORTED_TYPE),
        ({"_type": "Location", "tst": int(NOW), "lat": 1, "lon": 1}, Reason.UNSUPPORTED_TYPE),
        ({"_type": "", "tst": int(NOW)}, Reason.UNSUPPORTED_TYPE),
        ({"tst": int(NOW), "lat": 1, "lon": 1}, Reason.MISSING_FIELD),
        ({"_type": None, "tst": int(NOW), "lat": 1, "lon": 1}, Reason.INVALID_FIELD),
        ({"_type": 1}, Reason.INVALID_FIELD),
        ({"_type": ["location"]}, Reason.INVALID_FIELD),
    ],
)
def test_owntracks_types(payload: dict[str, Any], reason: Reason) -> None:
    rejected(parse(OT, payload), reason)


# --- JSON and size --------------------------------------------------------------------------
def padded(size: int) -> bytes:
    """Return a valid position payload of exactly ``size`` bytes (padding in an unknown field)."""
    base = json.dumps({**pos(), "pad": ""}).encode()
    out = json.dumps({**pos(), "pad": "x" * (size - len(base))}).encode()
    assert len(out) == size
    return out


def test_payload_size_limit() -> None:
    assert isinstance(parse(POS, padded(MAX_PAYLOAD_BYTES)), Position)
    got = rejected(parse(POS, padded(MAX_PAYLOAD_BYTES + 1)), Reason.TOO_LARGE)
    assert got.detail == "payload is 8193 bytes; the limit is 8192"
    # checked before anything else is looked at: even garbage on an unknown topic
    rejected(parse_message("nowhere", b"\xff" * 10_000, NOW, CTX), Reason.TOO_LARGE)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", Reason.INVALID_JSON),
        (b"   ", Reason.INVALID_JSON),
        (b"{", Reason.INVALID_JSON),
        (b"{'ts': 1}", Reason.INVALID_JSON),
        (b'{"ts": 1,}', Reason.INVALID_JSON),
        (b'{"ts": 1} {"ts": 2}', Reason.INVALID_JSON),
        (b'{"ts": 1}\x00', Reason.INVALID_JSON),
        (b'{"ts": 0x10}', Reason.INVALID_JSON),
        (b"\xef\xbb\xbf{}", Reason.INVALID_JSON),  # UTF-8 BOM
        ('{"ts": 1}'.encode("utf-16"), Reason.INVALID_JSON),
        ('{"ts": 1}'.encode("utf-16-le"), Reason.INVALID_JSON),
        ('{"ts": 1}'.encode("utf-32"), Reason.INVALID_JSON),
        ('{"note": "café"}'.encode("latin-1"), Reason.INVALID_JSON),
        (b'{"a": "\xc0\xaf"}', Reason.INVALID_JSON),  # overlong '/'
        (b'{"a": "\xed\xa0\x80"}', Reason.INVALID_JSON),  # UTF-8-encoded surrogate
        (b'{"a": "\xf4\x90\x80\x80"}', Reason.INVALID_JSON),  # beyond U+10FFFF
        (b"[" * 4000 + b"]" * 4000, Reason.INVALID_JSON),  # nested too deeply
        (b'{"a":' * 1300 + b"1" + b"}" * 1300, Reason.INVALID_JSON),
        (b'{"ts": 1, "ts": 2, "lat": 1, "lon": 1}', Reason.INVALID_JSON),
        (b'{"ts": 1, "lat": 1, "lon": 1, "x": {"k": 1, "k": 2}}', Reason.INVALID_JSON),
        (b'{"lat"\t:1, "lat"\n :2}', Reason.INVALID_JSON),
        (b"[]", Reason.NOT_OBJECT),
        (b'[{"ts": 1780000000, "lat": 1, "lon": 1}]', Reason.NOT_OBJECT),
        (b'"hello"', Reason.NOT_OBJECT),
        (b"42", Reason.NOT_OBJECT),
        (b"null", Reason.NOT_OBJECT),
        (b"true", Reason.NOT_OBJECT),
        (b"NaN", Reason.INVALID_FIELD),
    ],
)
def test_json_level_rejections(raw: bytes, reason: Reason) -> None:
    rejected(parse(POS, raw), reason)


def test_duplicate_check_does_not_reject_colons_in_values() -> None:
    got = parse(STATUS, {"ts": NOW_ISO, "status": "AT_SCENE", "note": "a:b \": c",
                         "x": {"y": {"z": 1}}})
    assert isinstance(got, StatusChange) and got.note == 'a:b ": c'


def test_rejection_carries_topic_payload_head_and_readable_detail() -> None:
    payload = json.dumps(pos(lat=95.2, pad="p" * 500)).encode()
    got = rejected(parse_message(POS, payload, NOW, CTX), Reason.OUT_OF_RANGE)
    assert got.topic == POS
    assert got.payload_head == payload[:200]
    assert got.detail == "lat 95.2 is out of range [-90, 90]"
    huge_topic = "x/" * 50_000
    assert len(rejected(parse(huge_topic, b"{}"), Reason.UNKNOWN_TOPIC).topic) <= 256


def test_details_stay_short_for_hostile_values() -> None:
    got = rejected(parse(STATUS, {"ts": NOW, "status": "S" * 5000}), Reason.UNKNOWN_STATUS)
    assert len(got.detail) < 400
    got = rejected(parse(f"patrol/{'u' * 5000}/position", pos()), Reason.INVALID_UNIT)
    assert len(got.detail) < 300


def test_payload_may_be_any_bytes_like() -> None:
    raw = json.dumps(pos()).encode()
    for payload in (bytearray(raw), memoryview(raw)):
        assert parse_message(POS, payload, NOW, CTX) == Position(  # type: ignore[arg-type]
            "A1", NOW, 51.5072, -0.1276)


def test_context_from_settings() -> None:
    settings = Settings(strict_roster=True, max_future_s=60.0, trail_retention_days=7.0,
                        _env_file=None)
    ctx = ParseContext.from_settings(settings, ROSTER, CODES)
    assert (ctx.strict_roster, ctx.max_future_s, ctx.max_age_s) == (True, 60.0, 7 * 86400.0)
    assert ctx.roster is ROSTER and ctx.status_codes == CODES
    rejected(parse(POS, pos(ts=NOW - 8 * 86400), ctx=ctx), Reason.TOO_OLD)


def test_readable_times_in_window_details() -> None:
    got = rejected(parse(POS, pos(ts=NOW + 3600)), Reason.FUTURE_TIMESTAMP)
    expected = datetime.fromtimestamp(NOW + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert expected in got.detail and "3600 s in the future" in got.detail
    got = rejected(parse(POS, pos(ts=1e300)), Reason.FUTURE_TIMESTAMP)
    assert "1e+300" in got.detail  # beyond the calendar: shown as a number
    got = rejected(parse(POS, pos(ts=-1e300)), Reason.TOO_OLD)


def test_every_reason_is_exercised_here() -> None:
    # Guard: a new Reason needs a test in this file, or, for those decided after parsing
    # (the worker's rate limit, the store's off-duty test), in test_trust_rules.py and
    # tests/integration/test_trust_ingest.py; the radio's (LIP, ISSI) in test_radio_messages.py.
    here = Path(__file__).parent
    source = Path(__file__).read_text(encoding="utf-8") + (
        here / "test_radio_messages.py").read_text(encoding="utf-8") + (
        here / "test_trust_rules.py").read_text(encoding="utf-8") + (
        here.parent / "integration" / "test_trust_ingest.py").read_text(encoding="utf-8")
    missing = [r.name for r in Reason if f"Reason.{r.name}" not in source]
    assert missing == []
