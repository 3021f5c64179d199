"""Compaction: late points make small files; an hour keeps at most two.

An hour's first archiver pass writes its main file. Each later pass that finds late points
for that hour writes one more small file (positions, statuses or hotspot states). When an
hour holds more than two files, every file but the largest is merged into one (duplicates
dropped, rows sorted as the archiver sorts them) under a name hashed from its content, made
durable, and only then are the merged files deleted: a crash in between leaves duplicates,
which every reader drops, never a gap. A positions merge rewrites the unit-hour index
beside it, under the same name. The largest file is never read, so memory stays that of the
late files, not of the hour.
"""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb
import pyarrow as pa

from patrolwatch.archive import layout
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tables import (
    PARQUET_OPTIONS,
    POSITION_SCHEMA,
    STATE_SCHEMA,
    STATUS_SCHEMA,
    spatial_order,
    unit_hours_table,
)

KEEP = 2  # files an hour may hold before its late ones are merged
_ORDER = {layout.POSITIONS: "unit, ts, lat, lon", layout.STATUSES: "unit, ts, status",
          layout.HOTSPOT_STATES: "ts, hotspot"}
_SCHEMA = {layout.POSITIONS: POSITION_SCHEMA, layout.STATUSES: STATUS_SCHEMA,
           layout.HOTSPOT_STATES: STATE_SCHEMA}


def compact_hour(storage: ArchiveStorage, dataset: str, day: date, hour: int) -> int:
    """Merge an hour's late files when it holds more than KEEP; return how many went."""
    folder = layout.day_dir(dataset, day)
    names = [n for n in storage.list_dir(folder) if layout.file_hour(n) == hour]
    if len(names) <= KEEP:
        return 0
    sizes = {n: storage.file_size(f"{folder}/{n}") for n in names}
    largest = max(names, key=lambda n: (sizes[n], n))
    late = sorted(n for n in names if n != largest)
    table = _merged(storage, [storage.path(f"{folder}/{n}") for n in late], dataset)
    digest = hashlib.blake2b(b"compacted\0" + "\0".join(late).encode(),
                             digest_size=16).hexdigest()
    name = layout.file_name(layout.hour_start(day, hour), digest)
    storage.write_parquet(f"{folder}/{name}", table, **PARQUET_OPTIONS[dataset])
    if dataset == layout.POSITIONS:
        index = layout.day_dir(layout.UNIT_HOURS, day)
        storage.write_parquet(f"{index}/{name}",
                              unit_hours_table(table, layout.hour_start(day, hour)),
                              **PARQUET_OPTIONS[layout.UNIT_HOURS])
        for n in late:
            storage.delete_file(f"{index}/{n}")
    for n in late:
        storage.delete_file(f"{folder}/{n}")
    return len(late)


def _merged(storage: ArchiveStorage, paths: list[str], dataset: str) -> pa.Table:
    con = duckdb.connect(config={"threads": 1})
    try:
        if storage.local:
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            source = f"read_parquet([{listed}], hive_partitioning = false)"
        else:
            import pyarrow.dataset as pads

            con.register("src", pads.dataset(paths, filesystem=storage.fs, format="parquet"))
            source = "src"
        columns = ", ".join(_SCHEMA[dataset].names)
        table = con.sql(f"SELECT DISTINCT {columns} FROM {source} ORDER BY {_ORDER[dataset]}"
                        ).to_arrow_table()
    finally:
        con.close()
    table = table.cast(_SCHEMA[dataset])
    return spatial_order(table) if dataset == layout.POSITIONS else table
