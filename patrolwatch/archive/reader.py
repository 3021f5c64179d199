"""Reads of the archive with DuckDB: no server and no lock, so any number of processes read.

Each read opens an in-memory DuckDB, lists only the day folders and hour files its period
touches, and scans them (DuckDB's own Parquet reader on a folder; pyarrow's S3 filesystem
for ``s3://``, since DuckDB's httpfs extension may not be installable). Duplicates a crash
may have left (the same point in two files) are dropped by (unit, ts, lat, lon).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from patrolwatch.archive import layout
from patrolwatch.archive.storage import ArchiveStorage

PointRow = tuple[str, float, float, float, float | None]  # unit, ts, lat, lon, acc
Box = tuple[float, float, float, float]  # min_lat, min_lon, max_lat, max_lon
BOX_EPS = 1e-6  # the index's boxes are doubles of 7-place decimals: widen past the rounding
NearHour = tuple[str, int, int, Box]  # unit, epoch hour, points, the unit's box that hour
_POINT_COLS = ("unit, epoch_us(ts) / 1e6 AS t, CAST(lat AS DOUBLE) AS lat, "
               "CAST(lon AS DOUBLE) AS lon, acc")


_ENGINE: list[duckdb.DuckDBPyConnection] = []
_ENGINE_LOCK = threading.Lock()
_ENGINE_CONFIG: dict[str, str | int] = {"threads": 2}


def configure_engine(*, threads: int, memory_limit_mb: int) -> None:
    """Set this process's DuckDB threads and memory limit (history pool processes)."""
    with _ENGINE_LOCK:
        _ENGINE_CONFIG.update(threads=threads, memory_limit=f"{memory_limit_mb}MB")
        if _ENGINE:
            _ENGINE.pop().close()


def _engine() -> duckdb.DuckDBPyConnection:
    """Return this process's in-memory DuckDB; each query takes its own cursor of it.

    Opening a DuckDB costs 40-70 ms, a cursor microseconds. The engine holds no data: each
    cursor's views and registered tables are its own and go with it.
    """
    with _ENGINE_LOCK:
        if not _ENGINE:
            _ENGINE.append(duckdb.connect(config=dict(_ENGINE_CONFIG)))
        return _ENGINE[0]


def ts_literal(ts: float) -> str:
    """Return an epoch time as a DuckDB TIMESTAMPTZ literal (microseconds, UTC)."""
    when = datetime.fromtimestamp(round(ts * 1e6) / 1e6, UTC)
    return f"TIMESTAMPTZ '{when.isoformat(sep=' ')}'"


def even_picks(total: int, max_points: int | None) -> list[int] | None:
    """Return which of ``total`` ordered points to keep so at most ``max_points`` remain, evenly
    spread with the first and last kept; None when all fit."""
    if max_points is None or total <= max_points:
        return None
    if max_points == 1:
        return [total - 1]
    step = (total - 1) / (max_points - 1)
    return sorted({round(k * step) for k in range(max_points)})


def _unit_in(units: Sequence[str]) -> str:
    """Return ``unit IN (...)`` as literals: DuckDB then skips row groups by their unit range."""
    return f"unit IN ({', '.join(_quote(u) for u in units)})"


def _in_box(box: Box | None, prefix: str = "p.") -> str:
    """Return ``lat/lon BETWEEN ... AND`` for a box (empty for None): row groups skip by it."""
    if box is None:
        return ""
    e = BOX_EPS
    return (f"{prefix}lat BETWEEN {box[0] - e!r} AND {box[2] + e!r} AND "
            f"{prefix}lon BETWEEN {box[1] - e!r} AND {box[3] + e!r} AND ")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class ArchiveReader:
    """Queries over the archive's datasets."""

    def __init__(self, storage: ArchiveStorage) -> None:
        self.storage = storage

    # --- files and relations --------------------------------------------------------------
    def files(self, dataset: str, since: float, until: float) -> list[str]:
        """Return the full paths of the files that may hold rows in [since, until]."""
        out = []
        for day in layout.days_between(since, until):
            folder = layout.day_dir(dataset, day)
            for name in self.storage.list_dir(folder):
                hour = layout.file_hour(name)
                if hour is None:
                    continue
                start = layout.hour_start(day, hour)
                if start <= until and start + layout.HOUR_S > since:
                    out.append(self.storage.path(f"{folder}/{name}"))
        return out

    def _source(self, con: duckdb.DuckDBPyConnection, name: str, files: Sequence[str]) -> bool:
        """Make ``name`` a view over the files; return False when there are none."""
        if not files:
            return False
        if self.storage.local:
            listed = ", ".join(_quote(f) for f in files)
            con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet([{listed}])")
        else:
            con.register(name, pads.dataset(list(files), filesystem=self.storage.fs,
                                            format="parquet"))
        return True

    @staticmethod
    def _connect() -> duckdb.DuckDBPyConnection:
        return _engine().cursor()

    @contextlib.contextmanager
    def view(self, dataset: str, since: float, until: float, name: str
             ) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """Yield a connection where ``name`` is a view over the dataset's files that may hold
        [since, until] (None when there are none), for a query of the caller's own."""
        con = self._connect()
        try:
            yield con if self._source(con, name, self.files(dataset, since, until)) else None
        finally:
            con.close()

    # --- positions --------------------------------------------------------------------------
    def points(self, since: float, until: float, *, unit: str | None = None,
               units: Sequence[str] | None = None,
               bbox: tuple[float, float, float, float] | None = None) -> list[PointRow]:
        """Return distinct archived points in [since, until], by unit then time.

        ``bbox`` is (min_lat, min_lon, max_lat, max_lon).
        """
        con = self._connect()
        try:
            if not self._source(con, "p", self.files(layout.POSITIONS, since, until)):
                return []
            where = [f"ts >= {ts_literal(since)}", f"ts <= {ts_literal(until)}"]
            if unit is not None:
                where.append(f"unit = {_quote(unit)}")
            if units is not None:
                if not units:
                    return []
                where.append(_unit_in(units))
            if bbox is not None:
                where.append(f"lat BETWEEN {bbox[0]!r} AND {bbox[2]!r} "
                             f"AND lon BETWEEN {bbox[1]!r} AND {bbox[3]!r}")
            sql = (f"SELECT DISTINCT {_POINT_COLS} FROM p WHERE {' AND '.join(where)} "
                   "ORDER BY unit, t, lat, lon")
            return [(str(r[0]), float(r[1]), float(r[2]), float(r[3]),
                     None if r[4] is None else float(r[4])) for r in con.execute(sql).fetchall()]
        finally:
            con.close()

    def units_in_bbox(self, since: float, until: float,
                      bbox: tuple[float, float, float, float]) -> list[str]:
        """Return the units whose archived hourly box meets ``bbox`` in [since, until].

        From the unit-hour index (each unit's box per hour): a week is a few hundred
        thousand index rows, not a billion points. A superset of the units with a point
        inside: presence reads their trails next and keeps only real visits.
        """
        con = self._connect()
        try:
            if not self._source(con, "h", self.files(layout.UNIT_HOURS, since, until)):
                return []
            return sorted(str(r[0]) for r in con.execute(
                f"SELECT DISTINCT unit FROM h WHERE hour >= {ts_literal(since - layout.HOUR_S)} "
                f"AND hour <= {ts_literal(until)} AND max_lat >= {bbox[0]!r} "
                f"AND min_lat <= {bbox[2]!r} AND max_lon >= {bbox[1]!r} "
                f"AND min_lon <= {bbox[3]!r}").fetchall())
        finally:
            con.close()

    def unit_box(self, unit: str, since: float, until: float) -> Box | None:
        """Return the box of a unit's archived points in [since, until] (from the index)."""
        con = self._connect()
        try:
            if not self._source(con, "h", self.files(layout.UNIT_HOURS, since - layout.HOUR_S,
                                                     until)):
                return None
            row = con.execute(
                f"SELECT min(min_lat), min(min_lon), max(max_lat), max(max_lon) FROM h "
                f"WHERE unit = {_quote(unit)} AND hour >= "
                f"{ts_literal(layout.hour_floor(since))} AND hour <= {ts_literal(until)}"
            ).fetchall()[0]
            return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]),
                                                 float(row[3]))
        finally:
            con.close()

    def points_near(self, since: float, until: float, bbox: Box) -> int:
        """Return the points of the unit-hours whose box meets ``bbox`` (one sum, no rows):
        a lower bound of what a polygon query reads, to refuse the hopeless ones fast.
        Each unit-hour counts for the part of it the period covers."""
        con = self._connect()
        try:
            if not self._source(con, "h", self.files(layout.UNIT_HOURS, since, until)):
                return 0
            return int(con.execute(
                f"SELECT coalesce(sum(points * greatest(0, least({until!r}, epoch(hour) + 3600) "
                f"- greatest({since!r}, epoch(hour))) / 3600), 0) FROM h "
                f"WHERE hour >= {ts_literal(layout.hour_floor(since))} "
                f"AND hour <= {ts_literal(until)} "
                f"AND max_lat >= {bbox[0] - BOX_EPS!r} AND min_lat <= {bbox[2] + BOX_EPS!r} "
                f"AND max_lon >= {bbox[1] - BOX_EPS!r} AND min_lon <= {bbox[3] + BOX_EPS!r}"
            ).fetchall()[0][0])
        finally:
            con.close()

    def unit_hours_near(self, since: float, until: float,
                        bbox: tuple[float, float, float, float]) -> list[NearHour]:
        """Return (unit, hour number, points, box) of each unit-hour whose box meets ``bbox`` in
        [since, until], and of the hours either side of it (a visit's neighbouring pings).

        Hour numbers are epoch hours (``epoch seconds // 3600``). Only these unit-hours are
        read by a polygon query, so its cost is known, from the index, before it runs.
        """
        con = self._connect()
        try:
            if not self._source(con, "h", self.files(layout.UNIT_HOURS, since - layout.HOUR_S,
                                                     until + layout.HOUR_S)):
                return []
            rows = con.execute(
                f"WITH idx AS (SELECT unit, epoch_us(hour) // 3600000000 AS hr, points, "
                f"min_lat, max_lat, min_lon, max_lon FROM h "
                f"WHERE hour >= {ts_literal(layout.hour_floor(since) - layout.HOUR_S)} "
                f"AND hour <= {ts_literal(until + layout.HOUR_S)}), "
                f"m AS (SELECT DISTINCT unit, hr FROM idx WHERE hr >= "
                f"{int(since // layout.HOUR_S)} AND hr <= {int(until // layout.HOUR_S)} AND "
                f"max_lat >= {bbox[0] - BOX_EPS!r} AND min_lat <= {bbox[2] + BOX_EPS!r} AND "
                f"max_lon >= {bbox[1] - BOX_EPS!r} AND min_lon <= {bbox[3] + BOX_EPS!r}), "
                "w AS (SELECT DISTINCT unit, hr + k AS hr FROM m, (VALUES (-1), (0), (1)) v(k)) "
                "SELECT idx.unit, idx.hr, sum(idx.points)::BIGINT, min(min_lat), max(max_lat), "
                "min(min_lon), max(max_lon) FROM idx JOIN w "
                "ON idx.unit = w.unit AND idx.hr = w.hr GROUP BY ALL ORDER BY ALL").fetchall()
            return [(str(r[0]), int(r[1]), int(r[2]), (float(r[3]), float(r[5]), float(r[4]),
                                                       float(r[6]))) for r in rows]
        finally:
            con.close()

    def area_rows(self, since: float, until: float, want: Sequence[tuple[str, int]],
                  hot: pa.Table, bbox: Box, wanted_box: Box | None = None) -> pa.Table:
        """Return the points in ``bbox`` among the wanted unit-hours (and ``hot``, Redis's
        points: unit, us, lat, lon, acc), each with its rank in its unit's read points
        (``i``, distinct times from 1) and the time of the point before it (``prev_us``).

        DuckDB ranks the read points and keeps only those in the box, so Python holds the
        box's points, never whole trails. ``wanted_box`` (every wanted unit-hour inside it)
        lets the Parquet statistics skip the row groups of units far away: files are in
        grid-cell order (``tables.spatial_order``). Columns: unit, i, us, prev_us, lat, lon,
        acc.
        """
        con = self._connect()
        try:
            units = sorted({u for u, _ in want})
            con.register("hot", hot)
            con.register("want", pa.table({"unit": pa.array([u for u, _ in want], pa.string()),
                                           "hr": pa.array([h for _, h in want], pa.int64())}))
            cold = ""
            if units and self._source(con, "p", self.files(layout.POSITIONS, since, until)):
                cold = (f"SELECT p.unit::VARCHAR AS unit, epoch_us(p.ts) AS us, "
                        f"CAST(p.lat AS DOUBLE) AS lat, CAST(p.lon AS DOUBLE) AS lon, p.acc "
                        f"FROM p JOIN want ON p.unit::VARCHAR = want.unit "
                        f"AND epoch_us(p.ts) // 3600000000 = want.hr WHERE {_in_box(wanted_box)}"
                        f"p.{_unit_in(units)} "
                        f"AND p.ts >= {ts_literal(since)} AND p.ts <= {ts_literal(until)} "
                        "UNION ALL ")
            return con.sql(
                f"WITH raw AS ({cold}SELECT unit, us, lat, lon, acc FROM hot), "
                "pts AS (SELECT unit, us, lat, lon, any_value(acc) AS acc FROM raw "
                "GROUP BY unit, us, lat, lon), "
                "times AS (SELECT unit, us, row_number() OVER w AS i, lag(us) OVER w AS prev_us "
                "FROM (SELECT DISTINCT unit, us FROM pts) WINDOW w AS "
                "(PARTITION BY unit ORDER BY us)) "
                "SELECT pts.unit, times.i, pts.us, times.prev_us, pts.lat, pts.lon, pts.acc "
                "FROM pts JOIN times ON pts.unit = times.unit AND pts.us = times.us "
                f"WHERE pts.lat BETWEEN {bbox[0]!r} AND {bbox[2]!r} "
                f"AND pts.lon BETWEEN {bbox[1]!r} AND {bbox[3]!r} "
                "ORDER BY pts.unit, pts.us").to_arrow_table()
        finally:
            con.close()

    def trail(self, unit: str, since: float, until: float,
              extra: Sequence[tuple[float, float, float, float | None]] = (),
              later: int = 0, max_points: int | None = None
              ) -> tuple[int, list[tuple[float, float, float, float | None]], list[int]]:
        """Return (total, the archived part kept, which of the ``later`` points to keep).

        ``extra`` are Redis points of the same period, merged in before counting (a crash may
        have left some in both tiers); ``later`` is how many Redis points follow the period.
        The whole trail (distinct archived-or-extra points, then the later ones) is thinned
        evenly to ``max_points``: the later indices kept are returned 0-based, for the caller
        to read by rank, so no more than ``max_points`` points are ever loaded.
        """
        con = self._connect()
        try:
            has_files = self._source(con, "p", self.files(layout.POSITIONS, since, until))
            box = self.unit_box(unit, since, until) if has_files else None
            con.register("hot", pa.table({
                "t": pa.array([p[0] for p in extra], pa.float64()),
                "lat": pa.array([p[1] for p in extra], pa.float64()),
                "lon": pa.array([p[2] for p in extra], pa.float64()),
                "acc": pa.array([p[3] for p in extra], pa.float64())}))
            cold = (f"SELECT epoch_us(ts) / 1e6 AS t, CAST(lat AS DOUBLE) AS lat, "
                    f"CAST(lon AS DOUBLE) AS lon, acc FROM p WHERE {_in_box(box, '')}"
                    f"unit = {_quote(unit)} "
                    f"AND ts >= {ts_literal(since)} AND ts <= {ts_literal(until)} UNION ALL "
                    if has_files else "")
            con.execute(f"CREATE TEMP TABLE pts AS SELECT t, lat, lon, any_value(acc) AS acc, "
                        f"row_number() OVER (ORDER BY t, lat, lon) - 1 AS i FROM "
                        f"({cold}SELECT t, lat, lon, acc FROM hot) GROUP BY t, lat, lon")
            early = int(con.execute("SELECT count(*) FROM pts").fetchall()[0][0])
            total = early + later
            picks = even_picks(total, max_points)
            if picks is None:
                sql = "SELECT t, lat, lon, acc FROM pts ORDER BY i"
                late = list(range(later))
            else:
                con.register("pick", pa.table({"i": pa.array(
                    [i for i in picks if i < early], pa.int64())}))
                sql = "SELECT t, lat, lon, acc FROM pts WHERE i IN (SELECT i FROM pick) ORDER BY i"
                late = [i - early for i in picks if i >= early]
            rows = con.execute(sql).fetchall()
            return total, [(float(r[0]), float(r[1]), float(r[2]),
                            None if r[3] is None else float(r[3])) for r in rows], late
        finally:
            con.close()

    def last_positions(self, since: float, at: float) -> dict[str, tuple[float, float, float]]:
        """Return each unit's last archived point in [since, at] as (ts, lat, lon).

        The hour holding ``at`` first; the hour before only for the units not in it (files
        are sorted by unit, so a whole hour is scanned however short the window).
        """
        hour = layout.hour_floor(at)
        found = self._last_in(max(since, hour), at, None)
        if since < hour:
            earlier = self._last_in(since, hour - 1e-6, found)
            found.update(earlier)
        return found

    def _last_in(self, since: float, at: float,
                 skip: dict[str, tuple[float, float, float]] | None
                 ) -> dict[str, tuple[float, float, float]]:
        con = self._connect()
        try:
            if not self._source(con, "p", self.files(layout.POSITIONS, since, at)):
                return {}
            where = f"ts >= {ts_literal(since)} AND ts <= {ts_literal(at)}"
            if skip:
                con.register("found", pa.table({"u": pa.array(list(skip), pa.string())}))
                where += " AND unit NOT IN (SELECT u FROM found)"
            got = con.execute(
                f"SELECT unit::VARCHAR AS unit, max_by(epoch_us(ts), ts) / 1e6 AS t, "
                f"max_by(CAST(lat AS DOUBLE), ts) AS lat, max_by(CAST(lon AS DOUBLE), ts) AS lon "
                f"FROM p WHERE {where} GROUP BY unit").fetchnumpy()
            return {str(u): (float(t), float(la), float(lo)) for u, t, la, lo in zip(
                got["unit"], got["t"], got["lat"], got["lon"], strict=True)}
        finally:
            con.close()

    # --- statuses and hotspot states ----------------------------------------------------
    def statuses(self, since: float, until: float,
                 units: Sequence[str] | None = None) -> list[tuple[str, float, str]]:
        """Return distinct archived status changes in [since, until] as (unit, ts, status)."""
        con = self._connect()
        try:
            if not self._source(con, "s", self.files(layout.STATUSES, since, until)):
                return []
            where = f"ts >= {ts_literal(since)} AND ts <= {ts_literal(until)}"
            if units is not None:
                con.register("wanted", pa.table({"u": pa.array(list(units), pa.string())}))
                where += " AND unit IN (SELECT u FROM wanted)"
            rows = con.execute(f"SELECT DISTINCT unit, epoch_us(ts) / 1e6 AS t, status FROM s "
                               f"WHERE {where} ORDER BY unit, t, status").fetchall()
            return [(str(r[0]), float(r[1]), str(r[2])) for r in rows]
        finally:
            con.close()

    def latest_statuses(self, since: float, at: float) -> list[tuple[str, float, str]]:
        """Return each unit's newest archived status change in [since, at]."""
        con = self._connect()
        try:
            if not self._source(con, "s", self.files(layout.STATUSES, since, at)):
                return []
            rows = con.execute(
                f"SELECT unit, max_by(epoch_us(ts), ts) / 1e6, max_by(status, (ts, status)) "
                f"FROM s WHERE ts >= {ts_literal(since)} AND ts <= {ts_literal(at)} "
                "GROUP BY unit").fetchall()
            return [(str(r[0]), float(r[1]), str(r[2])) for r in rows]
        finally:
            con.close()

    def hotspot_states(self, since: float, until: float
                       ) -> list[tuple[float, dict[str, str], bool]]:
        """Return archived hotspot-state entries in [since, until], oldest first."""
        con = self._connect()
        try:
            if not self._source(con, "h", self.files(layout.HOTSPOT_STATES, since, until)):
                return []
            rows = con.execute(
                f"SELECT DISTINCT epoch_us(ts) / 1e6 AS t, hotspot, state, observed FROM h "
                f"WHERE ts >= {ts_literal(since)} AND ts <= {ts_literal(until)} "
                "ORDER BY t, hotspot").fetchall()
        finally:
            con.close()
        out: dict[float, tuple[dict[str, str], bool]] = {}
        for t, hotspot, state, observed in rows:
            states, _ = out.setdefault(float(t), ({}, bool(observed)))
            if hotspot:
                states[str(hotspot)] = str(state)
        return [(t, s, o) for t, (s, o) in sorted(out.items())]

    def size_bytes(self) -> dict[str, Any]:
        """Return the bytes each dataset takes."""
        return {d: self.storage.size(d) for d in layout.DATASETS}
