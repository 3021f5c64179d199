"""What a valid payload looks like: strict pydantic models and readable field errors.

The models are built once at import and validate in strict mode (no "51.5" -> 51.5, no
true -> 1). A failed validation becomes a :class:`PayloadError` whose reason and detail
name the field, the value and the rule ("lat 95.2 is out of range [-90, 90]").
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, NoReturn

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from patrolwatch.core.model import Reason
from patrolwatch.core.text import text_problem


class PayloadError(Exception):
    """A message that must be rejected, with the reason and a sentence for a person."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def reject(reason: Reason, detail: str) -> NoReturn:
    """Raise a PayloadError (a function, so call sites read as one statement)."""
    raise PayloadError(reason, detail)


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
    problem = text_problem(value, MAX_TEXT_CHARS)  # one rule for device and tasking notes
    if problem is not None:
        raise _invalid(problem)
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


class NativePosition(BaseModel):
    """A native position: ``patrol/{unit}/position``."""

    model_config = _STRICT
    ts: Timestamp
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    acc: float | None = Field(None, ge=0, allow_inf_nan=False)
    speed: float | None = Field(None, ge=0, allow_inf_nan=False)
    heading: float | None = Field(None, ge=0, le=360, allow_inf_nan=False)
    battery: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    seq: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)


class NativeStatus(BaseModel):
    """A native status change: ``patrol/{unit}/status``."""

    model_config = _STRICT
    ts: Timestamp
    status: str
    note: Note = None


class NativeAck(BaseModel):
    """A crew's answer to a tasking: ``patrol/{unit}/ack``."""

    model_config = _STRICT
    id: AckId
    ts: Timestamp
    accepted: bool
    reason: Note = None


class OwnTracksLocation(BaseModel):
    """An OwnTracks ``_type: location`` (integers in the app, numbers here)."""

    model_config = _STRICT
    tst: Timestamp
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    acc: float | None = Field(None, ge=0, allow_inf_nan=False)
    vel: float | None = Field(None, ge=0, allow_inf_nan=False)  # km/h
    cog: float | None = Field(None, ge=0, le=360, allow_inf_nan=False)
    batt: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)


class OwnTracksLwt(BaseModel):
    """An OwnTracks last will, ``_type: lwt``."""

    model_config = _STRICT
    tst: Timestamp | None = None


class OwnTracksTransition(BaseModel):
    """An OwnTracks region ``_type: transition`` on ``.../event``."""

    model_config = _STRICT
    tst: Timestamp
    event: TransitionEvent
    desc: Note = None


_MODELS: tuple[type[BaseModel], ...] = (
    NativePosition, NativeStatus, NativeAck,
    OwnTracksLocation, OwnTracksLwt, OwnTracksTransition,
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
# OwnTracks fields a fix is still good without: iOS sends vel/cog -1 when it does not know.
OWNTRACKS_OPTIONAL = ("acc", "vel", "cog", "batt")


def drop_out_of_range(raw: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Return the payload without the optional numeric fields that are out of their range.

    Only numbers out of range go: a field of the wrong type still rejects the message, since
    that is a broken sender rather than an unknown reading.
    """
    drop = []
    for name in fields:
        value = raw.get(name)
        if type(value) is not int and type(value) is not float:
            continue
        lo, hi = _BOUNDS.get(name, (None, None))
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            drop.append(name)
    if not drop:
        return raw
    return {k: v for k, v in raw.items() if k not in drop}
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


def validate(model: type[BaseModel], raw: dict[str, Any]) -> Any:
    """Validate a decoded payload against a model, or raise a readable PayloadError."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        reject(*_explain(exc))
