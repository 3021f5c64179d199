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
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

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


class _Reject(Exception):  # noqa: N818 - control flow, never leaves this module
    """Raised inside the parser to turn into a Rejection at the boundary."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _reject(reason: Reason, detail: str) -> NoReturn:
    raise _Reject(reason, detail)


# --- field types ---------------------------------------------------------------------------
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TEXT_CHARS = 200
_ACK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# RFC 3339 section 5.6 (its note allows a space for 'T'); ASCII digits only: \d would take
# fullwidth and other Unicode digits.
_RFC3339_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)
# Control characters other than tab/newline, and lone surrogates (which cannot be stored
# as UTF-8), are not text a person wrote.
_BAD_TEXT_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def short(value: object, limit: int = 40) -> str:
    """Return a bounded repr of a (possibly hostile) value for a rejection detail."""
    if type(value) is int and abs(value) > 10**30:
        return f"{str(value)[:12]}... ({len(str(abs(value)))} digits)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _not_finite(value: object) -> str:
    if isinstance(value, float):  # 1e999 in JSON reads as inf
        return "overflows to infinity; send a finite number"
    return f"{short(value)} is too large to be a number"


def describe(value: object) -> str:
    """Name a JSON value's type the way a device developer would, with the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a boolean)"
    if isinstance(value, str):
        return f"a string ({short(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return short(value)


def format_time(ts: float) -> str:
    """Return an epoch time as RFC 3339 UTC, or as a number if it is beyond the calendar."""
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return short(ts)


def _invalid(detail: str) -> PydanticCustomError:
    return PydanticCustomError("pw_invalid", "{detail}", {"detail": detail})


def _rfc3339(text: str) -> float:
    match = _RFC3339_RE.fullmatch(text) if len(text) <= 40 else None
    if match is None:
        raise _invalid(f"{short(text)} is not epoch seconds or an RFC 3339 time such as "
                       "2026-05-28T21:30:00Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac, zulu, sign, off_h, off_m = match.groups()[6:]
    if zulu is None and sign is None:
        raise _invalid(f"{short(text)} has no UTC offset; add Z or an offset such as +01:00")
    if sign is not None and (int(off_h) > 23 or int(off_m) > 59):
        raise _invalid(f"{short(text)} has an impossible UTC offset")
    offset = timedelta(0) if zulu else (1 if sign == "+" else -1) * timedelta(
        hours=int(off_h), minutes=int(off_m))
    leap = second == 60  # RFC 3339 allows a leap second; datetime does not
    try:
        moment = datetime(year, month, day, hour, minute, 59 if leap else second,
                          tzinfo=timezone(offset))
    except ValueError:
        raise _invalid(f"{short(text)} is not a real date and time") from None
    return moment.timestamp() + leap + (float(frac) if frac else 0.0)


def _timestamp(value: object) -> float:
    """Read epoch seconds (int or float, never a boolean) or an RFC 3339 string."""
    kind = type(value)
    if kind is float or kind is int:
        try:
            ts = float(value)  # type: ignore[arg-type]
        except OverflowError:
            ts = math.inf
        if not math.isfinite(ts):
            raise _invalid(_not_finite(value))
        return ts
    if kind is str:
        return _rfc3339(value)  # type: ignore[arg-type]
    raise _invalid(f"must be epoch seconds or an RFC 3339 string, not {describe(value)}")


def _text(value: object) -> str | None:
    """Read an optional free-text field: bounded, printable, storable as UTF-8."""
    if value is None:
        return None
    if type(value) is not str:
        raise _invalid(f"must be a string, not {describe(value)}")
    if len(value) > MAX_TEXT_CHARS:
        raise PydanticCustomError("pw_range", "{detail}", {"detail": (
            f"is {len(value)} characters long; at most {MAX_TEXT_CHARS} are allowed")})
    if _BAD_TEXT_RE.search(value):
        raise _invalid("holds a control character or a lone surrogate")
    return value or None


def _ack_id(value: object) -> str:
    if type(value) is not str:
        raise _invalid(f"must be a string, not {describe(value)}")
    if not _ACK_ID_RE.fullmatch(value):
        raise _invalid(f"{short(value)} is not a tasking id (1-64 of A-Z a-z 0-9 _ -)")
    return value


def _transition(value: object) -> str:
    if value not in ("enter", "leave") or type(value) is not str:
        raise _invalid(f"must be 'enter' or 'leave', not {describe(value)}")
    return value


Timestamp = Annotated[float, PlainValidator(_timestamp)]
Note = Annotated[str | None, PlainValidator(_text)]
AckId = Annotated[str, PlainValidator(_ack_id)]
TransitionEvent = Annotated[str, PlainValidator(_transition)]


# --- payload models ------------------------------------------------------------------------
# strict: no "51.5" -> 51.5, no true -> 1; extra="ignore": newer devices may add fields.
_STRICT = ConfigDict(strict=True, extra="ignore")


class _NativePosition(BaseModel):
    model_config = _STRICT
    ts: Timestamp
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    acc: float | None = Field(None, ge=0, allow_inf_nan=False)
    speed: float | None = Field(None, ge=0, allow_inf_nan=False)
    heading: float | None = Field(None, ge=0, le=360, allow_inf_nan=False)
    battery: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    seq: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)


class _NativeStatus(BaseModel):
    model_config = _STRICT
    ts: Timestamp
    status: str
    note: Note = None


class _NativeAck(BaseModel):
    model_config = _STRICT
    id: AckId
    ts: Timestamp
    accepted: bool
    reason: Note = None


class _OwnTracksLocation(BaseModel):
    model_config = _STRICT
    tst: Timestamp
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    acc: float | None = Field(None, ge=0, allow_inf_nan=False)
    vel: float | None = Field(None, ge=0, allow_inf_nan=False)  # km/h
    cog: float | None = Field(None, ge=0, le=360, allow_inf_nan=False)
    batt: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)


class _OwnTracksLwt(BaseModel):
    model_config = _STRICT
    tst: Timestamp | None = None


class _OwnTracksTransition(BaseModel):
    model_config = _STRICT
    tst: Timestamp
    event: TransitionEvent
    desc: Note = None


_MODELS: tuple[type[BaseModel], ...] = (
    _NativePosition, _NativeStatus, _NativeAck,
    _OwnTracksLocation, _OwnTracksLwt, _OwnTracksTransition,
)


def _bounds() -> dict[str, tuple[float | None, float | None]]:
    """Collect each numeric field's [ge, le] from the models, for readable details."""
    found: dict[str, tuple[float | None, float | None]] = {}
    for model in _MODELS:
        for name, info in model.model_fields.items():
            lo = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
            hi = next((m.le for m in info.metadata if isinstance(m, Le)), None)
            if lo is not None or hi is not None:
                found[name] = (lo, hi)  # type: ignore[assignment]
    return found


_BOUNDS = _bounds()
_EXPECTED = {"float_type": "a number", "int_type": "an integer", "string_type": "a string",
             "bool_type": "true or false"}
_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _range_text(field: str) -> str:
    lo, hi = _BOUNDS.get(field, (None, None))
    if lo is not None and hi is not None:
        return f"out of range [{_num(lo)}, {_num(hi)}]"
    if lo is not None:
        return f"out of range (it must be at least {_num(lo)})"
    return f"out of range (it must be at most {_num(hi or 0)})"


def _explain(exc: ValidationError) -> tuple[Reason, str]:
    """Turn pydantic's first error into a reason and a sentence naming field and value."""
    err = exc.errors(include_url=False)[0]
    field = str(err["loc"][0]) if err["loc"] else "payload"
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return Reason.MISSING_FIELD, f"{field} is missing; it is required"
    if kind in _RANGE_ERRORS:
        return Reason.OUT_OF_RANGE, f"{field} {short(value)} is {_range_text(field)}"
    if kind == "pw_range":
        return Reason.OUT_OF_RANGE, f"{field} {err['msg']}"
    if kind == "pw_invalid":
        return Reason.INVALID_FIELD, f"{field} {err['msg']}"
    if kind == "finite_number" or (kind == "float_type" and type(value) is int):
        return Reason.INVALID_FIELD, f"{field} {_not_finite(value)}"
    if kind in _EXPECTED:
        return Reason.INVALID_FIELD, f"{field} must be {_EXPECTED[kind]}, not {describe(value)}"
    return Reason.INVALID_FIELD, f"{field}: {err['msg']}"


def _validate(model: type[BaseModel], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        _reject(*_explain(exc))


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
        _reject(Reason.INVALID_JSON, "payload starts with a byte order mark; send UTF-8 "
                "JSON without a BOM")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        _reject(Reason.INVALID_JSON, f"payload is not UTF-8 (byte {exc.start} is "
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
        _reject(Reason.INVALID_FIELD, f"payload holds {exc.args[0]}, which is not a JSON "
                "number; send a finite number or leave the field out")
    except _DuplicateKey as exc:
        _reject(Reason.INVALID_JSON, f"key {short(exc.args[0])} appears more than once")
    except RecursionError:
        _reject(Reason.INVALID_JSON, "payload is nested too deeply to be a message")
    except json.JSONDecodeError as exc:
        where = "an empty payload" if not text.strip() else (
            f"line {exc.lineno} column {exc.colno}")
        _reject(Reason.INVALID_JSON, f"not valid JSON: {exc.msg} at {where}")
    except ValueError:  # an integer literal over Python's 4300-digit limit
        _reject(Reason.INVALID_FIELD, "payload holds an integer too long to be a number")
    if not isinstance(data, dict):
        _reject(Reason.NOT_OBJECT, f"payload must be a JSON object, not {describe(data)}")
    return data


# --- units and time ------------------------------------------------------------------------
_UNIT_RULE = "1-32 characters of A-Z, a-z, 0-9, '_' or '-'"


def _roster_check(unit: str, ctx: ParseContext) -> str:
    if ctx.strict_roster and ctx.roster.get(unit) is None:
        _reject(Reason.UNKNOWN_UNIT, f"unit {unit!r} is not on the roster and "
                "PATROL_STRICT_ROSTER is on; add it to the units file")
    return unit


def _unit_for(kind: TopicKind, ctx: ParseContext) -> str:
    """Return the unit a topic speaks for, or reject it (invalid or, if strict, unknown)."""
    if kind.unit is not None:
        if not UNIT_ID_RE.fullmatch(kind.unit):
            _reject(Reason.INVALID_UNIT, f"unit {short(kind.unit)} in the topic is not a "
                    f"valid unit id ({_UNIT_RULE})")
        return _roster_check(kind.unit, ctx)
    user, device = kind.user or "", kind.device or ""
    mapped = ctx.roster.owntracks_unit(user, device)
    if mapped is not None:
        return mapped
    fallback = f"{user}-{device}"
    if not user or not device or not UNIT_ID_RE.fullmatch(fallback):
        _reject(Reason.INVALID_UNIT, f"OwnTracks {short(user)}/{short(device)} is not on the "
                f"roster and {short(fallback)} is not a valid unit id ({_UNIT_RULE}); map it "
                "with `owntracks: user/device` in the units file")
    return _roster_check(fallback, ctx)


def _payload_unit(raw: dict[str, Any], unit: str) -> None:
    """Check an optional ``unit`` field against the topic's unit."""
    claimed = raw.get("unit")
    if claimed is None:
        return
    if not isinstance(claimed, str):
        _reject(Reason.INVALID_FIELD, f"unit must be a string, not {describe(claimed)}")
    if not UNIT_ID_RE.fullmatch(claimed):
        _reject(Reason.INVALID_UNIT, f"unit {short(claimed)} in the payload is not a valid "
                f"unit id ({_UNIT_RULE})")
    if claimed != unit:
        _reject(Reason.UNIT_MISMATCH, f"payload says unit {claimed!r} but the topic is for "
                f"{unit!r}")


def _in_window(field: str, ts: float, now: float, ctx: ParseContext) -> float:
    """Reject event times too far ahead of ``now`` or older than the trail keeps."""
    ahead = ts - now
    if ahead > ctx.max_future_s:
        _reject(Reason.FUTURE_TIMESTAMP, f"{field} {format_time(ts)} is {ahead:.0f} s in the "
                f"future (at most {ctx.max_future_s:g} s allowed); check the device clock")
    if now - ts > ctx.max_age_s:
        _reject(Reason.TOO_OLD, f"{field} {format_time(ts)} is {(now - ts) / 86400:.1f} days "
                f"old; nothing older than {ctx.max_age_s / 86400:g} days is kept")
    return ts


# --- one builder per topic kind -------------------------------------------------------------
def _position(unit: str, raw: dict[str, Any], now: float, ctx: ParseContext) -> Message:
    m = _validate(_NativePosition, raw)
    _payload_unit(raw, unit)
    return Position(unit, _in_window("ts", m.ts, now, ctx), m.lat, m.lon, m.acc, m.speed,
                    m.heading, m.battery, m.seq, "native")


def _status(unit: str, raw: dict[str, Any], now: float, ctx: ParseContext) -> Message:
    m = _validate(_NativeStatus, raw)
    _payload_unit(raw, unit)
    status = _CANONICAL_STATUS.get(m.status) or ctx.status_codes.get(m.status)
    if status is None:
        codes = sorted(ctx.status_codes)
        local = f" or a local code ({', '.join(codes[:12])}{'...' * (len(codes) > 12)})" \
            if codes else ""
        _reject(Reason.UNKNOWN_STATUS, f"status {short(m.status)} is not one of "
                f"{', '.join(_CANONICAL_STATUS)}{local}")
    return StatusChange(unit, _in_window("ts", m.ts, now, ctx), status, m.note, "native")


def _ack(unit: str, raw: dict[str, Any], now: float, ctx: ParseContext) -> Message:
    m = _validate(_NativeAck, raw)
    _payload_unit(raw, unit)
    return Ack(unit, m.id, _in_window("ts", m.ts, now, ctx), m.accepted, m.reason)


def _owntracks_type(raw: dict[str, Any], wanted: tuple[str, ...], topic: str) -> str:
    kind = raw.get("_type", _ABSENT)
    if kind is _ABSENT:
        _reject(Reason.MISSING_FIELD, "_type is missing; OwnTracks payloads name their type")
    if not isinstance(kind, str):
        _reject(Reason.INVALID_FIELD, f"_type must be a string, not {describe(kind)}")
    if kind not in wanted:
        _reject(Reason.UNSUPPORTED_TYPE, f"OwnTracks _type {short(kind)} is not taken on "
                f"{short(topic)}; PatrolWatch takes {' and '.join(map(repr, wanted))} there")
    return kind


def _owntracks_location(
    unit: str, raw: dict[str, Any], now: float, ctx: ParseContext, topic: str
) -> Message:
    if _owntracks_type(raw, ("location", "lwt"), topic) == "lwt":
        # An MQTT will is fixed when the app connects, so its tst is the connect time, not
        # the moment contact was lost: the loss is "now" (CONTRACT.md), tst is only checked.
        lwt = _validate(_OwnTracksLwt, raw)
        if lwt.tst is not None and lwt.tst - now > ctx.max_future_s:
            _in_window("tst", lwt.tst, now, ctx)
        return LostContact(unit, now)
    m = _validate(_OwnTracksLocation, raw)
    speed = None if m.vel is None else m.vel * KMH_TO_MPS
    return Position(unit, _in_window("tst", m.tst, now, ctx), m.lat, m.lon, m.acc, speed,
                    m.cog, m.batt, None, "owntracks")


def _owntracks_event(
    unit: str, raw: dict[str, Any], now: float, ctx: ParseContext, topic: str
) -> Message:
    _owntracks_type(raw, ("transition",), topic)
    m = _validate(_OwnTracksTransition, raw)
    return UnitEvent(unit, _in_window("tst", m.tst, now, ctx), m.event, m.desc)


_NATIVE_BUILDERS: dict[str, Callable[[str, dict[str, Any], float, ParseContext], Message]] = {
    "position": _position, "status": _status, "ack": _ack,
}


def _parse(topic: str, payload: bytes, now: float, ctx: ParseContext) -> Message:
    if len(payload) > MAX_PAYLOAD_BYTES:  # before decoding anything
        _reject(Reason.TOO_LARGE, f"payload is {len(payload)} bytes; the limit is "
                f"{MAX_PAYLOAD_BYTES}")
    kind = classify(topic)
    if kind is None:
        _reject(Reason.UNKNOWN_TOPIC, f"topic {short(topic)} is not one PatrolWatch takes "
                "(patrol/UNIT/position|status|ack, owntracks/USER/DEVICE[/event])")
    unit = _unit_for(kind, ctx)
    raw = _decode(payload)
    if kind.kind == "owntracks_location":
        return _owntracks_location(unit, raw, now, ctx, topic)
    if kind.kind == "owntracks_event":
        return _owntracks_event(unit, raw, now, ctx, topic)
    return _NATIVE_BUILDERS[kind.kind](unit, raw, now, ctx)


def parse_message(topic: str, payload: bytes, now: float, ctx: ParseContext) -> Message | Rejection:
    """Parse one MQTT message into a Message, or a Rejection saying what was wrong; never raise."""
    try:
        if type(payload) is not bytes:
            payload = bytes(payload)
        return _parse(topic, payload, now, ctx)
    except _Reject as rej:
        return _rejection(rej.reason, rej.detail, topic, payload)
    except Exception as exc:  # the worker must keep running whatever arrives
        return _rejection(Reason.INVALID_FIELD, f"internal parser error ({type(exc).__name__}); "
                          "please report this payload", topic, payload)


def _rejection(reason: Reason, detail: str, topic: object, payload: object) -> Rejection:
    topic_text = topic if isinstance(topic, str) else repr(topic)
    head = bytes(payload[:PAYLOAD_HEAD_BYTES]) if isinstance(
        payload, bytes | bytearray | memoryview) else b""
    return Rejection(reason, detail, topic_text[:MAX_TOPIC_CHARS_KEPT], head)

