"""The operation report tells the truth: silence is not failure, percentages, one set of
thresholds, labels on the map, and CSV tables that csv.DictReader, DuckDB and pandas load as
they are."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas
import pytest

from dashboard.reports import view as report_view
from dashboard.reports.printable import TABLES, UnknownTableError, csv_text, html_text
from patrolwatch.core.hotspots import CoverageDefaults, load_hotspots
from patrolwatch.core.visits import Visit

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
NOON = datetime(2026, 12, 8, 12, tzinfo=UTC).timestamp()  # a Tuesday


def _hotspots():  # type: ignore[no-untyped-def]
    return load_hotspots(ROOT / "config/hotspots.geojson", CoverageDefaults(), LONDON)


def _report(entries: list[report_view.StateEntry]) -> report_view.Report:
    hotspots = list(_hotspots())
    since, until = NOON - 12 * 3600, NOON + 12 * 3600
    begin, end = datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC)
    windows = {h.id: h.windows_between(begin, end, LONDON) for h in hotspots}
    visits = {hotspots[0].id: [Visit("U1", hotspots[0].id, since + 600, since + 1800, 20)]}
    shifts = report_view.shift_periods(since, until, [datetime(2026, 1, 1, 7).time(),
                                                      datetime(2026, 1, 1, 19).time()], LONDON)
    rows = report_view.shift_rows(hotspots, shifts, windows, visits, entries, until)
    return report_view.Report(since, until, rows=rows,
                              daily=report_view.daily_presence(hotspots, visits, since, until,
                                                               LONDON))


def test_a_row_with_no_observed_time_is_not_red_and_not_zero_percent() -> None:
    report = _report([])  # the evaluator never saw a fresh feed: nothing observed
    judged = [r for r in report.rows if r.window_minutes > 0]
    assert judged, "the seed's hotspots have windows in a day"
    for r in judged:
        assert r.observed_minutes == 0
        assert r.mostly_unobserved and r.planned_visits == 0
        assert r.compliance_pct is None and r.level == "none"
        assert r.verdict == "mostly unobserved"
    page = html_text(report, list(_hotspots()), LONDON)
    assert "mostly unobserved" in page and "#c62828" not in page  # no red anywhere
    rows = list(csv.DictReader(io.StringIO(csv_text(report, LONDON))))
    windowed = [r for r in rows if float(r["window_minutes"]) > 0]
    assert windowed and all(r["compliance_percent"] == "" for r in windowed)
    assert all(r["mostly_unobserved"] == "true" for r in windowed)


def test_observed_time_is_judged_in_percent_with_the_dosage_thresholds() -> None:
    entries = [(t, {}, True) for t in range(int(NOON - 12 * 3600), int(NOON + 12 * 3600), 60)]
    report = _report(entries)  # observed all day long: every window is judged
    judged = [r for r in report.rows if r.planned_visits > 0]
    assert judged and all(not r.mostly_unobserved for r in judged)
    assert all(r.compliance_pct is not None and 0 <= r.compliance_pct <= 100 for r in judged)
    levels = {r.level for r in judged}
    assert "poor" in levels  # nothing delivered where nothing was planned for: red, in %
    poor = next(r for r in judged if r.level == "poor")
    assert poor.verdict.endswith(" %") and poor.compliance_pct is not None
    assert poor.compliance_pct < 50
    page = html_text(report, list(_hotspots()), LONDON)
    assert "red under 50 %" in page and "amber 50 % to 89 %" in page
    # Labels on the map: every hotspot's name is written on it, not only in a tooltip.
    svg = page[page.index("<svg"):page.index("</svg>")]
    from html import escape

    assert svg.count('class="pw-report-label"') == len(list(_hotspots()))
    for h in _hotspots():
        assert escape(h.name[:20]) in svg


@pytest.mark.parametrize("table", TABLES)
def test_each_csv_table_is_tidy_for_dictreader_duckdb_and_pandas(table: str,
                                                                  tmp_path: Path) -> None:
    report = _report([(NOON - 3600, {"x": "gap"}, True)])
    evil = report_view.ShiftRow("h1", '=HYPERLINK("evil")', NOON, NOON + 3600, 60.0, 60.0, 1,
                                0, 0, 0.0, 0.0, 0.0, (report_view.Gap(NOON, NOON + 900),))
    report.rows = [evil, *report.rows]
    report.taskings = [report_view.TaskingRow("t1", "U1", "h1", NOON, "ARRIVED", " -sgt",
                                              40.0, 600.0)]
    report.emergencies = [report_view.EmergencyRow("U2", NOON + 30, 60.0, "@sgt")]
    report.alarms = [{"raised": NOON + 60, "kind": "status_too_long", "unit": "U3",
                      "callsign": "=U3", "detail": "AT_SCENE for 46 min", "count": 1,
                      "state": "ACKNOWLEDGED", "by": "+sgt", "escalated": False,
                      "minutes_to_ack": 2.5}]
    text = csv_text(report, LONDON, table)
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert rows and all(list(r) == header and None not in r.values() for r in rows)
    assert not any(v.lstrip().startswith(("=", "+", "@")) or (v.lstrip().startswith("-")
                   and not v.lstrip("-").replace(".", "").isdigit())
                   for r in rows for v in r.values())
    path = tmp_path / f"{table}.csv"
    path.write_text(text)
    con = duckdb.connect()
    got = con.execute(f"SELECT * FROM read_csv_auto('{path}', header = true)")
    assert [d[0] for d in got.description] == header
    assert len(got.fetchall()) == len(rows)
    frame = pandas.read_csv(path)
    assert list(frame.columns) == header and len(frame) == len(rows)


def test_an_unknown_table_names_the_ones_there_are() -> None:
    with pytest.raises(UnknownTableError, match="shifts, gaps, taskings"):
        csv_text(report_view.Report(NOON, NOON + 1), LONDON, "everything")
