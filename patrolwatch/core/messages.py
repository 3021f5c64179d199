"""Bytes from the broker become one validated message or a rejection a person can read.

The contract is CONTRACT.md section 3. :func:`parse_message` never raises: whatever a
device (or an attacker with broker credentials) publishes, the worker gets a value back.
It runs once per message, so the happy path is one ``json.loads`` and one strict pydantic
validation built at import; all the explaining happens only on the rejection path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import orjson

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
from patrolwatch.core.payloads import (
    INT64_MAX,
    INT64_MIN,
    OWNTRACKS_OPTIONAL,
    NativeAck,
    NativePosition,
    NativeStatus,
    OwnTracksLocation,
    OwnTracksLwt,
    OwnTracksTransition,
    PayloadError,
    describe,
    drop_out_of_range,
    format_time,
    reject,
    short,
    validate,
)
from patrolwatch.core.radio import parse_lip
from patrolwatch.core.topics import TopicKind, classify

if TYPE_CHECKING:
    from patrolwatch.roster import Roster
    from patrolwatch.settings import Settings

MAX_PAYLOAD_BYTES = 8192
PAYLOAD_HEAD_BYTES = 200
MAX_TOPIC_CHARS_KEPT = 256  # a rejection keeps this much of a (possibly huge) hostile topic
KMH_TO_MPS = 1 / 3.6

_CANONICAL_STATUS: dict[str, Status] = {s.value: s for s in Status}
_ABSENT = object()


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs besides the message: roster, local status codes, time limits."""

    roster: Roster
    status_codes: Mapping[str, Status]  # local code -> canonical (config/status_codes.yaml)
    strict_roster: bool = False
    max_future_s: float = 300.0
    max_age_s: float = 31 * 86400.0  # older than the trail retention -> Reason.TOO_OLD

    @classmethod
    def from_settings(
        cls, settings: Settings, roster: Roster, status_codes: Mapping[str, Status]
    ) -> ParseContext:
        """Build the context the worker parses with from its settings and config files."""
        return cls(
            roster=roster,
            status_codes=status_codes,
            strict_roster=settings.strict_roster,
            max_future_s=settings.max_future_s,
            max_age_s=settings.trail_retention_s,
        )


# --- JSON ----------------------------------------------------------------------------------
class _BadConstant(Exception):  # noqa: N818
    pass


class _DuplicateKey(Exception):  # noqa: N818
    pass


def _no_constants(name: str) -> NoReturn:
    raise _BadConstant(name)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


_KEY_END_RE = re.compile(r'"[ \t\n\r]*:')
# Built once: json.loads(text, **options) would build a new decoder for every message.
_DECODER = json.JSONDecoder(parse_constant=_no_constants)
_CHECKING_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_unique_keys)


def _decode(payload: bytes) -> dict[str, Any]:
    """Decode a UTF-8 JSON object; everything else is rejected with what was wrong."""
    if payload.startswith(b"\xef\xbb\xbf"):
        reject(Reason.INVALID_JSON, "payload starts with a byte order mark; send UTF-8 "
                "JSON without a BOM")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        reject(Reason.INVALID_JSON, f"payload is not UTF-8 (byte {exc.start} is "
                f"0x{payload[exc.start]:02x}); send UTF-8 JSON")
    try:
        data = _DECODER.decode(text)
        # Duplicate keys are read last-wins by json and first-wins by other parsers, so
        # they are rejected. Every key ends in '"' and optional whitespace before its ':';
        # if there are no more of those (or of ':') than top-level keys, no key can repeat,
        # and the slower checking parse is skipped.
        if (isinstance(data, dict) and text.count(":") > len(data)
                and len(_KEY_END_RE.findall(text)) > len(data)):
            data = _CHECKING_DECODER.decode(text)
    except _BadConstant as exc:
        reject(Reason.INVALID_FIELD, f"payload holds {exc.args[0]}, which is not a JSON "
                "number; send a finite number or leave the field out")
    except _DuplicateKey as exc:
        reject(Reason.INVALID_JSON, f"key {short(exc.args[0])} appears more than once")
    except RecursionError:
        reject(Reason.INVALID_JSON, "payload is nested too deeply to be a message")
    except json.JSONDecodeError as exc:
        if not text.strip():
            reject(Reason.INVALID_JSON, "payload is empty; send a JSON object")
        reject(Reason.INVALID_JSON, f"not valid JSON: {exc.msg} (line {exc.lineno}, "
                f"column {exc.colno})")
    except ValueError:  # an integer literal over Python's 4300-digit limit
        reject(Reason.INVALID_FIELD, "payload holds an integer too long to be a number")
    if not isinstance(data, dict):
        reject(Reason.NOT_OBJECT, f"payload must be a JSON object, not {describe(data)}")
    return data


# --- units and time ------------------------------------------------------------------------
_UNIT_RULE = "1-32 characters of A-Z, a-z, 0-9, '_' or '-'"


def _roster_check(unit: str, ctx: ParseContext) -> str:
    if ctx.strict_roster and ctx.roster.get(unit) is None:
        reject(Reason.UNKNOWN_UNIT, f"unit {unit!r} is not on the roster and "
                "PATROL_STRICT_ROSTER is on; add it to the units file")
    return unit


def _unit_for(kind: TopicKind, ctx: ParseContext) -> str:
    """Return the unit a topic speaks for, or reject it (invalid or, if strict, unknown)."""
    if kind.unit is not None:
        if not UNIT_ID_RE.fullmatch(kind.unit):
            reject(Reason.INVALID_UNIT, f"unit {short(kind.unit)} in the topic is not a "
                    f"valid unit id ({_UNIT_RULE})")
        return _roster_check(kind.unit, ctx)
    user, device = kind.user or "", kind.device or ""
    mapped = ctx.roster.owntracks_unit(user, device)
    if mapped is not None:
        return mapped
    fallback = f"{user}-{device}"
    if not user or not device or not UNIT_ID_RE.fullmatch(fallback):
        reject(Reason.INVALID_UNIT, f"OwnTracks {short(user)}/{short(device)} is not on the "
                f"roster and {short(fallback)} is not a valid unit id ({_UNIT_RULE}); map it "
                "with `owntracks: user/device` in the units file")
    return _roster_check(fallback, ctx)


def _payload_unit(raw: dict[str, Any], unit: str) -> None:
    """Check an optional ``unit`` field against the topic's unit."""
    claimed = raw.get("unit")
    if claimed is None:
        return
    if not isinstance(claimed, str):
        reject(Reason.INVALID_FIELD, f"unit must be a string, not {describe(claimed)}")
    if not UNIT_ID_RE.fullmatch(claimed):
        reject(Reason.INVALID_UNIT, f"unit {short(claimed)} in the payload is not a valid "
                f"unit id ({_UNIT_RULE})")
    if claimed != unit:
        reject(Reason.UNIT_MISMATCH, f"payload says unit {claimed!r} but the topic is for "
                f"{unit!r}")


def _in_window(field: str, ts: float, now: float, ctx: ParseContext) -> float:
    """Reject event times too far ahead of ``now`` or older than the trail keeps."""
    ahead = ts - now
    if ahead > ctx.max_future_s:
        reject(Reason.FUTURE_TIMESTAMP, f"{field} {format_time(ts)} is {_span(ahead)} in the "
                f"future (at most {ctx.max_future_s:g} s allowed); check the device clock")
    if now - ts > ctx.max_age_s:
        reject(Reason.TOO_OLD, f"{field} {format_time(ts)} is {_span(now - ts)} old; "
                f"nothing older than {ctx.max_age_s / 86400:g} days is kept")
    return ts


def _span(seconds: float) -> str:
    if seconds < 2 * 86400:
        return f"{seconds:.0f} s"
    if seconds < 100 * 365.25 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / (365.25 * 86400):.3g} years"


# --- one builder per topic kind -------------------------------------------------------------
def _position(unit: str, raw: dict[str, Any], now: float, ctx: ParseContext) -> Message:
    m = validate(NativePosition, raw)
    _payload_unit(raw, unit)
    return Position(unit, _in_window("ts", m.ts, now, ctx), m.lat, m.lon, m.acc, m.speed,
                    m.heading, m.battery, m.seq, "native", now)


def _status(unit: str, raw: dict[str, Any], now: float, ctx: ParseContext) -> Message:
    m = validate(NativeStatus, raw)
    _payload_unit(raw, unit)
    status = _CANONICAL_STATUS.get(m.status) or ctx.status_codes.get(m.status)
    if status is None:
        codes = sorted(ctx.status_codes)
        local = f" or a local code ({', '.join(codes[:12])}{'...' * (len(codes) > 12)})" \
            if codes else ""
        reject(Reason.UNKNOWN_STATUS, f"status {short(m.status)} is not one of "
                f"{', '.join(_CANONICAL_STATUS)}{local}")
    return StatusChange(unit, _in_window("ts", m.ts, now, ctx), status, m.note, "native", now)


def _ack(unit: str, raw: dict[str, Any], now: float, ctx: ParseContext) -> Message:
    m = validate(NativeAck, raw)
    _payload_unit(raw, unit)
    return Ack(unit, m.id, _in_window("ts", m.ts, now, ctx), m.accepted, m.reason)


def _owntracks_type(raw: dict[str, Any], wanted: tuple[str, ...], topic: str) -> str:
    kind = raw.get("_type", _ABSENT)
    if kind is _ABSENT:
        reject(Reason.MISSING_FIELD, "_type is missing; OwnTracks payloads name their type")
    if not isinstance(kind, str):
        reject(Reason.INVALID_FIELD, f"_type must be a string, not {describe(kind)}")
    if kind not in wanted:
        reject(Reason.UNSUPPORTED_TYPE, f"OwnTracks _type {short(kind)} is not taken on "
                f"{short(topic)}; PatrolWatch takes {' and '.join(map(repr, wanted))} there")
    return kind


def _owntracks_location(
    unit: str, raw: dict[str, Any], now: float, ctx: ParseContext, topic: str,
    retained: bool = False,
) -> Message:
    if _owntracks_type(raw, ("location", "lwt"), topic) == "lwt":
        # Placed at its tst when it has one (CONTRACT.md): a retained will from long ago is
        # then older than the phone's newest fix, and the store does not mark it lost. A
        # retained will without tst has no time we can trust: it is placed at the epoch, so
        # it marks lost only a unit never heard from since (staleness covers the rest).
        lwt = validate(OwnTracksLwt, raw)
        if lwt.tst is not None:
            _in_window("tst", lwt.tst, now, ctx)
            return LostContact(unit, min(lwt.tst, now), retained)
        return LostContact(unit, 0.0 if retained else now, retained)
    m = validate(OwnTracksLocation, drop_out_of_range(raw, OWNTRACKS_OPTIONAL))
    speed = None if m.vel is None else m.vel * KMH_TO_MPS
    return Position(unit, _in_window("tst", m.tst, now, ctx), m.lat, m.lon, m.acc, speed,
                    m.cog, m.batt, None, "owntracks", now)


def _owntracks_event(
    unit: str, raw: dict[str, Any], now: float, ctx: ParseContext, topic: str
) -> Message:
    _owntracks_type(raw, ("transition",), topic)
    m = validate(OwnTracksTransition, raw)
    return UnitEvent(unit, _in_window("tst", m.tst, now, ctx), m.event, m.desc)


_NATIVE_BUILDERS: dict[str, Callable[[str, dict[str, Any], float, ParseContext], Message]] = {
    "position": _position, "status": _status, "ack": _ack,
}


def _parse(topic: str, payload: bytes, now: float, ctx: ParseContext,
           retained: bool = False) -> Message:
    if len(payload) > MAX_PAYLOAD_BYTES:  # before decoding anything
        reject(Reason.TOO_LARGE, f"payload is {len(payload)} bytes; the limit is "
                f"{MAX_PAYLOAD_BYTES}")
    kind = classify(topic)
    if kind is None:
        reject(Reason.UNKNOWN_TOPIC, f"topic {short(topic)} is not one PatrolWatch takes "
                "(patrol/UNIT/position|status|ack, owntracks/USER/DEVICE[/event], tetra/ISSI/lip)")
    if kind.kind == "tetra_lip":  # a binary LIP PDU, not JSON (core.radio)
        return parse_lip(kind.issi or "", payload, now, ctx)
    unit = _unit_for(kind, ctx)
    raw = _decode(payload)
    if kind.kind == "owntracks_location":
        return _owntracks_location(unit, raw, now, ctx, topic, retained)
    if kind.kind == "owntracks_event":
        return _owntracks_event(unit, raw, now, ctx, topic)
    return _NATIVE_BUILDERS[kind.kind](unit, raw, now, ctx)


# --- the fast path: a plain native position, most of all traffic ---------------------------
_POSITION_FIELDS = frozenset(("ts", "lat", "lon", "acc", "speed", "heading", "battery", "seq"))
_OPTIONAL_BOUNDS = (("acc", 0.0, math.inf), ("speed", 0.0, math.inf), ("heading", 0.0, 360.0),
                    ("battery", 0.0, 100.0))


def _fast_position(topic: str, payload: bytes, now: float, ctx: ParseContext) -> Position | None:
    """Return the position a plainly valid native position message holds, else None.

    Accepts only what the full path would accept, with the same values: numbers of the
    right type in range, known fields, a time in the window, at most 8 KiB. Anything else
    (an RFC 3339 time, a ``unit`` field, a fault of any kind) returns None and takes the
    full path, which explains rejections. orjson refuses NaN, Infinity, overflowing
    numbers, invalid UTF-8 and a BOM; a payload with no more ':' than keys has no
    repeated key. This is about five times quicker than the full path (docs/benchmarks.md).
    """
    if len(payload) > MAX_PAYLOAD_BYTES or not topic.startswith("patrol/") \
            or not topic.endswith("/position"):
        return None
    unit = topic[7:-9]
    if not UNIT_ID_RE.fullmatch(unit) or (ctx.strict_roster and ctx.roster.get(unit) is None):
        return None
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(raw) is not dict or payload.count(b":") != len(raw) \
            or not _POSITION_FIELDS.issuperset(raw):
        return None
    fields: dict[str, Any] = raw
    ts: Any = fields.get("ts")
    lat: Any = fields.get("lat")
    lon: Any = fields.get("lon")
    if (type(ts) not in _NUMBER or type(lat) not in _NUMBER or type(lon) not in _NUMBER
            or not -90 <= lat <= 90 or not -180 <= lon <= 180
            or ts - now > ctx.max_future_s or now - ts > ctx.max_age_s):
        return None
    values: list[float | None] = []
    for name, lo, hi in _OPTIONAL_BOUNDS:
        v: Any = fields.get(name)
        if v is None:
            values.append(None)
        elif type(v) in _NUMBER and lo <= v <= hi:
            values.append(float(v))
        else:
            return None
    seq = fields.get("seq")
    if seq is not None and (type(seq) is not int or not INT64_MIN <= seq <= INT64_MAX):
        return None
    return Position(unit, float(ts), float(lat), float(lon), values[0], values[1], values[2],
                    values[3], seq, "native", now)


_NUMBER = (int, float)


def parse_message(topic: str, payload: bytes, now: float, ctx: ParseContext,
                  retained: bool = False) -> Message | Rejection:
    """Parse one MQTT message into a Message, or a Rejection saying what was wrong; never raise.

    ``now`` is when the message arrived: positions and statuses carry it as ``arrival``.
    """
    try:
        if type(payload) is not bytes:
            payload = bytes(payload)
        fast = _fast_position(topic, payload, now, ctx)
        if fast is not None:
            return fast
        return _parse(topic, payload, now, ctx, retained)
    except PayloadError as rej:
        return _rejection(rej.reason, rej.detail, topic, payload)
    except Exception as exc:  # the worker must keep running whatever arrives
        return _rejection(Reason.INVALID_FIELD, f"internal parser error ({type(exc).__name__}); "
                          "please report this payload", topic, payload)


def _rejection(reason: Reason, detail: str, topic: object, payload: object) -> Rejection:
    topic_text = topic if isinstance(topic, str) else repr(topic)
    head = bytes(payload[:PAYLOAD_HEAD_BYTES]) if isinstance(
        payload, bytes | bytearray | memoryview) else b""
    return Rejection(reason, detail, topic_text[:MAX_TOPIC_CHARS_KEPT], head)

