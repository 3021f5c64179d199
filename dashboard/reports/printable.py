"""The operation report as a printable HTML page (inline SVG map and chart) and as CSV.

No tiles and no scripts: the page prints the same on a control-room printer with no
internet. The CSV is tidy: one table per ``table=`` (shifts, gaps, taskings, emergencies,
daily), one header and one shape of row each, so pandas, DuckDB and ``csv.DictReader`` load
it as it is. Every text people typed is escaped: HTML-escaped in the page, and each CSV text
cell through ``core.csvsafe`` (no formula starts). Compliance is a percent everywhere, with
the dosage tab's rule and colours: mostly unobserved time is grey, never red.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.alarms import report as alarm_report
from dashboard.reports.view import Report, ShiftRow
from patrolwatch.core.csvsafe import csv_safe
from patrolwatch.core.dosage import compliance_level, compliance_percent
from patrolwatch.core.hotspots import Hotspot

MAP_W, MAP_H = 560, 420
KEY_W, KEY_ROW_H = 380, 14
CHART_ROW_H, CHART_W = 18, 520
COLOURS = {"good": "#2e7d32", "fair": "#f9a825", "poor": "#c62828", "none": "#9e9e9e"}
SHIFT_HEADER = ["hotspot", "name", "shift_start", "shift_end", "window_minutes",
                "observed_minutes", "mostly_unobserved", "planned_visits", "delivered_visits",
                "qualifying_visits", "patrol_minutes", "officer_minutes", "compliance_percent",
                "gaps", "gap_minutes", "longest_gap_minutes"]
CSV_HEADER = SHIFT_HEADER  # the shift table's columns (the default table)
TABLES = ("shifts", "gaps", "taskings", "emergencies", "alarms", "daily")


class UnknownTableError(ValueError):
    """A ``table=`` the report does not have; the message lists the ones it has."""


def csv_cell(value: Any) -> str:
    """Return a value as a CSV cell: numbers as numbers, text a spreadsheet will not run."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return str(value)
    return str(csv_safe(str(value)))


def _when(ts: float | None, zone: ZoneInfo) -> str:
    if ts is None or not math.isfinite(ts):
        return ""
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M")


def _iso(ts: float | None, zone: ZoneInfo) -> str:
    """Return a local time with its UTC offset (ISO 8601): pandas and DuckDB parse it."""
    if ts is None or not math.isfinite(ts):
        return ""
    return datetime.fromtimestamp(round(ts), zone).isoformat()


def _shift_cells(r: ShiftRow, zone: ZoneInfo) -> list[Any]:
    longest = max((g.minutes for g in r.gaps), default=0.0)
    return [r.hotspot, r.name, _iso(r.shift_start, zone), _iso(r.shift_end, zone),
            r.window_minutes, r.observed_minutes, r.mostly_unobserved, r.planned_visits,
            r.delivered_visits, r.qualifying_visits, r.patrol_minutes, r.officer_minutes,
            r.compliance_pct, len(r.gaps), r.gap_minutes, longest]


def table_rows(report: Report, table: str, zone: ZoneInfo
               ) -> tuple[list[str], Iterable[Sequence[Any]]]:
    """Return one tidy table of the report: its header and its rows (one kind of row each)."""
    if table == "shifts":
        return SHIFT_HEADER, (_shift_cells(r, zone) for r in report.rows)
    if table == "gaps":
        return (["hotspot", "name", "start", "end", "minutes"],
                ([r.hotspot, r.name, _iso(g.start, zone), _iso(g.end, zone), g.minutes]
                 for r in report.rows for g in r.gaps))
    if table == "taskings":
        return (["tasking", "unit", "hotspot", "created", "state", "by", "ack_seconds",
                 "arrive_seconds"],
                ([t.id, t.unit, t.hotspot, _iso(t.created, zone), t.state, t.by, t.ack_s,
                  t.arrive_s] for t in report.taskings))
    if table == "emergencies":
        return (["unit", "raised", "ack_seconds", "acknowledged_by"],
                ([e.unit, _iso(e.start, zone), e.ack_s, e.by] for e in report.emergencies))
    if table == "alarms":
        return alarm_report.HEADER, alarm_report.cells(report.alarms, zone)
    if table == "daily":
        return (["hotspot", "day", "patrol_minutes"],
                ([h, day, m] for h, per in report.daily.items() for day, m in per.items()))
    raise UnknownTableError(f"table={table!r}: use one of {', '.join(TABLES)}")


def csv_text(report: Report, zone: ZoneInfo, table: str = "shifts") -> str:
    """Return one table of the report as CSV: a header line, then rows of that one shape."""
    header, body = table_rows(report, table, zone)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for cells in body:
        w.writerow([csv_cell(c) for c in cells])
    return out.getvalue()


# --- HTML --------------------------------------------------------------------------------
def hotspot_levels(report: Report) -> dict[str, tuple[str, str]]:
    """Return each hotspot's (level, text) over the whole period, as the dosage tab judges."""
    totals: dict[str, list[float]] = {}
    for r in report.rows:
        t = totals.setdefault(r.hotspot, [0, 0, 0.0, 0.0])
        t[0] += r.planned_visits
        t[1] += r.delivered_visits
        t[2] += r.window_minutes
        t[3] += r.observed_minutes
    out = {}
    for hid, (planned, delivered, window, seen) in totals.items():
        unobserved = window > 0 and seen * 2 < window
        pct = compliance_percent(delivered / planned) if planned and not unobserved else None
        text = ("no window" if window <= 0 else "mostly unobserved" if unobserved
                else "—" if pct is None else f"{pct} %")
        out[hid] = (compliance_level(pct, unobserved), text)
    return out


def _place(boxes: list[tuple[float, float, float, float]], x: float, y: float, w: float,
           h: float) -> tuple[float, float]:
    """Return where a ``w`` x ``h`` label for the point (x, y) overlaps no placed label.

    Tries beside the point first, then further out in eight directions; the chosen box is
    added to ``boxes``. With no free place near, the last (farthest) try is taken.
    """
    def free(bx: float, by: float) -> bool:
        return bx >= 0 and bx + w <= MAP_W and by >= 0 and by + h <= MAP_H and all(
            bx + w <= a or c <= bx or by + h <= b or d <= by for a, b, c, d in boxes)

    tries = [(x + 4, y - h - 2), (x + 4, y + 2), (x - w - 4, y - h - 2), (x - w - 4, y + 2)]
    for r in (14.0, 24.0, 36.0, 50.0):
        tries += [(x + r * math.cos(a) - w / 2, y - r * math.sin(a) - h / 2)
                  for a in (k * math.pi / 4 for k in range(8))]
    bx, by = next(((a, b) for a, b in tries if free(a, b)), tries[-1])
    boxes.append((bx, by, bx + w, by + h))
    return bx, by


def map_svg(hotspots: Sequence[Hotspot], levels: dict[str, tuple[str, str]]) -> str:
    """Return an SVG of the hotspots (equirectangular about their middle), coloured by plan
    delivered, each numbered on the map and named with its verdict in the key beside it.

    A control room's hotspots crowd the city centre: names written on the map would cover
    each other, so the map carries numbers placed clear of each other (with a leader line
    when moved off the shape), and the key carries the words.
    """
    if not hotspots:
        return ""
    bounds = [h.geometry.bounds for h in hotspots]
    min_lon, min_lat = min(b[0] for b in bounds), min(b[1] for b in bounds)
    max_lon, max_lat = max(b[2] for b in bounds), max(b[3] for b in bounds)
    k = math.cos(math.radians((min_lat + max_lat) / 2))
    pad = 30.0
    scale = min((MAP_W - 2 * pad) / max((max_lon - min_lon) * k, 1e-6),
                (MAP_H - 2 * pad) / max(max_lat - min_lat, 1e-6))

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (pad + (lon - min_lon) * k * scale, MAP_H - pad - (lat - min_lat) * scale)

    height = max(MAP_H, 24 + KEY_ROW_H * len(hotspots))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_W + KEY_W}" '
             f'height="{height}" class="pw-report-map" role="img" '
             f'aria-label="Hotspots by plan delivered">',
             f'<rect width="{MAP_W}" height="{MAP_H}" fill="#f4f6f8"/>']
    numbers: list[str] = []
    key = [f'<text x="{MAP_W + 12}" y="14" font-size="11" font-weight="bold">Key</text>']
    boxes: list[tuple[float, float, float, float]] = []
    for n, h in enumerate(hotspots, start=1):
        level, verdict = levels.get(h.id, ("none", "no window"))
        colour = COLOURS[level]
        title = f"<title>{n}. {escape(h.name)}: {escape(verdict)}</title>"
        if h.radius_m is not None:
            x, y = xy(h.geometry.x, h.geometry.y)
            r = max(3.0, h.radius_m / 111_320.0 * scale)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" '
                         f'fill-opacity="0.6" stroke="#333">{title}</circle>')
        else:
            for poly in getattr(h.geometry, "geoms", [h.geometry]):
                pts = " ".join(f"{a:.1f},{b:.1f}"
                               for a, b in (xy(*c) for c in poly.exterior.coords))
                parts.append(f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.6" '
                             f'stroke="#333">{title}</polygon>')
        centre = h.geometry.centroid
        x, y = xy(centre.x, centre.y)
        # A street is a few pixels long at a city's scale: a dot carries its colour.
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}" '
                     f'stroke="#333" stroke-width="0.8">{title}</circle>')
        w = 6.5 * len(str(n)) + 4
        bx, by = _place(boxes, x, y, w, 12.0)
        if math.dist((bx + w / 2, by + 6), (x, y)) > 12:
            numbers.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{bx + w / 2:.1f}" '
                           f'y2="{by + 6:.1f}" stroke="#555" stroke-width="0.6"/>')
        numbers.append(f'<text x="{bx + 2:.1f}" y="{by + 10:.1f}" font-size="11" '
                       f'font-weight="bold" class="pw-report-number" paint-order="stroke" '
                       f'stroke="#fff" stroke-width="3">{n}</text>')
        ky = 16 + KEY_ROW_H * n
        key.append(f'<rect x="{MAP_W + 12}" y="{ky - 9}" width="10" height="10" '
                   f'fill="{colour}"/><text x="{MAP_W + 28}" y="{ky}" font-size="11" '
                   f'class="pw-report-label">{n}. {escape(h.name[:40])} · '
                   f'{escape(verdict)}</text>')
    parts.extend(numbers)  # on top of every shape, so no number is hidden by a neighbour
    parts.extend(key)
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
    names = {h.id: h.name for h in hotspots}
    period = f"{_when(report.since, zone)} to {_when(report.until, zone)} ({zone.key})"
    shift_rows = [[r.name, _when(r.shift_start, zone), _when(r.shift_end, zone),
                   r.window_minutes, r.observed_minutes, r.planned_visits, r.delivered_visits,
                   r.qualifying_visits, r.patrol_minutes, r.officer_minutes, r.verdict,
                   len(r.gaps), r.gap_minutes] for r in report.rows if r.window_minutes > 0]
    css = ("body{font:13px sans-serif;margin:16px}table{border-collapse:collapse;margin:8px 0}"
           "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}"
           "td:first-child,th:first-child{text-align:left}"
           "@media print{.pw-noprint{display:none}}")
    return "".join([
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Operation report {escape(period)}</title><style>{css}</style></head><body>",
        f"<h1>Operation report</h1><p>{escape(period)}</p>",
        "<p class='pw-noprint'><button onclick='window.print()'>Print</button></p>",
        "<h2>Hotspots: plan delivered</h2>", map_svg(hotspots, hotspot_levels(report)),
        "<p>Delivered of planned qualifying visits, over observed time only: green 90 % or "
        "more; amber 50 % to 89 %; red under 50 %; grey: no window, or mostly unobserved "
        "(under half the window's minutes observed: silence is not counted as failure).</p>",
        "<h2>Presence per hotspot per day (patrol-minutes)</h2>",
        chart_svg(report.daily, names),
        "<h2>Per hotspot and shift</h2>",
        _table(["name", "shift start", "shift end", "window minutes", "observed minutes",
                "planned visits", "delivered visits", "qualifying visits", "patrol minutes",
                "officer minutes", "compliance", "gaps", "gap minutes"], shift_rows),
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
