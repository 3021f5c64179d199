"""Simulated police radios: roster units with an ``issi`` report by TETRA LIP only.

Such a unit's positions go out as LIP long location reports (TS 100 392-18-1: time of
position, a point with a circle of uncertainty, horizontal velocity and direction of
travel, reason "maximum reporting interval exceeded"), hex text on ``tetra/{issi}/lip``, as
a radio gateway would publish them; its emergency goes out as a short location report at
its last position with the reason "emergency condition detected". Its other statuses stay
native (a control room's dispatch system would send those). Pure: reports in, messages out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from patrolwatch.core.lip import EMERGENCY_REASON
from patrolwatch.core.topics import lip_topic
from patrolwatch.sim.types import PositionReport, Report, StatusReport

PERIODIC_REASON = 129  # maximum reporting interval exceeded since the last report (6.3.67)


def _pack(fields: list[tuple[int, int]]) -> str:
    value = bits = 0
    for field, width in fields:
        value = value << width | (field & ((1 << width) - 1))
        bits += width
    fill = -bits % 8
    return (value << fill).to_bytes((bits + fill) // 8, "big").hex().upper()


def _lon_lat(lat: float, lon: float) -> list[tuple[int, int]]:
    lon_code = round(lon * 2**25 / 360)
    lon_code = lon_code - 2**25 if lon_code >= 2**24 else lon_code
    return [(lon_code, 25), (min(round(lat * 2**24 / 180), 2**23 - 1), 24)]


def velocity_code(speed_mps: float) -> int:
    """Return the 7-bit horizontal velocity code nearest to a speed (6.3.17)."""
    kmh = max(0.0, speed_mps * 3.6)
    if kmh < 28.5:
        return round(kmh)
    return min(126, round(13 + math.log(kmh / 16) / math.log(1.038)))


def uncertainty_code(acc_m: float) -> int:
    """Return the smallest 6-bit uncertainty code whose radius covers ``acc_m``."""
    return min(63, max(0, math.ceil(math.log(acc_m / 2 + 1) / math.log(1.2) - 1e-9)))


def long_report(report: PositionReport) -> str:
    """Return a position as a LIP long location report, hex text."""
    moment = time.gmtime(report.ts)
    return _pack([(0b01, 2), (0b0011, 4), (0b10, 2), (moment.tm_mday, 5), (moment.tm_hour, 5),
                  (moment.tm_min, 6), (min(moment.tm_sec, 59), 6), (0b0010, 4),
                  *_lon_lat(report.lat, report.lon), (uncertainty_code(report.acc), 6),
                  (0b101, 3), (velocity_code(report.speed), 7),
                  (round(report.heading % 360 * 256 / 360) % 256, 8), (0, 1), (0, 1),
                  (PERIODIC_REASON, 8)])


def emergency_report(last: PositionReport) -> str:
    """Return a short location report at the last position, sent for an emergency."""
    return _pack([(0b00, 2), (0, 2), *_lon_lat(last.lat, last.lon), (1, 3),
                  (velocity_code(last.speed), 7), (round(last.heading % 360 / 22.5) % 16, 4),
                  (0, 1), (EMERGENCY_REASON, 8)])


class Radios:
    """The radios of a simulated fleet: which reports they send, and as what."""

    def __init__(self, issis: Mapping[str, int]) -> None:
        self.issis = dict(issis)
        self._last: dict[str, PositionReport] = {}

    def message(self, report: Report) -> tuple[str, str] | None:
        """Return the LIP (topic, hex payload) a radio unit sends for a report, else None."""
        issi = self.issis.get(report.unit)
        if issi is None:
            return None
        if isinstance(report, PositionReport):
            self._last[report.unit] = report
            return lip_topic(issi), long_report(report)
        last = self._last.get(report.unit)
        if isinstance(report, StatusReport) and report.status == "EMERGENCY" and last:
            return lip_topic(issi), emergency_report(last)
        return None
