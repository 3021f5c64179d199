"""The basemap a force controls: its own tileset file under the units, or a plain notice.

The tests make a small raster tileset themselves (solid PNG tiles around central London),
write it as .pmtiles with the pmtiles library's writer and as .mbtiles with sqlite3, and
check in Chromium that the page asks this dashboard for those tiles and draws them.
"""

from __future__ import annotations

import math
import sqlite3
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from dash.testing.composite import DashComposite

from dashboard import ids
from dashboard.app import create_app
from dashboard.control_room import basemap
from patrolwatch.errors import ConfigError
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.browser import fleet as seed
from tests.services import free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ZOOM = 12
CENTRE = (51.5072, -0.1276)

# What the page asked for and drew: tile requests (Performance API) and loaded tile images.
TILES_SEEN = """
const asked = performance.getEntriesByType("resource").map(e => e.name)
  .filter(n => n.includes(arguments[0]));
const drawn = Array.from(document.querySelectorAll("img.leaflet-tile"))
  .filter(i => i.src.includes(arguments[0]) && i.complete && i.naturalWidth === 256);
const external = performance.getEntriesByType("resource").map(e => e.name)
  .filter(n => !n.startsWith(location.origin));
return {asked: asked.length, drawn: drawn.length, external: external};
"""


def png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """Return a solid-colour RGB PNG (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw)
            + chunk(b"IEND", b""))


def tile_xy(lat: float, lon: float, z: int) -> tuple[int, int]:
    """Return the XYZ tile holding a point."""
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tiles_around(lat: float, lon: float, z: int, r: int = 3) -> dict[tuple[int, int, int], bytes]:
    """Return a (2r+1)^2 block of tiles around a point, in a checkerboard of two greens."""
    cx, cy = tile_xy(lat, lon, z)
    return {(z, x, y): png((170, 211, 160) if (x + y) % 2 else (120, 180, 120))
            for x in range(cx - r, cx + r + 1) for y in range(cy - r, cy + r + 1)}


def write_pmtiles(path: Path, tiles: dict[tuple[int, int, int], bytes]) -> Path:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    with write(str(path)) as writer:
        for (z, x, y), data in sorted(tiles.items(), key=lambda t: zxy_to_tileid(*t[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        writer.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                         "min_zoom": ZOOM, "max_zoom": ZOOM,
                         "min_lon_e7": int(-0.5e7), "min_lat_e7": int(51.3e7),
                         "max_lon_e7": int(0.3e7), "max_lat_e7": int(51.7e7),
                         "center_zoom": ZOOM, "center_lon_e7": int(CENTRE[1] * 1e7),
                         "center_lat_e7": int(CENTRE[0] * 1e7)},
                        {"attribution": "Test tiles &copy; the test"})
    return path


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes]) -> Path:
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE metadata (name TEXT, value TEXT);"
                     "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                     "tile_row INTEGER, tile_data BLOB);")
    db.executemany("INSERT INTO metadata VALUES (?, ?)",
                   [("name", "test"), ("format", "png"), ("minzoom", str(ZOOM)),
                    ("maxzoom", str(ZOOM)), ("attribution", "MB test tiles")])
    db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                   [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()])
    db.commit()
    db.close()
    return path


def start(dash_duo: DashComposite, redis_url: str, **extra: Any) -> None:
    settings = Settings(redis_url=redis_url, hotspots=seed.HOTSPOTS,  # type: ignore[arg-type]
                        units=seed.UNITS, map_zoom=ZOOM, map_center_lat=CENTRE[0],
                        map_center_lon=CENTRE[1], open_access=True, **extra)
    store = Store.from_url(redis_url)
    store.write_coverage(seed.coverage_snapshot(seed.hotspot_set(), time.time(), []))
    app = create_app(settings, store, seed.roster(), seed.hotspot_set())
    dash_duo.start_server(app, port=free_port())
    dash_duo.wait_for_element(".leaflet-container", timeout=15)


@pytest.mark.parametrize("kind", ["pmtiles", "mbtiles"])
def test_local_tileset_is_served_and_drawn(dash_duo: DashComposite, redis_url: str,
                                           tmp_path: Path, kind: str) -> None:
    tiles = tiles_around(*CENTRE, ZOOM)
    writer = write_pmtiles if kind == "pmtiles" else write_mbtiles
    path = writer(tmp_path / f"london.{kind}", tiles)
    # The reader agrees with what was written, TMS flip included.
    source = basemap.open_basemap(path)
    (z, x, y), data = next(iter(tiles.items()))
    assert source.tile(z, x, y) == data and source.tile(z, 0, 0) is None
    assert source.ext == "png" and source.max_zoom == ZOOM

    start(dash_duo, redis_url, basemap=path)
    seen = wait_until(lambda: (s := dash_duo.driver.execute_script(TILES_SEEN, "/tiles/"))
                      and s["drawn"] >= 4 and s, 20, what="tiles drawn from this dashboard")
    assert seen["asked"] >= seen["drawn"]
    assert seen["external"] == [], "no request leaves the dashboard"
    assert not dash_duo.find_elements(f"#{ids.NO_BASEMAP}")
    attribution = dash_duo.find_element(".leaflet-control-attribution").text
    assert ("Test tiles" if kind == "pmtiles" else "MB test tiles") in attribution
    # A tile outside the extract is an empty answer, not an error.
    base = dash_duo.server.url.rstrip("/")
    import urllib.request

    with urllib.request.urlopen(f"{base}/tiles/{ZOOM}/0/0.png", timeout=5) as answer:
        assert answer.status == 204


def test_without_a_basemap_no_tile_is_requested_and_the_map_says_so(
    dash_duo: DashComposite, redis_url: str
) -> None:
    start(dash_duo, redis_url)
    notice = dash_duo.wait_for_element(f"#{ids.NO_BASEMAP}", timeout=10)
    assert "No basemap configured" in notice.text and "PATROL_BASEMAP" in notice.text
    wait_until(lambda: dash_duo.find_elements(".leaflet-interactive, canvas"), 10,
               what="hotspots drawn")
    seen = dash_duo.driver.execute_script(TILES_SEEN, "/")
    assert seen["external"] == [], f"requested from outside: {seen['external']}"
    assert not dash_duo.find_elements("img.leaflet-tile")


def test_vector_and_missing_tilesets_are_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        basemap.open_basemap(tmp_path / "none.pmtiles")
    (tmp_path / "map.tif").write_bytes(b"II*")
    with pytest.raises(ConfigError, match=r"give a \.pmtiles or \.mbtiles"):
        basemap.open_basemap(tmp_path / "map.tif")
    vector = write_mbtiles(tmp_path / "v.mbtiles", {})
    db = sqlite3.connect(vector)
    db.execute("UPDATE metadata SET value='pbf' WHERE name='format'")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="vector tiles"):
        basemap.open_basemap(vector)
    assert basemap.wmts_to_xyz("https://maps.force/wmts/{TileMatrix}/{TileRow}/{TileCol}.png") \
        == "https://maps.force/wmts/{z}/{y}/{x}.png"
