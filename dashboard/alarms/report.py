"""The operation report's alarm section: every kind, with time to acknowledge (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

HEADER = ["alarm_kind", "unit", "callsign", "raised", "detail", "count", "state",
          "escalated", "minutes_to_ack", "acknowledged_by"]


def cells(rows: Iterable[Mapping[str, Any]], zone: ZoneInfo) -> list[list[Any]]:
    """Return one line per alarm (``core.alarm_records.report_rows``), local times."""
    return [[r["kind"], r["unit"], r["callsign"],
             datetime.fromtimestamp(r["raised"], zone).strftime("%Y-%m-%d %H:%M"), r["detail"],
             r["count"], r["state"], "yes" if r["escalated"] else "", r["minutes_to_ack"],
             r["by"] or ""] for r in rows]
