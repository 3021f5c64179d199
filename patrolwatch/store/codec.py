"""How values are packed into Redis members and fields, and read back."""

from __future__ import annotations

import json
from typing import Any

import orjson

from patrolwatch.core.model import Position


def pack_point(p: Position) -> str:
    """Pack a trail point; identical messages pack identically, so re-deliveries store once."""
    acc = "" if p.acc is None else repr(p.acc)
    return f"{p.ts!r},{p.lat!r},{p.lon!r},{acc}"


def unpack_point(member: str | bytes) -> tuple[float, float, float, float | None]:
    """Unpack a trail point into (ts, lat, lon, acc)."""
    text = member.decode() if isinstance(member, bytes) else member
    ts, lat, lon, acc = text.split(",")
    return float(ts), float(lat), float(lon), (float(acc) if acc else None)


def position_json(p: Position) -> str:
    """Serialise a latest position (orjson: json.dumps was an eighth of the ingest's time)."""
    return orjson.dumps(
        {"ts": p.ts, "lat": p.lat, "lon": p.lon, "acc": p.acc, "speed": p.speed,
         "heading": p.heading, "battery": p.battery, "seq": p.seq, "source": p.source},
    ).decode()



def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value



def visit_member(visit: dict[str, Any]) -> str:
    """Serialise a visit deterministically, so the same visit is always the same member."""
    return json.dumps({"unit": visit["unit"], "start": visit["start"], "end": visit["end"],
                       "pings": visit["pings"]}, separators=(",", ":"), sort_keys=True)

