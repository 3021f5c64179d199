"""CSV cells a spreadsheet will not run: text that would start a formula is quoted.

Spreadsheets treat a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or
carriage return before one of them) as a formula, so a hotspot named ``=HYPERLINK(...)``
would run when a supervisor opens the export (OWASP "CSV injection"). Such text gets a
leading apostrophe, which spreadsheets show as text. Numbers are left alone: -3.5 is data.
Leading whitespace does not hide a formula (`` =HYPERLINK(...)`` is quoted too): some
spreadsheets trim a cell before reading it.

This is the one escaping function: every CSV export (the operation report, the dosage
tables, the access log, experiment panels) passes every cell through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell: Any) -> Any:
    """Return the cell, with text that a spreadsheet would read as a formula made inert."""
    if not isinstance(cell, str) or not cell:
        return cell
    if cell.startswith(FORMULA_STARTS) or cell.lstrip().startswith(FORMULA_STARTS[:4]):
        return "'" + cell
    return cell


def csv_safe_row(cells: Iterable[Any]) -> list[Any]:
    """Return a row with every cell passed through ``csv_safe``."""
    return [csv_safe(c) for c in cells]
