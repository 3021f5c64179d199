"""Free text that people type (notes, reasons): bounded, printable, shown as written.

Device notes and tasking notes follow the same rule: at most 200 characters; no control
characters other than tab and newline; no lone surrogates (not storable as UTF-8); and no
bidirectional overrides or isolates (U+202A-U+202E, U+2066-U+2069), which can make a note
read differently on screen from what was sent ("Trojan Source", CVE-2021-42574).
"""

from __future__ import annotations

import re

NOTE_MAX = 200
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def text_problem(value: str, max_chars: int = NOTE_MAX) -> str | None:
    """Return why the text may not be stored, or None if it may."""
    if len(value) > max_chars:
        return f"is {len(value)} characters long; at most {max_chars} are allowed"
    if _CONTROL_RE.search(value):
        return "holds a control character or a lone surrogate"
    if _BIDI_RE.search(value):
        return "holds a bidirectional override (U+202A-U+202E or U+2066-U+2069)"
    return None
