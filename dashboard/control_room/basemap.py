"""The map's base layer: a tileset file the force holds (PATROL_BASEMAP) or its own tile server.

A control room often has no internet, and a public tile server is not one a force may rely
on (or send its screen's whereabouts to). So the base layer is, in this order:

- ``PATROL_BASEMAP``: a local ``.pmtiles`` (read with the ``pmtiles`` library) or
  ``.mbtiles`` (SQLite, TMS rows) file of raster tiles (PNG, JPEG or WebP), served by this
  process at ``/tiles/{z}/{x}/{y}.{ext}``;
- ``PATROL_TILE_URL``: the force's XYZ server, or a WMTS REST template
  (``{TileMatrix}/{TileRow}/{TileCol}``);
- neither: no tiles are requested at all, and the map says how to add a basemap.

A tileset's ``attribution`` (and PATROL_TILE_ATTRIBUTION) is shown as text, never as HTML:
basemap files come from third parties, and Leaflet writes attributions with innerHTML, so
``attribution_text`` keeps only the words (tags dropped, entities read) and escapes them.

Vector tilesets (MVT) are refused with a message: drawing them well needs a style and a
renderer the dashboard does not ship; docs/deployment.md says how to make a raster one.
"""

from __future__ import annotations

import gzip
import html
import importlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from flask import Flask, Response, abort

from patrolwatch.errors import ConfigError

log = logging.getLogger(__name__)

TILE_ROUTE = "/tiles/<int:z>/<int:x>/<int:y>.<ext>"
MAX_ZOOM = 24
RASTER_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
                "webp": "image/webp"}
NO_BASEMAP = ("No basemap configured: the map shows units and hotspots without streets. "
              "Set PATROL_BASEMAP to a .pmtiles or .mbtiles file of London, or PATROL_TILE_URL "
              "to your own tile server (docs/deployment.md, \u201cA basemap\u201d).")


ATTRIBUTION_MAX = 300


class _Words(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []

    def handle_data(self, data: str) -> None:
        self.words.append(data)


def attribution_text(raw: str) -> str:
    """Return an attribution's words only (``<a href=...>© OSM</a>`` → ``© OSM``), unescaped."""
    parser = _Words()
    parser.feed(str(raw))
    parser.close()
    text = " ".join("".join(parser.words).split())
    return text if len(text) <= ATTRIBUTION_MAX else text[: ATTRIBUTION_MAX - 1] + "…"


def attribution_html(raw: str) -> str:
    """Return an attribution Leaflet can write with innerHTML and still shows as plain text."""
    return html.escape(attribution_text(raw), quote=True)


class TileSource(Protocol):
    """A raster tileset: tiles by z/x/y (XYZ, y from the top), and what it covers."""

    ext: str
    min_zoom: int
    max_zoom: int
    attribution: str

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """Return one tile's bytes, or None where the tileset has none."""


def _ext_of(fmt: str, path: Path) -> str:
    fmt = fmt.lower().strip()
    if fmt in ("pbf", "mvt", "vector"):
        raise ConfigError([f"{path}: holds vector tiles (MVT); the dashboard draws raster "
                           "tiles only: make a raster tileset (docs/deployment.md)"])
    if fmt not in RASTER_TYPES:
        raise ConfigError([f"{path}: tile format {fmt or 'unknown'!r} is not PNG, JPEG or WebP"])
    return "jpg" if fmt == "jpeg" else fmt


class PmtilesSource:
    """A .pmtiles file, memory-mapped and read with ``pmtiles.reader.Reader``."""

    def __init__(self, path: Path) -> None:
        # The pmtiles package has no type hints: held as Any here, and only here.
        reader: Any = importlib.import_module("pmtiles.reader")
        tile: Any = importlib.import_module("pmtiles.tile")
        compression, tile_type = tile.Compression, tile.TileType

        self._file: BinaryIO = path.open("rb")
        try:
            self._reader: Any = reader.Reader(reader.MmapSource(self._file))
            header = self._reader.header()
        except (ValueError, OSError, KeyError, IndexError) as exc:
            self._file.close()
            raise ConfigError([f"{path}: not a readable PMTiles file ({exc})"]) from None
        kind = header["tile_type"]
        names = {tile_type.PNG: "png", tile_type.JPEG: "jpg", tile_type.WEBP: "webp",
                 tile_type.MVT: "mvt"}
        self.ext = _ext_of(names.get(kind, str(getattr(kind, "name", kind))), path)
        self._gzip = header["tile_compression"] == compression.GZIP
        self.min_zoom, self.max_zoom = int(header["min_zoom"]), int(header["max_zoom"])
        meta: dict[str, Any] = {}
        try:
            found = self._reader.metadata()
            meta = found if isinstance(found, dict) else {}
        except (ValueError, OSError):
            pass
        self.attribution = str(meta.get("attribution") or "")

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """Return the tile at z/x/y (XYZ), or None."""
        data: bytes | None = self._reader.get(z, x, y)
        if data is None:
            return None
        return gzip.decompress(data) if self._gzip else bytes(data)


class MbtilesSource:
    """An .mbtiles file: SQLite, read-only, rows in TMS order (y from the bottom)."""

    def __init__(self, path: Path) -> None:
        self._uri = f"file:{path.resolve()}?mode=ro&immutable=1"
        self._local = threading.local()
        try:
            rows = dict(self._db().execute("SELECT name, value FROM metadata").fetchall())
            zooms = self._db().execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles"
                                       ).fetchone()
        except sqlite3.Error as exc:
            raise ConfigError([f"{path}: not a readable MBTiles file ({exc})"]) from None
        self.ext = _ext_of(str(rows.get("format") or "png"), path)
        self.min_zoom = int(rows.get("minzoom") or (zooms[0] if zooms[0] is not None else 0))
        self.max_zoom = int(rows.get("maxzoom") or (zooms[1] if zooms[1] is not None else 18))
        self.attribution = str(rows.get("attribution") or "")

    def _db(self) -> sqlite3.Connection:
        # One connection per thread: the dev server and gunicorn threads each get their own.
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """Return the tile at z/x/y (XYZ: flipped to the file's TMS row), or None."""
        row = self._db().execute(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, (1 << z) - 1 - y)).fetchone()
        return bytes(row[0]) if row else None


def open_basemap(path: Path) -> TileSource:
    """Open a tileset file by its suffix; raise ConfigError with what to do if unusable."""
    if not path.is_file():
        raise ConfigError([f"PATROL_BASEMAP={path}: no such file"])
    openers: dict[str, Callable[[Path], TileSource]] = {
        ".pmtiles": PmtilesSource, ".mbtiles": MbtilesSource}
    opener = openers.get(path.suffix.lower())
    if opener is None:
        raise ConfigError([f"PATROL_BASEMAP={path}: give a .pmtiles or .mbtiles file"])
    return opener(path)


def wmts_to_xyz(url: str) -> str:
    """Turn a WMTS REST template's {TileMatrix}/{TileRow}/{TileCol} into Leaflet's {z}/{y}/{x}."""
    for wmts, xyz in (("{TileMatrix}", "{z}"), ("{TileRow}", "{y}"), ("{TileCol}", "{x}")):
        url = url.replace(wmts, xyz)
    return url


@dataclass(frozen=True)
class BaseLayer:
    """What the map draws under everything: a tile URL and its zooms, or a notice."""

    url: str | None
    attribution: str
    min_zoom: int = 0
    max_native_zoom: int = 19
    notice: str | None = None


def base_layer(tile_url: str, attribution: str, source: TileSource | None) -> BaseLayer:
    """Return the base layer for the settings: the local tileset, else the tile URL, else none."""
    if source is not None:
        return BaseLayer(f"/tiles/{{z}}/{{x}}/{{y}}.{source.ext}",
                         attribution_html(source.attribution or attribution), source.min_zoom,
                         source.max_zoom)
    if tile_url.strip():
        return BaseLayer(wmts_to_xyz(tile_url.strip()), attribution_html(attribution))
    return BaseLayer(None, "", notice=NO_BASEMAP)


def register(server: Flask, source: TileSource | None) -> None:
    """Serve the local tileset's tiles at /tiles/z/x/y.ext (sign-in applies as everywhere)."""

    @server.get(TILE_ROUTE)
    def tile(z: int, x: int, y: int, ext: str) -> Response:
        if source is None or ext != source.ext or not 0 <= z <= MAX_ZOOM:
            abort(404)
        if not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
            abort(404)
        data = source.tile(z, x, y)
        if data is None:
            # An empty answer, not an error: the sea and the edges of an extract have no tiles.
            return Response(status=204, headers={"Cache-Control": "public, max-age=3600"})
        return Response(data, mimetype=RASTER_TYPES[source.ext],
                        headers={"Cache-Control": "public, max-age=86400"})
