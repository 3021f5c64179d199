"""How values are packed into Redis members and fields, and read back."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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


# A trail point's extras (keys.k_trail_extras): what the trail member, the message's identity,
# does not carry. The source is one letter: a member is a few bytes shorter at every point.
SOURCE_CODES = {"native": "n", "owntracks": "o", "tetra": "t"}
SOURCE_NAMES = {code: name for name, code in SOURCE_CODES.items()}


def extras_tail(p: Position) -> str:
    """Return ``speed|heading|battery|source`` of a point, as its extras member ends."""
    return (f"{'' if p.speed is None else repr(p.speed)}|"
            f"{'' if p.heading is None else repr(p.heading)}|"
            f"{'' if p.battery is None else repr(p.battery)}|{SOURCE_CODES[p.source]}")


def join_extras(members: Sequence[bytes], extras: Mapping[bytes, bytes]
                ) -> tuple[list[bytes | None], list[bytes | None]]:
    """Return each trail member's extras tail and its extras field (None: none kept).

    ``extras`` maps fields to tails (``keys.k_trail_extras``). A field is the point's ``ts``
    spelt as in the trail member, or the whole trail member when a field of that ``ts``
    was already there when it was written (``scripts.LIVE``), so each point finds its own.
    A bare ``ts`` field goes to the one point of that time that has no whole-member field;
    if several lack one (points written before extras were kept), none gets it.
    """
    tails: list[bytes | None] = [None] * len(members)
    used: list[bytes | None] = [None] * len(members)
    waiting: dict[bytes, list[int]] = {}
    for i, m in enumerate(members):
        own = extras.get(m)
        if own is not None:
            tails[i], used[i] = own, m
        else:
            waiting.setdefault(m.split(b",", 1)[0], []).append(i)
    for ts, rows in waiting.items():
        plain = extras.get(ts)
        if plain is not None and len(rows) == 1:
            tails[rows[0]], used[rows[0]] = plain, ts
    return tails, used


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

