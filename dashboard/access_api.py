"""``GET /api/access-log``: who read whose history, newest first, paged (admins only).

``since``/``until`` (RFC 3339, within the log's 400 days) and ``user`` filter; ``before``
pages: each answer's ``next_before`` is given back to get the next, older page.
``format=csv`` answers the same page as CSV, every cell through ``core.csvsafe``.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request

from dashboard.auth import check_role
from dashboard.deps import Deps
from dashboard.times import rfc3339
from patrolwatch.core.csvsafe import csv_safe
from patrolwatch.core.periods import Bounds, PeriodError, check_moment, parse_time
from patrolwatch.store.keys import ACCESS_RETENTION_S

PAGE_DEFAULT = 100
PAGE_MAX = 1000
SCAN_CHUNK = 500  # entries read per round trip while filtering by user
CSV_COLUMNS = ("ts", "user", "what", "unit", "hotspot", "area", "since", "until", "at")


class AccessQueryError(ValueError):
    """An access-log query that cannot be answered, with what to send instead."""


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AccessQueryError(f"{name}={text[:40]!r} is neither a number nor RFC 3339") from None
    if not math.isfinite(value):
        raise AccessQueryError(f"{name} is not a time")
    return value


def query(args: Mapping[str, str], now: float) -> dict[str, Any]:
    """Return the checked query: since, until, before (epoch or None), user, limit, format."""
    fmt = args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise AccessQueryError(f"format={fmt[:20]!r}: use json or csv")
    # The log keeps 400 days, and a clock a little ahead must not lose the newest entries.
    bounds = Bounds(now, ACCESS_RETENTION_S, 86_400.0)
    out: dict[str, Any] = {"format": fmt, "user": args.get("user") or None}
    try:
        for name in ("since", "until"):
            out[name] = (check_moment(parse_time(args[name], name), name, bounds)
                         if name in args else None)
        raw = args.get("before")
        out["before"] = None if raw is None else check_moment(
            parse_time(raw, "before") if "T" in raw else _number(raw, "before"), "before", bounds)
    except PeriodError as exc:
        raise AccessQueryError(str(exc)) from None
    try:
        limit = int(args.get("limit", PAGE_DEFAULT))
    except ValueError:
        raise AccessQueryError("limit must be a whole number") from None
    if not 1 <= limit <= PAGE_MAX:
        raise AccessQueryError(f"limit must be 1..{PAGE_MAX}")
    out["limit"] = limit
    return out


def page(deps: Deps, q: Mapping[str, Any]) -> tuple[list[dict[str, Any]], float | None]:
    """Return one page of entries (newest first) and the ``before`` of the next page."""
    top = q["before"] if q["before"] is not None else (
        None if q["until"] is None else math.nextafter(q["until"], math.inf))
    found: list[dict[str, Any]] = []
    last: float | None = None
    while len(found) < q["limit"]:
        chunk = deps.store.access_page(SCAN_CHUNK if q["user"] else q["limit"], before=top,
                                       since=q["since"])
        for score, entry in chunk:
            last = score
            if q["user"] is None or entry.get("user") == q["user"]:
                found.append(entry)
                if len(found) == q["limit"]:
                    break
        if len(chunk) < (SCAN_CHUNK if q["user"] else q["limit"]) or last is None:
            return found, (last if len(found) == q["limit"] else None)
        top = last
    return found, last


def entry_json(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Return one entry with its time in RFC 3339 (epoch ``since``/``until`` too)."""
    out = dict(entry)
    for key in ("ts", "since", "until", "at"):
        if isinstance(out.get(key), int | float):
            out[key] = rfc3339(float(out[key]))
    return out


def entries_csv(entries: list[dict[str, Any]]) -> str:
    """Return entries as CSV, one column per field people read, every cell escaped."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = entry_json(entry)
        writer.writerow([csv_safe("" if row.get(c) is None else str(row.get(c)))
                         for c in CSV_COLUMNS])
    return text.getvalue()


def blueprint(deps: Deps) -> Blueprint:
    """Return the access-log route."""
    bp = Blueprint("patrolwatch_access_log", __name__)

    @bp.get("/api/access-log")
    def access_log() -> Response | tuple[Response, int]:
        check_role("admin")
        try:
            q = query(request.args, time.time())
            entries, next_before = page(deps, q)
        except AccessQueryError as exc:
            return jsonify({"error": str(exc)}), 400
        except redis.RedisError as exc:
            return jsonify({"error": f"live store unreachable ({type(exc).__name__})"}), 503
        if q["format"] == "csv":
            return Response(entries_csv(entries), mimetype="text/csv", headers={
                "Content-Disposition": 'attachment; filename="access-log.csv"'})
        return jsonify({"entries": [entry_json(e) for e in entries],
                        "next_before": None if next_before is None else repr(next_before)})

    return bp
