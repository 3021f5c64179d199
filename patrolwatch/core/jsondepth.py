"""How deeply a JSON document nests, found without parsing it (so without recursion).

Python's json module recurses once per level: a body nested a few thousand levels deep
raises RecursionError, which a web framework answers with 500. Counting brackets outside
strings first lets the edge refuse such a body with 400 before it is parsed.
"""

from __future__ import annotations

MAX_DEPTH = 64


def json_depth(data: bytes) -> int:
    """Return the deepest nesting of objects and arrays in ``data`` (0 for a scalar)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest
