"""Arrow tables of archived rows (CONTRACT.md section 6 columns) and how they are encoded.

Positions keep ``ts`` as a UTC microsecond timestamp and ``lat``/``lon`` as decimals with 7
places (1 cm), stored as integers with delta encoding: a track's consecutive fixes differ
in the last few digits, so a point costs about 7 bytes instead of the 19 that float columns
take. ``quantize`` applies the same rounding to points read from Redis, so an answer is the
same whichever tier held the point.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from patrolwatch.store.codec import SOURCE_NAMES
from patrolwatch.store.replay import parse_state_member

LAT_TYPE = pa.decimal128(9, 7)
LON_TYPE = pa.decimal128(10, 7)
TS_TYPE = pa.timestamp("us", tz="UTC")
SCALE = 10_000_000  # 7 decimal places
ROW_GROUP = 131_072  # rows per group (statuses, states, index)
POSITION_ROW_GROUP = 32_768  # a few hundred unit-hours of neighbouring cells per group
CELL_DEG = (0.01, 0.015)  # the sort order's grid cell: about 1.1 km x 1 km in London

POSITION_SCHEMA = pa.schema([
    ("unit", pa.dictionary(pa.int32(), pa.string())), ("ts", TS_TYPE), ("lat", LAT_TYPE),
    ("lon", LON_TYPE), ("acc", pa.float64()), ("speed", pa.float64()),
    ("heading", pa.float64()), ("battery", pa.float64()),
    ("source", pa.dictionary(pa.int32(), pa.string())),
])
STATUS_SCHEMA = pa.schema([("unit", pa.string()), ("ts", TS_TYPE), ("status", pa.string()),
                           ("note", pa.string())])
STATE_SCHEMA = pa.schema([("ts", TS_TYPE), ("hotspot", pa.string()), ("state", pa.string()),
                          ("observed", pa.bool_())])

UNIT_HOUR_SCHEMA = pa.schema([("unit", pa.string()), ("hour", TS_TYPE), ("points", pa.int64()),
                              ("min_lat", pa.float64()), ("max_lat", pa.float64()),
                              ("min_lon", pa.float64()), ("max_lon", pa.float64())])

PARQUET_OPTIONS: dict[str, dict[str, Any]] = {
    "positions": {
        "compression": "zstd", "row_group_size": POSITION_ROW_GROUP,
        "store_decimal_as_integer": True,
        "use_dictionary": ["unit", "acc", "source"],
        "column_encoding": {"ts": "DELTA_BINARY_PACKED", "lat": "DELTA_BINARY_PACKED",
                            "lon": "DELTA_BINARY_PACKED"},
    },
    "statuses": {"compression": "zstd", "row_group_size": ROW_GROUP},
    "hotspot_states": {"compression": "zstd", "row_group_size": ROW_GROUP},
    "unit_hours": {"compression": "zstd", "row_group_size": ROW_GROUP},
}
_CSV_TYPES = {"ts": pa.float64(), "lat": pa.float64(), "lon": pa.float64(), "acc": pa.float64()}
_EXTRAS_TYPES = {"speed": pa.float64(), "heading": pa.float64(), "battery": pa.float64(),
                 "source": pa.string()}


def quantize(ts: float, lat: float, lon: float) -> tuple[float, float, float]:
    """Round a point as the archive stores it: microseconds and 7 decimal places."""
    return round(ts * 1e6) / 1e6, round(lat * SCALE) / SCALE, round(lon * SCALE) / SCALE


def _decimals(values: np.ndarray[Any, Any], kind: pa.DataType) -> pa.Array:
    """Return degrees as a decimal array with 7 places, built from its 128-bit integers."""
    ints = np.rint(values * SCALE).astype(np.int64)
    wide = np.empty((len(ints), 2), dtype=np.int64)
    wide[:, 0] = ints
    wide[:, 1] = ints >> 63  # sign extension into the high word
    return pa.Array.from_buffers(kind, len(ints), [None, pa.py_buffer(wide.tobytes())])


def _micros(ts: np.ndarray[Any, Any]) -> pa.Array:
    return pa.array(np.rint(ts * 1e6).astype(np.int64), type=pa.int64()).cast(TS_TYPE)


def positions_table(members: Mapping[str, Sequence[bytes]],
                    extras: Mapping[str, Sequence[bytes | None]] | None = None
                    ) -> tuple[pa.Table, str]:
    """Return raw trail members (``ts,lat,lon,acc``) as a table sorted by unit, ts; and its digest.

    ``extras``: per unit, each member's ``speed|heading|battery|source`` tail
    (``codec.join_extras``; None where the point has none: those columns are null). The
    digest is of the members themselves, in unit order then Redis's own order (score, then
    member), and of the extras where a unit has any, so the same points always give the
    same digest, and the same digest the same bytes.
    """
    extras = extras or {}
    units = sorted(members)
    digest = hashlib.blake2b(digest_size=16)
    buf = io.BytesIO()
    tails = io.BytesIO()
    counts = []
    for unit in units:
        rows = members[unit]
        digest.update(unit.encode() + b"\0")
        block = b"\n".join(rows) + b"\n"
        digest.update(block)
        buf.write(block)
        counts.append(len(rows))
        mine = extras.get(unit) or [None] * len(rows)
        lines = b"\n".join(b"|||" if t is None else t for t in mine) + b"\n"
        if any(t is not None for t in mine):
            digest.update(b"\0" + lines)
        tails.write(lines)
    n = sum(counts)
    parsed = pacsv.read_csv(
        io.BytesIO(buf.getvalue()),
        read_options=pacsv.ReadOptions(column_names=["ts", "lat", "lon", "acc"]),
        convert_options=pacsv.ConvertOptions(column_types=_CSV_TYPES),
    )
    more = pacsv.read_csv(
        io.BytesIO(tails.getvalue()),
        read_options=pacsv.ReadOptions(column_names=["speed", "heading", "battery", "source"]),
        parse_options=pacsv.ParseOptions(delimiter="|", quote_char=False),
        convert_options=pacsv.ConvertOptions(column_types=_EXTRAS_TYPES,
                                             strings_can_be_null=True, null_values=[""]),
    )
    indices = pa.array(np.repeat(np.arange(len(units), dtype=np.int32), counts))
    unit_col = pa.DictionaryArray.from_arrays(indices, pa.array(units, type=pa.string()))
    table = pa.Table.from_arrays([
        unit_col, _micros(parsed["ts"].to_numpy()),
        _decimals(parsed["lat"].to_numpy(), LAT_TYPE),
        _decimals(parsed["lon"].to_numpy(), LON_TYPE),
        parsed["acc"].combine_chunks(), more["speed"].combine_chunks(),
        more["heading"].combine_chunks(), more["battery"].combine_chunks(),
        _sources(more["source"].combine_chunks()) if n else pa.nulls(
            0, pa.dictionary(pa.int32(), pa.string())),
    ], schema=POSITION_SCHEMA)
    return spatial_order(table), digest.hexdigest()


def _sources(codes: pa.Array) -> pa.DictionaryArray:
    """Return one-letter source codes (``codec.SOURCE_CODES``) as a dictionary of names."""
    encoded = codes.dictionary_encode()
    names = [SOURCE_NAMES.get(c, c) for c in encoded.dictionary.to_pylist()]
    return pa.DictionaryArray.from_arrays(pa.array(encoded.indices, type=pa.int32()),
                                          pa.array(names, type=pa.string()))


def spatial_order(table: pa.Table) -> pa.Table:
    """Return a positions table sorted by each unit-hour's grid cell, then unit, then time.

    A unit's cell is that of its first fix in the table (one hour of one batch). Row groups
    then hold neighbouring units, and their lat/lon statistics are tight: a query about a
    small area skips every group whose box misses the area's units' boxes (Parquet
    statistics, any reader). The contract's columns are unchanged.
    """
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table
    units = pc.cast(table["unit"], pa.string())
    _, codes = np.unique(units.to_numpy(zero_copy_only=False), return_inverse=True)
    ts = pc.cast(table["ts"], pa.int64()).to_numpy()
    # Each unit's earliest fix: sort by (unit, ts), the first row of each unit's run.
    by_unit = np.lexsort((ts, codes))
    first = by_unit[np.flatnonzero(np.r_[True, np.diff(codes[by_unit]) != 0])]
    lat = pc.cast(table["lat"], pa.float64()).to_numpy()[first]
    lon = pc.cast(table["lon"], pa.float64()).to_numpy()[first]
    cell = (np.floor(lat / CELL_DEG[0]).astype(np.int64) * 100_000
            + np.floor(lon / CELL_DEG[1]).astype(np.int64))
    return table.take(pa.array(np.lexsort((ts, codes, cell[codes]))))


def statuses_table(rows: Sequence[tuple[str, bytes, bytes | None]]) -> tuple[pa.Table, str]:
    """Return status-log entries (unit, ``ts|STATUS``, note) as a table sorted by unit, ts.

    The note (``keys.k_status_notes``; None: the status had none, null in the table) is in
    the digest where a row has one, so the same entries always give the same file name and
    the same bytes; a batch without notes keeps the digest it had before notes were kept.
    """
    parsed: list[tuple[str, float, str, str | None]] = []
    for unit, member, note in rows:
        ts, status = member.decode().split("|", 1)
        parsed.append((unit, float(ts), status, None if note is None else note.decode()))
    parsed.sort(key=lambda p: p[:3])
    named = [p if p[3] is not None else p[:3] for p in parsed]
    digest = hashlib.blake2b(repr(named).encode(), digest_size=16).hexdigest()
    table = pa.Table.from_arrays([
        pa.array([p[0] for p in parsed], type=pa.string()),
        _micros(np.array([p[1] for p in parsed], dtype=float)),
        pa.array([p[2] for p in parsed], type=pa.string()),
        pa.array([p[3] for p in parsed], type=pa.string()),
    ], schema=STATUS_SCHEMA)
    return table, digest


def states_table(members: Sequence[bytes]) -> tuple[pa.Table, str]:
    """Return hotspot-state entries as one row per hotspot and time, sorted by time."""
    rows: list[tuple[float, str, str, bool]] = []
    for member in members:
        ts, states, observed = parse_state_member(member)
        # An entry with no hotspots still says whether time was observed.
        rows.extend((ts, hid, state, observed) for hid, state in (states or {"": ""}).items())
    rows.sort()
    digest = hashlib.blake2b(repr(rows).encode(), digest_size=16).hexdigest()
    table = pa.Table.from_arrays([
        _micros(np.array([r[0] for r in rows], dtype=float)),
        pa.array([r[1] for r in rows], type=pa.string()),
        pa.array([r[2] for r in rows], type=pa.string()),
        pa.array([r[3] for r in rows], type=pa.bool_()),
    ], schema=STATE_SCHEMA)
    return table, digest


def unit_hours_table(positions: pa.Table, hour: float) -> pa.Table:
    """Return each unit's point count and bounding box in one hour's positions table."""
    import pyarrow.compute as pc

    lat = pc.cast(positions["lat"], pa.float64())
    lon = pc.cast(positions["lon"], pa.float64())
    grouped = pa.table({"unit": pc.cast(positions["unit"], pa.string()), "lat": lat,
                        "lon": lon}).group_by("unit").aggregate(
        [("lat", "count"), ("lat", "min"), ("lat", "max"), ("lon", "min"), ("lon", "max")])
    n = grouped.num_rows
    hours = pa.array(np.full(n, round(hour * 1e6), dtype=np.int64)).cast(TS_TYPE)
    return pa.Table.from_arrays([
        grouped["unit"], hours, grouped["lat_count"], grouped["lat_min"], grouped["lat_max"],
        grouped["lon_min"], grouped["lon_max"]], schema=UNIT_HOUR_SCHEMA).sort_by("unit")
