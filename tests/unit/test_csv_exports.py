"""Every CSV export escapes every typed text cell through ``core.csvsafe`` (no server).

A user named `` =HYPERLINK(...)`` (leading space) once reached the operation report's ``by``
column unescaped: the report had an escaping of its own that did not look past whitespace.
"""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import pytest

from dashboard.reports.printable import TABLES, csv_text
from dashboard.reports.view import EmergencyRow, Report, TaskingRow
from patrolwatch.core.csvsafe import csv_safe

HOSTILE = [" =HYPERLINK(\"https://evil.example\",\"x\")", "\t=1+1", "\n@SUM(A1)", "+1",
           "-2+3", "=cmd|' /C calc'!A0", "\u00a0=1"]


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def _inert(cell: str) -> bool:
    return not cell.lstrip().startswith(("=", "+", "-", "@"))


@pytest.mark.parametrize("typed", HOSTILE)
def test_the_one_function_quotes_formulas_behind_whitespace(typed: str) -> None:
    assert _inert(str(csv_safe(typed)))


@pytest.mark.parametrize("typed", HOSTILE)
def test_the_operation_report_csv_escapes_every_typed_cell(typed: str) -> None:
    report = Report(since=0.0, until=3600.0,
                    taskings=[TaskingRow(typed, typed, typed, 10.0, "SENT", typed, None, None)],
                    emergencies=[EmergencyRow(typed, 20.0, 5.0, typed)])
    report.alarms = [{"raised": 30.0, "kind": "welfare", "unit": typed, "callsign": typed,
                      "detail": typed, "count": 1, "state": "ACKNOWLEDGED", "by": typed,
                      "escalated": False, "minutes_to_ack": 1.0}]
    # Every table of the report (one tidy table each), not only the first.
    cells = [c for table in TABLES
             for c in _cells(csv_text(report, ZoneInfo("Europe/London"), table))]
    assert cells.count(str(csv_safe(typed))) >= 8
    assert all(_inert(c) for c in cells), [c for c in cells if not _inert(c)]


def test_numbers_stay_numbers_in_the_report() -> None:
    report = Report(since=0.0, until=3600.0,
                    taskings=[TaskingRow("t1", "CW-401", "h", 10.0, "SENT", "sup", -3.5, 12.0)])
    cells = _cells(csv_text(report, ZoneInfo("Europe/London"), "taskings"))
    assert "-3.5" in cells and "12.0" in cells
