"""Hostile input: the hand-written corpus, and generated input that must never break parsing."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from patrolwatch.core.messages import MAX_PAYLOAD_BYTES, ParseContext, parse_message
from patrolwatch.core.model import (
    UNIT_ID_RE,
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
from patrolwatch.roster import Roster, load_roster, load_status_codes
from tests.hostile.corpus import CORPUS_NOW, VALID_NOW, HostileCase, load_corpus

CONFIG = Path(__file__).resolve().parents[2] / "config"
CASES = load_corpus()
ROSTER_FILE = CONFIG / "units.yaml"
CONTEXTS = {
    "bare": ParseContext(Roster.empty(), {}),
    # what the worker runs with out of the box: the example roster and local status codes
    "config": ParseContext(load_roster(ROSTER_FILE),  # missing: an error, not an empty roster
                           load_status_codes(CONFIG / "status_codes.yaml")),
}
INT64 = (-(2**63), 2**63 - 1)


# --- the corpus -----------------------------------------------------------------------------
@pytest.mark.parametrize("ctx_name", sorted(CONTEXTS))
@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_corpus_case_is_rejected_for_its_reason(case: HostileCase, ctx_name: str) -> None:
    got = parse_message(case.topic, case.payload, CORPUS_NOW, CONTEXTS[ctx_name])
    assert isinstance(got, Rejection), f"line {case.line} ({case.why}) was accepted: {got!r}"
    assert got.reason is case.reason, (
        f"line {case.line} ({case.why}): expected {case.reason.value}, got "
        f"{got.reason.value}: {got.detail}")
    assert got.payload_head == case.payload[:200]
    assert got.topic == case.topic[:256]
    assert got.detail and "internal" not in got.detail
    got.detail.encode("utf-8")


@pytest.mark.parametrize("now", [VALID_NOW[0], VALID_NOW[1], time.time()],
                         ids=["earliest", "latest", "wall-clock"])
def test_corpus_holds_for_any_clock_in_its_range(now: float) -> None:
    wrong = []
    for case in CASES:
        got = parse_message(case.topic, case.payload, now, CONTEXTS["config"])
        if not isinstance(got, Rejection) or got.reason is not case.reason:
            wrong.append(f"line {case.line} ({case.why}): {got!r}")
    assert wrong == []


def test_corpus_size_and_coverage() -> None:
    assert len(CASES) >= 200
    reasons = {c.reason for c in CASES}
    # UNKNOWN_UNIT needs PATROL_STRICT_ROSTER, which the corpus does not assume; the rate
    # limit and the off-duty test are decided after parsing, on a unit's history
    # (tests/integration/test_trust_ingest.py)
    assert reasons == set(Reason) - {Reason.UNKNOWN_UNIT, Reason.RATE_LIMITED, Reason.OFF_DUTY}
    pairs = [(c.topic, c.payload) for c in CASES]
    assert len(set(pairs)) == len(pairs), "duplicate cases"
    assert sum(c.delivered for c in CASES) >= 300  # most of it can go through a broker
    assert all(c.publishable for c in CASES if c.delivered)
    assert not any(c.delivered for c in CASES if "+" in c.topic or "#" in c.topic)


def test_corpus_probes_what_it_must() -> None:
    whys = " | ".join(c.why.lower() for c in CASES)
    for probe in ("latin-1", "utf-16", "bom", "surrogate", "overlong", "nan", "infinity",
                  "1e999", "10**400", "nested", "8193 bytes", "cyrillic", "fullwidth",
                  "33 characters", "wildcard", "ancient", "future", "rfc 3339", "_type",
                  "lower case", "duplicate", "unit differs"):
        assert probe in whys, f"no corpus case probes {probe!r}"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not a JSON object"),
        ("[1]", "expected a JSON object"),
        ('{"topic": "t", "reason": "too_large", "why": "w"}', "exactly one of"),
        ('{"topic": "t", "payload": "", "payload_b64": "", "reason": "too_large", "why": "w"}',
         "exactly one of"),
        ('{"topic": "t", "payload": "", "reason": "bogus", "why": "w"}', "unknown reason"),
        ('{"topic": "t", "payload_b64": "!!", "reason": "too_large", "why": "w"}',
         "cannot be turned into bytes"),
        ('{"topic": "t", "payload": "\\ud800", "reason": "too_large", "why": "w"}',
         "use payload_b64"),
        ('{"topic": "t", "payload": 5, "reason": "too_large", "why": "w"}', "must be a string"),
        ('{"topic": "t", "payload": "", "reason": "too_large", "why": " "}', "say what"),
        ('{"topic": "t", "payload": "", "reason": "too_large", "why": "w", "x": 1}',
         "expected keys"),
    ],
)
def test_loader_names_the_bad_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "corpus.jsonl"
    good = '{"topic": "t", "payload": "{}", "reason": "too_large", "why": "fine"}'
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as info:
        load_corpus(path)
    assert "corpus.jsonl:3" in str(info.value)


def test_loader_decodes_both_payload_forms(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"topic": "a/b", "payload": "{\\"é\\": 1}", "reason": "not_object", "why": "text"}\n'
        '{"topic": "a/+", "payload_b64": "/w==", "reason": "invalid_json", "why": "raw"}\n',
        encoding="utf-8")
    text, raw = load_corpus(path)
    assert text.payload == '{"é": 1}'.encode() and raw.payload == b"\xff"
    assert (text.publishable, text.delivered) == (True, False)
    assert (raw.publishable, raw.delivered) == (False, False)
    assert text.reason is Reason.NOT_OBJECT and text.line == 1 and raw.line == 2


# --- contract invariants for anything accepted -----------------------------------------------
def _text_ok(value: str | None, limit: int) -> bool:
    if value is None:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return len(value) <= limit and not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value)


def _between(value: float | None, lo: float, hi: float) -> bool:
    return value is None or (type(value) is float and math.isfinite(value) and lo <= value <= hi)


def assert_contract(msg: Message, now: float, ctx: ParseContext) -> None:
    """Check what every consumer of a parsed message may rely on (CONTRACT.md section 3)."""
    assert UNIT_ID_RE.fullmatch(msg.unit), msg
    assert type(msg.ts) is float and math.isfinite(msg.ts), msg
    assert now - ctx.max_age_s <= msg.ts <= now + ctx.max_future_s, msg
    if ctx.strict_roster:
        assert ctx.roster.get(msg.unit) is not None
    if isinstance(msg, Position):
        assert _between(msg.lat, -90, 90) and msg.lat is not None, msg
        assert _between(msg.lon, -180, 180) and msg.lon is not None, msg
        assert _between(msg.acc, 0, math.inf) and _between(msg.speed, 0, math.inf), msg
        assert _between(msg.heading, 0, 360) and _between(msg.battery, 0, 100), msg
        assert msg.seq is None or (type(msg.seq) is int and INT64[0] <= msg.seq <= INT64[1])
        assert msg.source in ("native", "owntracks")
    elif isinstance(msg, StatusChange):
        assert isinstance(msg.status, Status) and _text_ok(msg.note, 200), msg
    elif isinstance(msg, Ack):
        assert type(msg.accepted) is bool and _text_ok(msg.reason, 200), msg
        assert 1 <= len(msg.id) <= 64 and msg.id.isascii(), msg
    elif isinstance(msg, UnitEvent):
        assert msg.event in ("enter", "leave") and _text_ok(msg.description, 200), msg
    else:
        assert isinstance(msg, LostContact) and msg.ts <= now, msg


def check(topic: str, payload: bytes, ctx: ParseContext = CONTEXTS["config"],
          now: float = CORPUS_NOW) -> Message | Rejection:
    got = parse_message(topic, payload, now, ctx)
    event(got.reason.value if isinstance(got, Rejection) else type(got).__name__)
    if isinstance(got, Rejection):
        assert isinstance(got.reason, Reason)
        assert got.detail and "internal" not in got.detail, got
        got.detail.encode("utf-8")  # printable in any log, whatever the payload held
        assert got.payload_head == payload[:200] and got.topic == topic[:256]
        if len(payload) > MAX_PAYLOAD_BYTES:
            assert got.reason is Reason.TOO_LARGE
    else:
        assert len(payload) <= MAX_PAYLOAD_BYTES
        assert_contract(got, now, ctx)
    return got


TOPICS = ["patrol/A1/position", "patrol/A1/status", "patrol/A1/ack", "owntracks/cw402/iphone",
          "owntracks/bob/phone", "owntracks/bob/phone/event", "patrol/CW-402/position"]
topics = st.one_of(st.sampled_from(TOPICS), st.text(max_size=80),
                   st.builds("patrol/{}/{}".format, st.text(max_size=40),
                             st.sampled_from(["position", "status", "ack"])))


@settings(max_examples=400)
@given(topic=topics, payload=st.binary(max_size=300))
@example(topic="patrol/A1/position", payload=b"\xef\xbb\xbf{}")
@example(topic="owntracks//", payload=b'{"_type": "lwt"}')
def test_arbitrary_bytes_never_raise(topic: str, payload: bytes) -> None:
    check(topic, payload)


@given(size=st.integers(MAX_PAYLOAD_BYTES - 64, MAX_PAYLOAD_BYTES + 64),
       filler=st.sampled_from(["x", "é", "€", "😀"]))
def test_size_limit_counts_bytes(size: int, filler: str) -> None:
    base = json.dumps({"ts": CORPUS_NOW, "lat": 1.0, "lon": 2.0, "pad": ""}).encode()
    pad = filler * ((size - len(base)) // len(filler.encode()))
    pad += "x" * (size - len(base) - len(pad.encode()))
    payload = json.dumps({"ts": CORPUS_NOW, "lat": 1.0, "lon": 2.0, "pad": pad},
                         ensure_ascii=False).encode()
    assert len(payload) == size
    got = check("patrol/A1/position", payload)
    assert isinstance(got, Position) == (size <= MAX_PAYLOAD_BYTES), got


VALID_PAYLOADS = [
    (TOPICS[0], {"ts": CORPUS_NOW, "lat": 51.5, "lon": -0.12, "acc": 5, "seq": 7}),
    (TOPICS[1], {"ts": "2026-05-28T20:26:40Z", "status": "AT_SCENE", "note": "x"}),
    (TOPICS[2], {"id": "T1", "ts": CORPUS_NOW, "accepted": True}),
    (TOPICS[3], {"_type": "location", "tst": 1_780_000_000, "lat": 1, "lon": 2, "vel": 9}),
    (TOPICS[5], {"_type": "transition", "tst": 1_780_000_000, "event": "leave"}),
]


@settings(max_examples=400)
@given(data=st.data(), which=st.sampled_from(VALID_PAYLOADS))
def test_mutated_valid_payloads_never_raise(data: st.DataObject,
                                            which: tuple[str, dict[str, Any]]) -> None:
    topic, obj = which
    raw = bytearray(json.dumps(obj).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif raw:
            del raw[at]
    check(topic, bytes(raw))


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)
edgy_numbers = st.sampled_from([0, -0.0, 90, -90, 90.0000001, 180, -180.5, 100, 100.1, 360,
                                360.01, -1, 1e308, -1e308, 2**63, -(2**63) - 1, 5e-324])
ABSENT = object()


def sometimes_bad(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly good values, sometimes edge values, garbage or no field at all."""
    # one_of would not weight by repeating a branch; pick the kind of value explicitly
    bad = (edgy_numbers, json_values, st.just(ABSENT))
    return st.integers(0, 11).flatmap(lambda k: bad[k - 9] if k >= 9 else good)


def number(lo: float, hi: float) -> st.SearchStrategy[Any]:
    return sometimes_bad(st.floats(lo, hi) | st.integers(int(lo), int(hi)))


def text(limit: int) -> st.SearchStrategy[Any]:
    printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=limit)
    return sometimes_bad(printable | st.text(max_size=limit + 10))


times = sometimes_bad(st.one_of(
    st.floats(CORPUS_NOW - 32 * 86400, CORPUS_NOW + 600),
    st.integers(int(CORPUS_NOW) - 32 * 86400, int(CORPUS_NOW) + 600),
    st.builds(lambda minutes, hours: (datetime.fromtimestamp(CORPUS_NOW, UTC)
                                      + timedelta(minutes=minutes))
              .astimezone(timezone(timedelta(hours=hours))).isoformat(),
              st.integers(-32 * 1440, 10), st.integers(-12, 14)),
))


def objects(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with these fields (each maybe absent) and maybe a few unknown ones."""
    return st.tuples(st.fixed_dictionaries(fields),
                     st.dictionaries(st.text(max_size=6), json_values, max_size=2)).map(
        lambda pair: {**pair[1], **{k: v for k, v in pair[0].items() if v is not ABSENT}})


native_positions = objects(
    ts=times, lat=number(-90, 90), lon=number(-180, 180), acc=number(0, 1e4),
    speed=number(0, 100), heading=number(0, 360), battery=number(0, 100),
    seq=sometimes_bad(st.integers()), unit=st.sampled_from([ABSENT] * 4 + ["A1", "B2", "A+", 1]))
owntracks_objects = objects(
    _type=st.sampled_from(["location"] * 3 + ["lwt", "transition", "card", 1, ABSENT]),
    tst=times, lat=number(-90, 90), lon=number(-180, 180), acc=number(0, 1e4),
    vel=number(0, 300), cog=number(0, 360), batt=number(0, 100),
    event=st.sampled_from(["enter", "leave", "ENTER", None, ABSENT]), desc=text(200))
status_objects = objects(
    ts=times, note=text(200),
    status=sometimes_bad(st.sampled_from([s.value for s in Status] + ["1", "6", "9", "x"])))
ack_objects = objects(
    ts=times, accepted=sometimes_bad(st.booleans()), reason=text(200),
    id=sometimes_bad(st.from_regex(r"[A-Za-z0-9_-]{0,66}", fullmatch=True)))


@settings(max_examples=500)
@given(obj=native_positions, strict=st.booleans())
def test_arbitrary_objects_on_a_position_topic_never_yield_out_of_range(
        obj: dict[str, Any], strict: bool) -> None:
    ctx = ParseContext(CONTEXTS["config"].roster, {}, strict_roster=strict)
    check("patrol/A1/position", json.dumps(obj).encode(), ctx)
    check("patrol/CW-402/position", json.dumps(obj).encode(), ctx)


@settings(max_examples=300)
@given(obj=owntracks_objects)
def test_arbitrary_owntracks_objects(obj: dict[str, Any]) -> None:
    check("owntracks/cw402/iphone", json.dumps(obj).encode())
    check("owntracks/bob/phone/event", json.dumps(obj).encode())


@settings(max_examples=300)
@given(status=status_objects, ack=ack_objects)
def test_arbitrary_status_and_ack_objects(status: dict[str, Any], ack: dict[str, Any]) -> None:
    check("patrol/A1/status", json.dumps(status).encode())
    check("patrol/A1/ack", json.dumps(ack).encode())


@settings(max_examples=300)
@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180),
       age=st.floats(0, 31 * 86400), acc=st.none() | st.floats(0, 1e6),
       battery=st.none() | st.integers(0, 100), heading=st.none() | st.floats(0, 360))
def test_every_valid_position_is_accepted_unchanged(
        lat: float, lon: float, age: float, acc: float | None, battery: int | None,
        heading: float | None) -> None:
    payload = {"ts": CORPUS_NOW - age, "lat": lat, "lon": lon, "acc": acc, "battery": battery,
               "heading": heading}
    got = check("patrol/A1/position", json.dumps(payload).encode())
    assert got == Position("A1", CORPUS_NOW - age, lat, lon, acc, None, heading,
                           None if battery is None else float(battery))
