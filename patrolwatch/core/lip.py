"""Decode TETRA Location Information Protocol reports (ETSI TS 100 392-18-1).

A police radio reports where it is in an SDS message (type 4) whose protocol identifier is
0x0A; what follows that octet is a LIP PDU, which this module decodes. Pure: bytes in, a
:class:`LipReport` (or a :class:`LipError` saying why not) out.

Two PDUs carry a position, and both are decoded (clause numbers are those of
TS 100 392-18-1 V1.7.x; the layouts were cross-checked against the open decoders
tetra-kit and tetraconnect, see docs/radio.md, and the code here is our own):

Short location report (6.2.1), 76 bits, sent in 10 octets:

====================  ====  ================================================================
field                 bits  meaning
====================  ====  ================================================================
PDU type              2     00 (short location report)
time elapsed          2     0: < 5 s, 1: < 5 min, 2: < 30 min, 3: not known (6.3.88)
longitude             25    two's complement, code x 360 / 2^25 degrees (6.3.50)
latitude              24    two's complement, code x 180 / 2^24 degrees (6.3.30)
position error        3     < 2 m, < 20 m, < 200 m, < 2 km, < 20 km, <= 200 km, > 200 km,
                            unknown (6.3.63)
horizontal velocity   7     0-28 km/h linear; 29-126: 16 x 1.038^(code - 13) km/h;
                            127 unknown (6.3.17)
direction of travel   4     16 sectors of 22.5 degrees from north, clockwise (6.3.5)
type of add. data     1     0: reason for sending, 1: user-defined data (6.3.87)
additional data       8     reason for sending (6.3.67) or user-defined data (6.3.94)
====================  ====  ================================================================

Long location report (6.2.2): PDU type 01, PDU type extension 0011 (6.3.62), then time
data (2-bit time type, 6.3.85: none / time elapsed 2 bits / time of position 22 bits: day
5, hour 5, minute 6, second 6, UTC), location data (4-bit location shape, 6.3.45, and
that shape's fields, see :data:`SHAPES`), velocity data (3-bit velocity type, 6.3.92, and
its fields, see :data:`VELOCITIES`), acknowledgement request (1 bit), type of additional
data (1 bit) and the reason for sending or user-defined data (8 bits). Octets after those
are optional elements this decoder does not read; their size is reported.

A report that is valid but cannot become a position (another PDU type, no shape, an arc,
a reserved code) is :data:`UNSUPPORTED`; a bit string too short, too long or out of range
for what it says it holds is :data:`MALFORMED`.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

LipProblem = Literal["lip_malformed", "lip_unsupported"]
MALFORMED: Literal["lip_malformed"] = "lip_malformed"
UNSUPPORTED: Literal["lip_unsupported"] = "lip_unsupported"

SHORT_BITS = 76
MAX_BITS = 2047  # the most SDS type 4 user data can hold (EN 300 392-2, 14.8.52)
EMERGENCY_REASON = 2  # reason for sending "emergency condition detected" (6.3.67)

# Position error (6.3.63) -> the largest error in metres each code admits. Code 6 is
# "more than 200 km" (no upper bound), code 7 "unknown".
POSITION_ERROR_M: tuple[float | None, ...] = (
    2.0, 20.0, 200.0, 2_000.0, 20_000.0, 200_000.0, math.inf, None)
# Time elapsed (6.3.88) -> (shortest, longest) age of the fix in seconds; code 3 unknown.
TIME_ELAPSED_S: tuple[tuple[float, float] | None, ...] = (
    (0.0, 5.0), (0.0, 300.0), (0.0, 1800.0), None)
REASONS: dict[int, str] = {  # reason for sending (6.3.67), the codes a control room meets
    0: "powered on", 1: "powered off", 2: "emergency condition detected",
    3: "push-to-talk", 4: "status", 5: "transmit inhibit on", 6: "transmit inhibit off",
    7: "system access (TMO on)", 8: "DMO on", 9: "enter service", 10: "service loss",
    11: "cell reselection", 12: "low battery", 13: "connected to a car kit",
    14: "disconnected from a car kit", 16: "arrival at destination",
    17: "arrival at a defined location", 18: "approaching a defined location",
    19: "SDS type-1 entered", 20: "user application initiated",
    21: "lost ability to determine location", 22: "regained ability to determine location",
    23: "leaving point", 32: "response to an immediate location request",
    129: "maximum reporting interval exceeded",
    130: "maximum reporting distance travelled",
}

# Location shapes (6.3.45): code -> (name, fields after longitude and latitude, in order).
ShapeField = tuple[str, int]
SHAPES: dict[int, tuple[str, tuple[ShapeField, ...]]] = {
    1: ("point", ()),
    2: ("circle", (("uncertainty", 6),)),
    3: ("ellipse", (("half_major", 6), ("half_minor", 6), ("angle", 8), ("confidence", 3))),
    4: ("point with altitude", (("altitude_type", 1), ("altitude", 11))),
    5: ("circle with altitude", (("uncertainty", 6), ("altitude_type", 1), ("altitude", 11))),
    6: ("ellipse with altitude", (("half_major", 6), ("half_minor", 6), ("angle", 8),
                                  ("altitude_type", 1), ("altitude", 11), ("confidence", 3))),
    7: ("circle with altitude and altitude uncertainty",
        (("uncertainty", 6), ("altitude_type", 1), ("altitude", 11),
         ("altitude_uncertainty", 3))),
    8: ("ellipse with altitude and altitude uncertainty",
        (("half_major", 6), ("half_minor", 6), ("angle", 8), ("altitude_type", 1),
         ("altitude", 11), ("altitude_uncertainty", 3), ("confidence", 3))),
    9: ("arc", (("inner_radius", 16), ("outer_radius", 16), ("start_angle", 8),
                ("stop_angle", 8), ("confidence", 3))),
    10: ("point and position error", (("position_error", 3),)),
}
# Velocity types (6.3.92): code -> fields in order.
VELOCITIES: dict[int, tuple[ShapeField, ...]] = {
    0: (),
    1: (("horizontal", 7),),
    2: (("horizontal", 7), ("horizontal_uncertainty", 3)),
    3: (("horizontal", 7), ("vertical_sign", 1), ("vertical", 7)),
    4: (("horizontal", 7), ("horizontal_uncertainty", 3), ("vertical_sign", 1),
        ("vertical", 7), ("vertical_uncertainty", 3)),
    5: (("horizontal", 7), ("direction", 8)),
    6: (("horizontal", 7), ("horizontal_uncertainty", 3), ("direction", 8),
        ("direction_uncertainty", 3)),
    7: (("horizontal", 7), ("horizontal_uncertainty", 3), ("vertical_sign", 1),
        ("vertical", 7), ("vertical_uncertainty", 3), ("direction", 8),
        ("direction_uncertainty", 3)),
}


class LipError(ValueError):
    """A PDU that does not become a position: ``problem`` is the rejection reason."""

    def __init__(self, problem: LipProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class LipReport:
    """One decoded location report; ``None`` where the PDU does not say."""

    pdu: Literal["short", "long"]
    lat: float
    lon: float
    accuracy_m: float | None  # largest horizontal error the report admits; inf: > 200 km
    speed_kmh: float | None
    heading_deg: float | None
    time_elapsed: int | None  # code (6.3.88), when the report gives an age
    time_of_position: tuple[int, int, int, int] | None  # (day, hour, minute, second) UTC
    reason: int | None  # reason for sending, when type of additional data is 0
    user_data: int | None  # user-defined data, when type of additional data is 1
    shape: str = "short"  # the long report's location shape name
    ack_requested: bool = False
    fields: tuple[tuple[str, int], ...] = ()  # raw codes of the shape and velocity fields
    extra_bits: int = 0  # optional elements after the mandatory part, not decoded

    @property
    def emergency(self) -> bool:
        """Tell whether the radio sent this because of an emergency condition."""
        return self.reason == EMERGENCY_REASON


class _Bits:
    """Read big-endian bit fields from a PDU of a known length in bits."""

    def __init__(self, data: bytes, length: int) -> None:
        self.value = int.from_bytes(data, "big") >> (len(data) * 8 - length)
        self.length = length
        self.pos = 0

    def read(self, width: int, what: str) -> int:
        if self.pos + width > self.length:
            raise LipError(MALFORMED, f"the PDU ends after {self.length} bits, inside {what} "
                           f"(bits {self.pos}-{self.pos + width - 1})")
        self.pos += width
        return (self.value >> (self.length - self.pos)) & ((1 << width) - 1)

    def signed(self, width: int, what: str) -> int:
        code = self.read(width, what)
        return code - (1 << width) if code >> (width - 1) else code


def horizontal_velocity_kmh(code: int) -> float | None:
    """Return the speed a 7-bit horizontal velocity code stands for (6.3.17), None if unknown."""
    if code == 127:
        return None
    if code <= 28:
        return float(code)
    return 16.0 * 1.038 ** (code - 13)


def uncertainty_m(code: int) -> float:
    """Return the radius a 6-bit horizontal position uncertainty code stands for.

    r = C((1 + x)^K - 1) with C = 2 m and x = 0.2, the uncertainty law LIP shares with
    3GPP TS 23.032's (which uses C = 10 m, x = 0.1); K = 63 is about 195 km.
    """
    return 2.0 * (1.2 ** code - 1.0)


def _degrees(bits: _Bits) -> tuple[float, float]:
    # 25 and 24 signed bits span exactly [-180, 180) and [-90, 90): no code is out of range.
    lon = bits.signed(25, "the longitude") * 360.0 / 2**25
    lat = bits.signed(24, "the latitude") * 180.0 / 2**24
    return lat, lon


def _length(data: bytes, bits: int | None) -> int:
    if bits is None:
        return len(data) * 8
    if not 0 < bits <= len(data) * 8 or bits <= (len(data) - 1) * 8:
        raise LipError(MALFORMED, f"a length of {bits} bits does not fit {len(data)} octets")
    return bits


def decode(data: bytes, bits: int | None = None) -> LipReport:
    """Decode a LIP PDU (without the 0x0A protocol identifier); raise LipError if it is not one.

    ``bits`` is the PDU's exact length when the bearer says it (the PEI's ``+CTSDSR`` does,
    counting the protocol identifier's 8 bits); otherwise every octet counts.
    """
    if not data:
        raise LipError(MALFORMED, "the PDU is empty")
    length = _length(data, bits)
    if length > MAX_BITS:
        raise LipError(MALFORMED, f"the PDU is {length} bits; SDS type 4 holds at most "
                       f"{MAX_BITS}")
    reader = _Bits(data, length)
    pdu_type = reader.read(2, "the PDU type")
    if pdu_type == 0:
        return _short(reader, data)
    if pdu_type == 1:
        extension = reader.read(4, "the PDU type extension")
        if extension == 0b0011:
            return _long(reader)
        raise LipError(UNSUPPORTED, f"PDU type extension {extension:04b} is not a long "
                       "location report (0011); only location reports carry a position")
    raise LipError(UNSUPPORTED, f"PDU type {pdu_type:02b} is reserved")


def _short(reader: _Bits, data: bytes) -> LipReport:
    if not SHORT_BITS <= reader.length <= SHORT_BITS + 7 or len(data) != 10:
        raise LipError(MALFORMED, f"a short location report is {SHORT_BITS} bits in 10 "
                       f"octets; this one is {reader.length} bits in {len(data)} octets")
    elapsed = reader.read(2, "the time elapsed")
    lat, lon = _degrees(reader)
    error = reader.read(3, "the position error")
    velocity = reader.read(7, "the horizontal velocity")
    direction = reader.read(4, "the direction of travel")
    user = reader.read(1, "the type of additional data")
    extra = reader.read(8, "the additional data")
    return LipReport("short", lat, lon, POSITION_ERROR_M[error],
                     horizontal_velocity_kmh(velocity), direction * 22.5, elapsed, None,
                     None if user else extra, extra if user else None,
                     fields=(("position_error", error), ("horizontal", velocity),
                             ("direction_of_travel", direction)))


def _long(reader: _Bits) -> LipReport:
    time_type = reader.read(2, "the time type")
    elapsed: int | None = None
    moment: tuple[int, int, int, int] | None = None
    if time_type == 1:
        elapsed = reader.read(2, "the time elapsed")
    elif time_type == 2:
        moment = (reader.read(5, "the day"), reader.read(5, "the hour"),
                  reader.read(6, "the minute"), reader.read(6, "the second"))
        day, hour, minute, second = moment
        if not (1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
            raise LipError(MALFORMED, f"time of position day {day} {hour:02d}:{minute:02d}:"
                           f"{second:02d} is not a time of day")
    elif time_type == 3:
        raise LipError(UNSUPPORTED, "time type 11 is reserved")
    shape_code = reader.read(4, "the location shape")
    if shape_code not in SHAPES:
        name = "no shape" if shape_code == 0 else ("a shape extension" if shape_code == 15
                                                   else "a reserved shape")
        raise LipError(UNSUPPORTED, f"location shape {shape_code:04b} is {name}: no position "
                       "to place")
    name, layout = SHAPES[shape_code]
    lat, lon = _degrees(reader)
    codes = [(field, reader.read(width, f"the {field.replace('_', ' ')}"))
             for field, width in layout]
    velocity_type = reader.read(3, "the velocity type")
    codes += [(field, reader.read(width, f"the {field.replace('_', ' ')}"))
              for field, width in VELOCITIES[velocity_type]]
    ack = reader.read(1, "the acknowledgement request")
    user = reader.read(1, "the type of additional data")
    extra = reader.read(8, "the reason for sending" if not user else "the user-defined data")
    if name == "arc":
        raise LipError(UNSUPPORTED, "location shape arc places the radio somewhere on an arc "
                       "around the point, not at it")
    found = dict(codes)
    speed = horizontal_velocity_kmh(found["horizontal"]) if "horizontal" in found else None
    heading = found["direction"] * 360.0 / 256 if "direction" in found else None
    leftover = reader.length - reader.pos
    return LipReport("long", lat, lon, _accuracy(found), speed, heading, elapsed, moment,
                     None if user else extra, extra if user else None, name, bool(ack),
                     tuple(codes), leftover if leftover >= 8 else 0)


def _accuracy(found: dict[str, int]) -> float | None:
    """Return the largest error a shape admits: its circle, its ellipse's half major axis."""
    if "uncertainty" in found:
        return uncertainty_m(found["uncertainty"])
    if "half_major" in found:
        return uncertainty_m(max(found["half_major"], found["half_minor"]))
    if "position_error" in found:
        return POSITION_ERROR_M[found["position_error"]]
    return None


def fix_time(report: LipReport, arrival: float) -> float:
    """Return the event time of a report that reached us at ``arrival`` (epoch seconds).

    Time elapsed says the fix is at most 5 s / 5 min / 30 min old; the fix is placed at the
    OLDER end of that range (arrival minus the bound). That end never claims the officer was
    somewhere later than they could have been: a presence ping is not stretched past the
    moment it might have ended, and an old fix cannot overtake a newer report. A report with
    no time, or an unknown time elapsed, has no bound at all and is refused as unsupported
    rather than placed at a guessed time. Time of position (day of month, hour, minute,
    second, UTC) is the latest such moment not after arrival (plus a minute of clock slack).
    """
    if report.time_of_position is not None:
        return _latest_moment(report.time_of_position, arrival)
    if report.time_elapsed is None:
        raise LipError(UNSUPPORTED, "the report carries no time; without one the position "
                       "cannot be placed in time")
    bounds = TIME_ELAPSED_S[report.time_elapsed]
    if bounds is None:
        raise LipError(UNSUPPORTED, "time elapsed is 'not known': the fix may be of any age, "
                       "so it cannot be placed in time")
    return arrival - bounds[1]


def _latest_moment(moment: tuple[int, int, int, int], arrival: float) -> float:
    day, hour, minute, second = moment
    now = datetime.fromtimestamp(arrival + 60.0, UTC)
    year, month = now.year, now.month
    for _ in range(3):  # a 31st is at most two months back
        if day <= calendar.monthrange(year, month)[1]:
            ts = datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
            if ts <= arrival + 60.0:
                return ts
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    raise LipError(MALFORMED, f"day {day} of the month is in none of the last three months")
