"""The archive's pure parts: layout names, encoding, even thinning, the replay clock, the
report's rows and its CSV escaping. No servers."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.replay import view as replay_view
from dashboard.replay.view import Clock
from dashboard.reports import view as report_view
from dashboard.reports.printable import csv_cell, csv_text
from patrolwatch.archive import layout
from patrolwatch.archive.presence import BadAreaError, polygon_area
from patrolwatch.archive.reader import even_picks
from patrolwatch.archive.storage import ArchiveStorage
from patrolwatch.archive.tables import PARQUET_OPTIONS, positions_table, quantize
from patrolwatch.store.codec import join_extras

LONDON = ZoneInfo("Europe/London")
NOON = datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()


def test_files_are_named_by_day_hour_and_content() -> None:
    assert layout.day_dir("positions", layout.day_of(NOON)) == "positions/day=2026-12-01"
    name = layout.file_name(NOON + 59, "0123456789abcdef0123")
    assert name == "h12-0123456789abcdef.parquet"
    assert layout.file_hour(name) == 12 and layout.file_hour(".h12-x.tmp") is None
    assert layout.parse_day("day=2026-12-01") == date(2026, 12, 1)
    assert layout.parse_day("day=2026-13-01") is None and layout.parse_day("junk") is None
    assert layout.days_between(NOON - 86_400, NOON) == [date(2026, 11, 30), date(2026, 12, 1)]


@pytest.mark.parametrize(("now_offset_h", "expired"), [
    (0, []), (35.99, []), (36, ["2026-11-30"]), (60, ["2026-11-30", "2026-12-01"]),
])
def test_retention_takes_whole_days_only(now_offset_h: float, expired: list[str]) -> None:
    days = [date(2026, 11, 30), date(2026, 12, 1)]
    # 2 days' retention: 30 Nov goes once its last moment (1 Dec 00:00) is 2 days old.
    got = layout.expired_days(days, NOON + now_offset_h * 3600, 2 * 86_400)
    assert [d.isoformat() for d in got] == expired


@given(st.integers(0, 5000), st.integers(2, 300))
def test_even_picks_keep_the_ends_and_at_most_the_cap(total: int, cap: int) -> None:
    picks = even_picks(total, cap)
    if total <= cap:
        assert picks is None
        return
    assert picks is not None and len(picks) <= cap and picks == sorted(set(picks))
    assert picks[0] == 0 and picks[-1] == total - 1
    gaps = [b - a for a, b in itertools.pairwise(picks)]
    assert max(gaps) - min(gaps) <= 1  # evenly spread


def test_positions_encode_small_and_read_back_exactly(tmp_path: object) -> None:
    members = {"U2": [b"1764590400.123,51.5123456,-0.1234567,5.0",
                      b"1764590405.5,51.51235,-0.12346,"],
               "U1": [b"1764590401.0,51.5,-0.1,12.5"]}
    table, digest = positions_table(members)
    again, digest2 = positions_table(dict(reversed(members.items())))
    assert digest == digest2 and table.equals(again)  # same points, same file
    assert table.column("unit").to_pylist() == ["U1", "U2", "U2"]
    storage = ArchiveStorage(str(tmp_path))
    storage.write_parquet("positions/day=2025-12-01/h12-x.parquet", table,
                          **PARQUET_OPTIONS["positions"])
    back = pq.read_table(storage.path("positions/day=2025-12-01/h12-x.parquet"))
    assert [float(x) for x in back.column("lat").to_pylist()] == [51.5, 51.5123456, 51.51235]
    assert back.column("acc").to_pylist() == [12.5, 5.0, None]
    assert quantize(1764590400.1234567, 51.51234564, -0.12345675) == (
        1764590400.123457, 51.5123456, -0.1234568)
    assert storage.list_dir("positions/day=2025-12-01") == ["h12-x.parquet"]


def test_polygon_argument_is_checked() -> None:
    area = polygon_area('{"type": "Polygon", "coordinates": [[[0,0],[0,1],[1,1],[0,0]]]}')
    assert area.bbox() == (0.0, 0.0, 1.0, 1.0)
    for bad, reason in (("{", "not JSON"), ('{"type": "Point", "coordinates": [0, 0]}',
                                            "Polygon"),
                        ('{"type": "Polygon", "coordinates": [[[0,0],[1,1],[0,1],[1,0],[0,0]]]}',
                         "polygon"), ("x" * 70_000, "bytes")):
        with pytest.raises(BadAreaError, match=reason):
            polygon_area(bad)


def test_replay_clock_plays_steps_and_stops_at_the_end() -> None:
    clock = Clock(NOON, NOON + 3600, NOON, playing=True, speed=120)
    assert replay_view.tick(clock).at == NOON + 120
    assert replay_view.step(clock, -5).at == NOON  # never before the period
    end = replay_view.tick(Clock(NOON, NOON + 3600, NOON + 3590, True, 120))
    assert end.at == NOON + 3600 and not end.playing
    assert Clock.from_store(clock.to_store(), 0) == clock
    assert Clock.from_store({**clock.to_store(), "speed": 7}, 0).speed == 10
    with pytest.raises(ValueError, match="31 days"):
        replay_view.set_period(clock, NOON, NOON + 40 * 86_400)
    assert replay_view.parse_local("2026-12-01 12:00", LONDON) == NOON
    assert replay_view.parse_local("soon", LONDON) is None


def test_next_gap_and_emergency() -> None:
    entries = [(NOON, {"a": "covered"}, True), (NOON + 60, {"a": "gap"}, True),
               (NOON + 120, {"a": "gap"}, True), (NOON + 180, {"a": "covered"}, True),
               (NOON + 240, {"a": "gap"}, True)]
    assert replay_view.next_event(entries, [], NOON, "gap") == NOON + 60
    assert replay_view.next_event(entries, [], NOON + 60, "gap") == NOON + 240
    assert replay_view.next_event(entries, [], NOON + 240, "gap") is None
    assert replay_view.next_event([], [NOON + 5, NOON + 50], NOON + 5, "emergency") == NOON + 50


def test_report_rows_count_gaps_and_observed_time() -> None:
    entries = [(NOON, {"a": "covered"}, True), (NOON + 600, {"a": "gap"}, True),
               (NOON + 1200, {"a": "gap"}, False), (NOON + 1500, {"a": "covered"}, True)]
    gaps = report_view.gap_stretches(entries, "a", NOON, NOON + 3600)
    # Each entry speaks for five minutes at most: 600-900 and 1200-1500 are gap, apart.
    assert [(g.start - NOON, g.end - NOON) for g in gaps] == [(600, 900), (1200, 1500)]
    observed = report_view.observed_spans(entries, NOON + 3600)
    assert [(a - NOON, b - NOON) for a, b in observed] == [(0, 300), (600, 900), (1500, 1800)]
    shifts = report_view.shift_periods(NOON, NOON + 86_400, [time(7), time(15), time(23)],
                                       LONDON)
    assert [(a - NOON) / 3600 for a, _ in shifts] == [0, 3, 11, 19]


def test_report_times_to_acknowledge_and_arrive() -> None:
    taskings = [{"id": "t1", "unit": "U1", "hotspot": "a", "created": NOON, "state": "ARRIVED",
                 "by": "sgt"}, {"id": "t0", "unit": "U1", "hotspot": "a",
                                "created": NOON - 86_400, "state": "EXPIRED", "by": "sgt"}]
    audit = [{"ts": NOON + 40, "kind": "tasking", "tasking": "t1", "to": "ACKNOWLEDGED"},
             {"ts": NOON + 600, "kind": "tasking", "tasking": "t1", "to": "ARRIVED"},
             {"ts": NOON + 90, "kind": "emergency_ack", "unit": "U2", "actor": "sgt"}]
    rows = report_view.tasking_rows(taskings, audit, NOON - 60, NOON + 3600)
    assert [(r.id, r.ack_s, r.arrive_s) for r in rows] == [("t1", 40, 600)]
    from patrolwatch.core.model import Status, StatusChange

    changes = [StatusChange("U2", NOON + 30, Status.EMERGENCY),
               StatusChange("U2", NOON + 31, Status.EMERGENCY),
               StatusChange("U2", NOON + 900, Status.ON_PATROL),
               StatusChange("U3", NOON + 100, Status.EMERGENCY)]
    em = report_view.emergency_rows(changes, audit, NOON, NOON + 3600)
    assert [(e.unit, e.ack_s, e.by) for e in em] == [("U2", 60, "sgt"), ("U3", None, None)]


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM", "'@SUM"),
    ("Soho", "Soho"), (None, ""), (2.25, "2.2"), (3, "3"),
])
def test_csv_cells_never_start_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_escapes_hotspot_names_typed_by_people() -> None:
    row = report_view.ShiftRow("h", "=cmd|'/c calc'!A1", NOON, NOON + 3600, 60.0, 60.0, 1, 0,
                               0, 0.0, 0.0, 0.0, ())
    text = csv_text(report_view.Report(NOON, NOON + 3600, rows=[row]), LONDON)
    assert "\n" + "h,'=cmd" in text and ",=" not in text


def test_extras_join_their_own_points() -> None:
    a, b, c = (b"100.5,51.5,-0.1,5.0", b"100.5,51.6,-0.2,", b"101.0,51.7,-0.3,")
    # b came second at its time, so its extras are under its whole member; c has none
    # (written before extras were kept); a stray field of no point read is left unused.
    extras = {b"100.5": b"1.0|90.0|80.0|n", b: b"2.0|||o", b"99.0": b"3.0|||t"}
    tails, owners = join_extras([a, b, c], extras)
    assert tails == [b"1.0|90.0|80.0|n", b"2.0|||o", None]
    assert owners == [b"100.5", b, None]
    # Two points of one time, neither with a whole-member field: neither takes the bare one.
    assert join_extras([a, b], {b"100.5": b"1.0|||n"}) == ([None, None], [None, None])
    table, digest = positions_table({"U1": [a, b, c]}, {"U1": tails})
    assert table.column("speed").to_pylist() == [1.0, 2.0, None]
    assert table.column("heading").to_pylist() == [90.0, None, None]
    assert table.column("source").to_pylist() == ["native", "owntracks", None]
    # The extras are part of the file's content, and so of its name.
    assert digest != positions_table({"U1": [a, b, c]})[1]
    assert positions_table({"U1": [a, b, c]}, {"U1": [None] * 3})[1] == positions_table(
        {"U1": [a, b, c]})[1]
