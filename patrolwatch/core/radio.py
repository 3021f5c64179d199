"""``tetra/{issi}/lip`` messages become positions of the roster unit carrying that radio.

The payload is a LIP PDU (``core.lip``) as raw bytes or as hex text. The roster's ``issi``
names the unit; a report becomes a :class:`Position` with ``source: "tetra"`` that then goes
through the same rules as any other, and a report sent for an emergency also carries that
unit's EMERGENCY status at the same time (a :class:`RadioReport`). Pure; called from one
place in ``messages._parse``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from patrolwatch.core.lip import LipError, LipReport, decode, fix_time
from patrolwatch.core.model import (
    Position,
    RadioReport,
    Reason,
    Status,
    StatusChange,
)
from patrolwatch.core.payloads import format_time, reject, short

if TYPE_CHECKING:
    from patrolwatch.core.messages import ParseContext

KMH_TO_MPS = 1 / 3.6
# "More than 200 km" has no upper bound; the API's acc is a number, so it is stored as its
# lower bound, which is far past the 100 m a presence ping may have anyway.
BEYOND_200_KM = 200_000.0
EMERGENCY_NOTE = "radio emergency (LIP reason for sending: emergency condition detected)"
_HEX_RE = re.compile(rb"(?:[0-9A-Fa-f]{2})+")
_ISSI_RE = re.compile(r"[0-9]{1,8}")
_PROBLEMS = {"lip_malformed": Reason.LIP_MALFORMED, "lip_unsupported": Reason.LIP_UNSUPPORTED}


def pdu_bytes(payload: bytes) -> bytes:
    """Return the PDU a payload holds: hex text (whitespace allowed) is decoded, else raw bytes.

    A raw PDU whose every octet happens to be an ASCII hex digit is read as hex, so it has
    half its length and is rejected as malformed rather than misplaced; a gateway sends one
    form consistently, and hex is the one to choose for a gateway that can.
    """
    text = b"".join(payload.split())
    if text and _HEX_RE.fullmatch(text):
        return bytes.fromhex(text.decode("ascii"))
    return payload


def issi_of(issi_text: str) -> int:
    """Return the ISSI a topic names, or reject it as an invalid unit."""
    if not _ISSI_RE.fullmatch(issi_text) or int(issi_text) >= 2**24:
        reject(Reason.INVALID_UNIT, f"ISSI {short(issi_text)} in the topic is not a TETRA "
               "ISSI (a decimal number from 0 to 16777215)")
    return int(issi_text)


def parse_lip(issi_text: str, payload: bytes, now: float, ctx: ParseContext) -> RadioReport:
    """Parse one ``tetra/{issi}/lip`` message, or raise a PayloadError saying why not.

    The PDU is judged before the roster is asked, so a broken report is rejected for what is
    wrong with it whichever radios the roster knows.
    """
    issi = issi_of(issi_text)
    try:
        report = decode(pdu_bytes(payload))
        ts = fix_time(report, now)
    except LipError as exc:
        reject(_PROBLEMS[exc.problem], f"LIP: {exc.detail}")
    unit = ctx.roster.issi_unit(issi)
    if unit is None:
        reject(Reason.UNKNOWN_ISSI, f"no unit on the roster has issi {issi}; add `issi: "
               f"{issi}` to that unit in the units file")
    return to_radio_report(unit, report, _in_window(ts, now, ctx), now)


def to_radio_report(unit: str, report: LipReport, ts: float, now: float) -> RadioReport:
    """Return a decoded report as a unit's position, with its EMERGENCY if it says so."""
    acc = report.accuracy_m
    if acc is not None and acc > BEYOND_200_KM:
        acc = BEYOND_200_KM
    speed = None if report.speed_kmh is None else report.speed_kmh * KMH_TO_MPS
    position = Position(unit, ts, report.lat, report.lon, acc, speed, report.heading_deg,
                        None, None, "tetra", now)
    emergency = StatusChange(unit, ts, Status.EMERGENCY, EMERGENCY_NOTE, "tetra", now) \
        if report.emergency else None
    return RadioReport(position, emergency)


def _in_window(ts: float, now: float, ctx: ParseContext) -> float:
    """Reject a time of position too far ahead, or older than the trail keeps."""
    if ts - now > ctx.max_future_s:
        reject(Reason.FUTURE_TIMESTAMP, f"time of position {format_time(ts)} is "
               f"{ts - now:.0f} s in the future; check the radio's clock")
    if now - ts > ctx.max_age_s:
        reject(Reason.TOO_OLD, f"time of position {format_time(ts)} is older than the "
               f"{ctx.max_age_s / 86400:g} days positions are kept")
    return ts
