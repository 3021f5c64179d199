"""The operation report as a printable HTML page (inline SVG map and chart) and as CSV.

No tiles and no scripts: the page prints the same on a control-room printer with no
internet. Every text people typed is escaped: HTML-escaped in the page, and in the CSV no
cell starts with ``=``, ``+``, ``-`` or ``@`` (a spreadsheet would run it as a formula).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.alarms import report as alarm_report
from dashboard.reports.view import Report, ShiftRow
from patrolwatch.core.csvsafe import csv_safe
from patrolwatch.core.hotspots import Hotspot

MAP_W, MAP_H = 520, 360
CHART_ROW_H, CHART_W = 18, 520
CSV_HEADER = ["hotspot", "name", "shift_start", "shift_end", "window_minutes",
              "observed_minutes", "planned_visits", "delivered_visits", "qualifying_visits",
              "patrol_minutes", "officer_minutes", "compliance", "gaps", "gap_minutes",
              "longest_gap_minutes"]


def csv_cell(value: Any) -> str:
    """Return a value as a CSV cell a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"  # a number is data, -3.5 included
    return str(value) if isinstance(value, int) else str(csv_safe(str(value)))


def _when(ts: float | None, zone: ZoneInfo) -> str:
    from datetime import datetime

    if ts is None or not math.isfinite(ts):
        return ""
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M")


def _row_cells(r: ShiftRow, zone: ZoneInfo) -> list[Any]:
    longest = max((g.minutes for g in r.gaps), default=0.0)
    return [r.hotspot, r.name, _when(r.shift_start, zone), _when(r.shift_end, zone),
            r.window_minutes, r.observed_minutes, r.planned_visits, r.delivered_visits,
            r.qualifying_visits, r.patrol_minutes, r.officer_minutes,
            None if r.compliance is None else f"{r.compliance:.3f}", len(r.gaps),
            r.gap_minutes, longest]


def csv_text(report: Report, zone: ZoneInfo) -> str:
    """Return the report as CSV: shift rows, then taskings, then emergencies (local times)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")

    def rows(header: Sequence[str], body: Iterable[Sequence[Any]]) -> None:
        w.writerow(header)
        for cells in body:
            w.writerow([csv_cell(c) for c in cells])

    rows(CSV_HEADER, (_row_cells(r, zone) for r in report.rows))
    w.writerow([])
    rows(["tasking", "unit", "hotspot", "created", "state", "by", "ack_seconds",
          "arrive_seconds"],
         ([t.id, t.unit, t.hotspot, _when(t.created, zone), t.state, t.by, t.ack_s, t.arrive_s]
          for t in report.taskings))
    w.writerow([])
    rows(["emergency_unit", "raised", "ack_seconds", "acknowledged_by"],
         ([e.unit, _when(e.start, zone), e.ack_s, e.by] for e in report.emergencies))
    w.writerow([])
    rows(alarm_report.HEADER, alarm_report.cells(report.alarms, zone))
    return out.getvalue()


# --- HTML --------------------------------------------------------------------------------
def _compliance_colour(value: float | None) -> str:
    if value is None:
        return "#9e9e9e"
    return "#2e7d32" if value >= 0.9 else "#f9a825" if value >= 0.6 else "#c62828"


def map_svg(hotspots: Sequence[Hotspot], compliance: dict[str, float | None]) -> str:
    """Return an SVG of the hotspots (equirectangular about their middle), coloured by plan met."""
    if not hotspots:
        return ""
    bounds = [h.geometry.bounds for h in hotspots]
    min_lon, min_lat = min(b[0] for b in bounds), min(b[1] for b in bounds)
    max_lon, max_lat = max(b[2] for b in bounds), max(b[3] for b in bounds)
    k = math.cos(math.radians((min_lat + max_lat) / 2))
    span = max((max_lon - min_lon) * k, max_lat - min_lat, 1e-6)
    scale = min(MAP_W, MAP_H) * 0.9 / span

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (20 + (lon - min_lon) * k * scale, MAP_H - 20 - (lat - min_lat) * scale)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_W}" height="{MAP_H}" '
             f'class="pw-report-map" role="img" aria-label="Hotspots by plan delivered">',
             f'<rect width="{MAP_W}" height="{MAP_H}" fill="#f4f6f8"/>']
    for h in hotspots:
        colour = _compliance_colour(compliance.get(h.id))
        title = f"<title>{escape(h.name)}</title>"
        if h.radius_m is not None:
            x, y = xy(h.geometry.x, h.geometry.y)
            r = max(3.0, h.radius_m / 111_320.0 * scale)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" '
                         f'fill-opacity="0.6" stroke="#333">{title}</circle>')
            continue
        polys = getattr(h.geometry, "geoms", [h.geometry])
        for poly in polys:
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(*c) for c in poly.exterior.coords))
            parts.append(f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.6" '
                         f'stroke="#333">{title}</polygon>')
    parts.append("</svg>")
    return "".join(parts)


def chart_svg(daily: dict[str, dict[str, float]], names: dict[str, str]) -> str:
    """Return an SVG bar chart: patrol-minutes per hotspot per day."""
    days = sorted({d for per in daily.values() for d in per})
    if not days:
        return ""
    top = max([m for per in daily.values() for m in per.values()] + [1.0])
    label_w, bar_area = 180, CHART_W - 180 - 10
    cell = bar_area / len(days)
    height = CHART_ROW_H * (len(daily) + 1) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{height}" '
             'class="pw-report-chart" role="img" aria-label="Presence per hotspot per day">']
    for j, day in enumerate(days):
        parts.append(f'<text x="{label_w + j * cell + 2:.1f}" y="12" font-size="9">'
                     f'{escape(day[5:])}</text>')
    for i, (hid, per) in enumerate(daily.items()):
        y = CHART_ROW_H * (i + 1)
        parts.append(f'<text x="0" y="{y + 12}" font-size="11">'
                     f'{escape(names.get(hid, hid)[:28])}</text>')
        for j, day in enumerate(days):
            minutes = per.get(day, 0.0)
            w = max(0.0, (cell - 3) * minutes / top)
            parts.append(f'<rect x="{label_w + j * cell:.1f}" y="{y + 2}" width="{w:.1f}" '
                         f'height="{CHART_ROW_H - 5}" fill="#1565c0"><title>'
                         f'{escape(names.get(hid, hid))} {day}: {minutes:.0f} min</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f"<td>{escape('' if c is None else (f'{c:.1f}' if isinstance(c, float) else str(c)))}"
        "</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_text(report: Report, hotspots: Sequence[Hotspot], zone: ZoneInfo) -> str:
    """Return the report as one printable HTML page."""
    totals: dict[str, list[int]] = {}
    for r in report.rows:
        t = totals.setdefault(r.hotspot, [0, 0])
        t[0] += r.planned_visits
        t[1] += r.delivered_visits
    compliance = {h: (d / p if p else None) for h, (p, d) in totals.items()}
    names = {h.id: h.name for h in hotspots}
    period = f"{_when(report.since, zone)} to {_when(report.until, zone)} ({zone.key})"
    shift_rows = [_row_cells(r, zone)[1:] for r in report.rows if r.window_minutes > 0]
    css = ("body{font:13px sans-serif;margin:16px}table{border-collapse:collapse;margin:8px 0}"
           "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}"
           "td:first-child,th:first-child{text-align:left}"
           "@media print{.pw-noprint{display:none}}")
    return "".join([
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Operation report {escape(period)}</title><style>{css}</style></head><body>",
        f"<h1>Operation report</h1><p>{escape(period)}</p>",
        "<p class='pw-noprint'><button onclick='window.print()'>Print</button></p>",
        "<h2>Hotspots: plan delivered</h2>", map_svg(hotspots, compliance),
        "<p>green: 90% or more of planned qualifying visits; amber: 60%; red: less; "
        "grey: no window.</p>",
        "<h2>Presence per hotspot per day (patrol-minutes)</h2>",
        chart_svg(report.daily, names),
        "<h2>Per hotspot and shift</h2>",
        _table([h.replace("_", " ") for h in CSV_HEADER[1:]], shift_rows),
        "<h2>Taskings</h2>",
        _table(["tasking", "unit", "hotspot", "created", "state", "by", "ack s", "arrive s"],
               ([t.id, t.unit, names.get(t.hotspot, t.hotspot), _when(t.created, zone),
                 t.state, t.by, t.ack_s, t.arrive_s] for t in report.taskings)),
        "<h2>Emergencies</h2>",
        _table(["unit", "raised", "ack s", "acknowledged by"],
               ([e.unit, _when(e.start, zone), e.ack_s, e.by] for e in report.emergencies)),
        "<h2>Alarms (every kind), with time to acknowledge</h2>",
        _table([h.replace("_", " ") for h in alarm_report.HEADER],
               alarm_report.cells(report.alarms, zone)),
        "</body></html>",
    ])
