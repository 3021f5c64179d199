"""A LIP encoder the tests keep: PDUs built field by field from TS 100 392-18-1's tables.

Written apart from ``patrolwatch.core.lip`` (its tables are not imported), so a round trip
checks the decoder against a second reading of the standard rather than against itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Long report location shapes (6.3.45): fields after longitude 25 and latitude 24 bits.
SHAPE_FIELDS: dict[int, tuple[tuple[str, int], ...]] = {
    1: (),
    2: (("uncertainty", 6),),
    3: (("half_major", 6), ("half_minor", 6), ("angle", 8), ("confidence", 3)),
    4: (("altitude_type", 1), ("altitude", 11)),
    5: (("uncertainty", 6), ("altitude_type", 1), ("altitude", 11)),
    6: (("half_major", 6), ("half_minor", 6), ("angle", 8), ("altitude_type", 1),
        ("altitude", 11), ("confidence", 3)),
    7: (("uncertainty", 6), ("altitude_type", 1), ("altitude", 11),
        ("altitude_uncertainty", 3)),
    8: (("half_major", 6), ("half_minor", 6), ("angle", 8), ("altitude_type", 1),
        ("altitude", 11), ("altitude_uncertainty", 3), ("confidence", 3)),
    9: (("inner_radius", 16), ("outer_radius", 16), ("start_angle", 8), ("stop_angle", 8),
        ("confidence", 3)),
    10: (("position_error", 3),),
}
# Velocity types (6.3.92).
VELOCITY_FIELDS: dict[int, tuple[tuple[str, int], ...]] = {
    0: (),
    1: (("horizontal", 7),),
    2: (("horizontal", 7), ("horizontal_uncertainty", 3)),
    3: (("horizontal", 7), ("vertical_sign", 1), ("vertical", 7)),
    4: (("horizontal", 7), ("horizontal_uncertainty", 3), ("vertical_sign", 1),
        ("vertical", 7), ("vertical_uncertainty", 3)),
    5: (("horizontal", 7), ("direction", 8)),
    6: (("horizontal", 7), ("horizontal_uncertainty", 3), ("direction", 8),
        ("direction_uncertainty", 3)),
    7: (("horizontal", 7), ("horizontal_uncertainty", 3), ("vertical_sign", 1),
        ("vertical", 7), ("vertical_uncertainty", 3), ("direction", 8),
        ("direction_uncertainty", 3)),
}


def pack(fields: Sequence[tuple[int, int]]) -> tuple[bytes, int]:
    """Pack (value, width) fields big-endian; return the octets (zero-filled) and the bit count."""
    value = bits = 0
    for field, width in fields:
        assert 0 <= field < 1 << width, (field, width)
        value = value << width | field
        bits += width
    fill = -bits % 8
    return (value << fill).to_bytes((bits + fill) // 8, "big"), bits


def twos(code: int, width: int) -> int:
    """Return a signed code as its unsigned two's complement field."""
    assert -(1 << (width - 1)) <= code < 1 << (width - 1)
    return code & ((1 << width) - 1)


def lon_code(degrees: float) -> int:
    """Return the 25-bit longitude code nearest to ``degrees`` (+180 wraps to -180)."""
    code = round(degrees * 2**25 / 360)
    return code - 2**25 if code >= 2**24 else code


def lat_code(degrees: float) -> int:
    """Return the 24-bit latitude code nearest to ``degrees`` (+90 is one step short)."""
    return min(round(degrees * 2**24 / 180), 2**23 - 1)


def short_fields(*, elapsed: int = 0, lon: int = 0, lat: int = 0, error: int = 0,
                 velocity: int = 0, direction: int = 0, user: int = 0,
                 extra: int = 0) -> list[tuple[int, int]]:
    """Return a short location report's fields (6.2.1) with codes as given."""
    return [(0b00, 2), (elapsed, 2), (twos(lon, 25), 25), (twos(lat, 24), 24), (error, 3),
            (velocity, 7), (direction, 4), (user, 1), (extra, 8)]


def short_report(**codes: int) -> bytes:
    """Return a short location report PDU (10 octets)."""
    return pack(short_fields(**codes))[0]


def long_fields(*, time_type: int = 1, elapsed: int = 0,
                moment: tuple[int, int, int, int] = (1, 0, 0, 0), shape: int = 1,
                lon: int = 0, lat: int = 0, shape_codes: Mapping[str, int] | None = None,
                velocity_type: int = 0, velocity_codes: Mapping[str, int] | None = None,
                ack: int = 0, user: int = 0, extra: int = 0) -> list[tuple[int, int]]:
    """Return a long location report's fields (6.2.2); missing shape/velocity codes are 0."""
    fields = [(0b01, 2), (0b0011, 4), (time_type, 2)]
    if time_type == 1:
        fields.append((elapsed, 2))
    elif time_type == 2:
        fields += [(moment[0], 5), (moment[1], 5), (moment[2], 6), (moment[3], 6)]
    fields.append((shape, 4))
    if shape in SHAPE_FIELDS:
        fields += [(twos(lon, 25), 25), (twos(lat, 24), 24)]
        fields += [((shape_codes or {}).get(name, 0), width)
                   for name, width in SHAPE_FIELDS[shape]]
    fields.append((velocity_type, 3))
    fields += [((velocity_codes or {}).get(name, 0), width)
               for name, width in VELOCITY_FIELDS[velocity_type]]
    fields += [(ack, 1), (user, 1), (extra, 8)]
    return fields


def long_report(**kwargs: object) -> bytes:
    """Return a long location report PDU, zero-filled to whole octets."""
    return pack(long_fields(**kwargs))[0]  # type: ignore[arg-type]
