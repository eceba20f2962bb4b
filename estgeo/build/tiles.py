"""Vector tiles (Mapbox Vector Tiles on WebMercatorQuad), pre-generated at build time.

A tile request must do no heavy work, so every tile is encoded once, when the layers are
built, into the build folder::

    <build>/tiles/<collection>/{z}/{x}/{y}.mvt     one layer, named after the collection
    <build>/tiles/<collection>/tileset.json        TileJSON 3.0 (without the `tiles` URL)
                                                   and the tile limits of each zoom
    <build>/tiles/estgeo.pmtiles                   every collection in one archive

A tile with no features is not written: the server answers it with 204 No Content. The
PMTiles archive holds, per tile, one MVT layer per published collection, so a
municipality can put the one file on any static web server and point MapLibre (or QGIS)
at it.

What goes into the tiles is only what the collection publishes (public collections, their
properties), never raw incidents. Layers with periods (`period_kind`, `period_start`:
density and hot spots) keep the latest complete period of each kind — the current week,
lägesbild period, month and the whole range — so a tile holds one feature per H3 cell
and kind, and a map filters on `period_kind`.

A collection `X` with sibling collections `X-r7`, `X-r8`, … (the same layer at several
H3 resolutions) is tiled by zoom: each zoom takes the finest resolution whose hexagons
are still at least `TARGET_HEX_PIXELS` across on screen. Each `X-rN` collection keeps its
own resolution and starts at the zoom where its hexagons become visible.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pyogrio
import shapely
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer as PMTilesWriter

from estgeo.config import Settings

#: Half the width of the WebMercatorQuad world, in metres (EPSG:3857).
HALF_WORLD = 20037508.342789244
#: MVT coordinate units per tile side, and the clip buffer around a tile in those units
#: (so polygon outlines and wide symbols do not show seams at tile edges).
EXTENT = 4096
BUFFER = 64
#: Zooms tiled by default: a town and its municipality, from overview to street level.
DEFAULT_MINZOOM = 10
DEFAULT_MAXZOOM = 16
#: On-screen size (hexagon edge, in 256-pixel-tile pixels) for choosing an H3 resolution
#: by zoom, and the smallest size at which an `-rN` collection is tiled at all.
TARGET_HEX_PIXELS = 12
MIN_HEX_PIXELS = 4
TILES_DIR = "tiles"
ARCHIVE = "estgeo.pmtiles"
TILESET = "tileset.json"
MVT_SUFFIX = ".mvt"
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_RESOLUTION_SUFFIX = re.compile(r"^(?P<base>.+)-r(?P<res>\d{1,2})$")


@dataclass(frozen=True)
class TileSet:
    """What to tile for one collection: its sources by zoom and its zoom range."""

    collection: str
    title: Any
    description: Any
    #: zoom → the collection (GeoPackage) whose features make that zoom's tiles.
    sources: dict[int, str]

    @property
    def minzoom(self) -> int:
        return min(self.sources)

    @property
    def maxzoom(self) -> int:
        return max(self.sources)


@dataclass
class TileSummary:
    """What `write_tiles` wrote: tiles per collection, and the archive."""

    tiles: dict[str, int] = field(default_factory=dict)
    archive: Path | None = None
    archive_tiles: int = 0


# Planning -------------------------------------------------------------------------
def metres_per_pixel(zoom: int, latitude: float) -> float:
    """Ground size of one pixel of a 256-pixel WebMercatorQuad tile at `latitude`."""
    return 2 * HALF_WORLD * math.cos(math.radians(latitude)) / (256 * 2**zoom)


def hex_pixels(resolution: int, zoom: int, latitude: float) -> float:
    """Average H3 hexagon edge at `resolution`, in pixels at `zoom`."""
    return h3.average_hexagon_edge_length(resolution, unit="m") / metres_per_pixel(zoom, latitude)


def resolution_for_zoom(resolutions: Iterable[int], zoom: int, latitude: float) -> int:
    """The finest of `resolutions` whose hexagons are at least TARGET_HEX_PIXELS across
    at `zoom` (the coarsest when none is that large)."""
    ordered = sorted(resolutions)
    fitting = [r for r in ordered if hex_pixels(r, zoom, latitude) >= TARGET_HEX_PIXELS]
    return fitting[-1] if fitting else ordered[0]


def tile_sets(settings: Settings, available: Iterable[str] | None = None) -> list[TileSet]:
    """The tile sets of every public collection declared with `tiles: true` (or a
    mapping `{minzoom, maxzoom}`) whose data is in `available` (default: all declared)."""
    collections = [c for c in settings.collections if c.get("audience", "public") == "public"]
    ids = {c["id"] for c in collections} if available is None else set(available)
    latitude = settings.municipality.get("centre_wgs84", {}).get("lat", 60.0)
    siblings: dict[str, dict[int, str]] = {}
    for c in collections:
        match = _RESOLUTION_SUFFIX.match(c["id"])
        if match and c["id"] in ids:
            siblings.setdefault(match["base"], {})[int(match["res"])] = c["id"]

    found = []
    for c in collections:
        options = c.get("tiles")
        if not options or c["id"] not in ids:
            continue
        options = options if isinstance(options, dict) else {}
        minzoom = int(options.get("minzoom", DEFAULT_MINZOOM))
        maxzoom = int(options.get("maxzoom", DEFAULT_MAXZOOM))
        zooms = range(minzoom, maxzoom + 1)
        own = _RESOLUTION_SUFFIX.match(c["id"])
        if c["id"] in siblings:
            by_resolution = siblings[c["id"]]
            sources = {z: by_resolution[resolution_for_zoom(by_resolution, z, latitude)] for z in zooms}
        elif own:
            resolution = int(own["res"])
            visible = [z for z in zooms if hex_pixels(resolution, z, latitude) >= MIN_HEX_PIXELS]
            sources = {z: c["id"] for z in visible}
        else:
            sources = {z: c["id"] for z in zooms}
        if sources:
            found.append(TileSet(c["id"], c.get("title", c["id"]), c.get("description", ""), sources))
    return found


def archive_collections(sets: Iterable[TileSet]) -> list[TileSet]:
    """The tile sets that go into the archive: `X-rN` ones are left out when `X` is
    there, since `X` already shows each resolution at its zooms."""
    sets = list(sets)
    names = {s.collection for s in sets}
    return [s for s in sets if not ((m := _RESOLUTION_SUFFIX.match(s.collection)) and m["base"] in names)]


# Features ---------------------------------------------------------------------------
def latest_periods(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the latest complete period of each `period_kind` (all rows when the
    layer has no periods). A kind with no complete period keeps its latest one."""
    if not {"period_kind", "period_start"} <= set(frame.columns) or frame.empty:
        return frame
    start = pd.to_datetime(frame["period_start"])
    complete = frame["complete"].fillna(False).astype(bool) if "complete" in frame.columns else pd.Series(True, index=frame.index)
    kind = frame["period_kind"].astype(str)
    latest_complete = start.where(complete).groupby(kind).transform("max")
    latest_any = start.groupby(kind).transform("max")
    wanted = latest_complete.fillna(latest_any)
    return frame[start == wanted]


def tile_properties(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each feature's properties as MVT can hold them: text, numbers and booleans;
    dates as ISO text; missing values left out (MVT has no null)."""
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        if name == geometry:
            continue
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            values = values.dt.strftime("%Y-%m-%dT%H:%M:%S").str.removesuffix("T00:00:00")
        elif pd.api.types.is_float_dtype(values.dtype):
            # Counts are stored as floats because of nulls; whole columns go out as integers.
            present = values.dropna()
            if (present == present.round()).all() and (present.abs() < 2**53).all():
                values = values.astype("Int64")
        columns[name] = values.astype(object).where(values.notna(), None).tolist()
    names = list(columns)
    rows = zip(*(columns[n] for n in names), strict=True) if names else ([] for _ in range(len(frame)))
    return [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in rows]


def to_web_mercator(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Geometries in EPSG:3857 (the published layers are CRS84)."""
    if frame.crs is None:
        frame = frame.set_crs("OGC:CRS84")
    return frame.to_crs("EPSG:3857").geometry.to_numpy()


# Encoding ---------------------------------------------------------------------------
def tile_span(zoom: int) -> float:
    return 2 * HALF_WORLD / 2**zoom


def tiles_of(geometries: np.ndarray, zoom: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(feature, x, y) for every tile each geometry touches, buffer included; points
    belong to the one tile they fall in."""
    n = 2**zoom
    span = tile_span(zoom)
    bounds = shapely.bounds(geometries)
    points = shapely.get_type_id(geometries) == 0
    pad = np.where(points, 0.0, BUFFER / EXTENT)
    fx0, fx1 = (bounds[:, 0] + HALF_WORLD) / span - pad, (bounds[:, 2] + HALF_WORLD) / span + pad
    fy0, fy1 = (HALF_WORLD - bounds[:, 3]) / span - pad, (HALF_WORLD - bounds[:, 1]) / span + pad
    x0 = np.clip(np.floor(fx0), 0, n - 1).astype(np.int64)
    x1 = np.clip(np.floor(fx1), 0, n - 1).astype(np.int64)
    y0 = np.clip(np.floor(fy0), 0, n - 1).astype(np.int64)
    y1 = np.clip(np.floor(fy1), 0, n - 1).astype(np.int64)
    valid = ~shapely.is_empty(geometries) & np.isfinite(bounds).all(axis=1)
    width, height = x1 - x0 + 1, y1 - y0 + 1
    counts = np.where(valid, width * height, 0)
    feature = np.repeat(np.arange(len(geometries)), counts)
    step = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return feature, x0[feature] + step % width[feature], y0[feature] + step // width[feature]


def to_tile_coordinates(geometries: np.ndarray, x: np.ndarray, y: np.ndarray, zoom: int) -> np.ndarray:
    """Each geometry in the MVT coordinates of its tile (x right, y down, 0…EXTENT),
    clipped to the tile plus its buffer."""
    span = tile_span(zoom)
    _, index = shapely.get_coordinates(geometries, return_index=True)
    origin = np.column_stack([x * span - HALF_WORLD, HALF_WORLD - y * span])[index]
    scale = np.array([EXTENT / span, -EXTENT / span])
    local = shapely.transform(geometries, lambda xy: (xy - origin) * scale)
    polygonal = shapely.get_type_id(local) != 0
    local[polygonal] = shapely.clip_by_rect(local[polygonal], -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    return local


def encode_tile(layer: str, geometries: Iterable[shapely.Geometry], properties: Iterable[dict[str, Any]]) -> bytes:
    """One MVT tile with one layer; geometries already in tile coordinates."""
    features = [{"geometry": g, "properties": p} for g, p in zip(geometries, properties, strict=True)]
    return mapbox_vector_tile.encode(
        [{"name": layer, "features": features}],
        default_options={
            "extents": EXTENT,
            "y_coord_down": True,
            "on_invalid_geometry": on_invalid_geometry_make_valid,
        },
    )


def zoom_tiles(layer: str, geometries: np.ndarray, properties: list[dict[str, Any]], zoom: int) -> dict[tuple[int, int], bytes]:
    """Every non-empty tile of one layer at one zoom: (x, y) → MVT bytes."""
    feature, x, y = tiles_of(geometries, zoom)
    if feature.size == 0:
        return {}
    local = to_tile_coordinates(geometries[feature], x, y, zoom)
    keep = ~shapely.is_empty(local)
    feature, x, y, local = feature[keep], x[keep], y[keep], local[keep]
    order = np.lexsort((feature, y, x))
    feature, x, y, local = feature[order], x[order], y[order], local[order]
    breaks = np.flatnonzero((np.diff(x) != 0) | (np.diff(y) != 0)) + 1
    # A tile wholly inside one polygon (the municipality at street level) is the same
    # square every time: encode it once per feature.
    solid = shapely.area(local) >= (EXTENT + 2 * BUFFER) ** 2 - 1
    solid_tiles: dict[int, bytes] = {}
    tiles = {}
    for group in np.split(np.arange(feature.size), breaks):
        if group.size == 0:
            continue
        if group.size == 1 and solid[group[0]]:
            key = int(feature[group[0]])
            if key not in solid_tiles:
                solid_tiles[key] = encode_tile(layer, local[group], [properties[key]])
            data = solid_tiles[key]
        else:
            data = encode_tile(layer, local[group], (properties[i] for i in feature[group]))
        tiles[(int(x[group[0]]), int(y[group[0]]))] = data
    return tiles


# Writing ---------------------------------------------------------------------------
class _Sources:
    """The published frames a build's tiles are made from, each read and prepared once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[np.ndarray, list[dict[str, Any]], dict[str, str]]] = {}

    def get(self, collection: str) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, str]]:
        if collection not in self._cache:
            frame = pyogrio.read_dataframe(self.folder / f"{collection}.gpkg", layer=collection)
            frame = latest_periods(frame)
            frame = frame[frame.geometry.notna()].reset_index(drop=True)
            properties = tile_properties(frame)
            self._cache[collection] = (to_web_mercator(frame), properties, _field_types(frame))
        return self._cache[collection]


def _field_types(frame: gpd.GeoDataFrame) -> dict[str, str]:
    """TileJSON `fields`: property → String, Number or Boolean."""
    types = {}
    for name in frame.columns:
        if name == frame.geometry.name:
            continue
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            types[name] = "Boolean"
        elif pd.api.types.is_numeric_dtype(dtype):
            types[name] = "Number"
        else:
            types[name] = "String"
    return types


def write_tiles(settings: Settings, build: Path, progress: Callable[[str], None] = lambda m: None) -> TileSummary:
    """Encode every tile set of the collections in `build`, and the archive.

    Runs after the layer builders, inside the build folder before it is published.
    """
    available = [p.stem for p in build.glob("*.gpkg")]
    sets = tile_sets(settings, available)
    out = build / TILES_DIR
    if out.exists():
        shutil.rmtree(out)
    summary = TileSummary()
    if not sets:
        return summary
    sources = _Sources(build)
    bounds = _bounds_crs84(build, available)
    in_archive = {s.collection for s in archive_collections(sets)}
    # (z, x, y) → MVT layers of every archived collection, concatenated: an MVT tile is
    # a protobuf message whose layers are a repeated field, so joining is merging.
    archive: dict[tuple[int, int, int], list[bytes]] = {}
    for tile_set in sets:
        progress(f"encoding tiles of {tile_set.collection}")
        folder = out / tile_set.collection
        count = 0
        fields: dict[str, str] = {}
        limits: dict[int, dict[str, int]] = {}
        written: dict[bytes, Path] = {}
        for zoom, source in sorted(tile_set.sources.items()):
            geometries, properties, types = sources.get(source)
            fields.update(types)
            tiles = zoom_tiles(tile_set.collection, geometries, properties, zoom)
            for (x, y), data in tiles.items():
                path = folder / str(zoom) / str(x) / f"{y}{MVT_SUFFIX}"
                path.parent.mkdir(parents=True, exist_ok=True)
                if data in written:  # the same square inside a large polygon: one file, many names
                    os.link(written[data], path)
                else:
                    path.write_bytes(data)
                    written[data] = path
                if tile_set.collection in in_archive:
                    archive.setdefault((zoom, x, y), []).append(data)
            if tiles:
                xs, ys = np.array(list(tiles)).T
                limits[zoom] = {"minTileRow": int(ys.min()), "maxTileRow": int(ys.max()),
                                "minTileCol": int(xs.min()), "maxTileCol": int(xs.max())}
            count += len(tiles)
        folder.mkdir(parents=True, exist_ok=True)
        tileset = {"tilejson": tilejson_template(tile_set, fields, bounds, settings), "limits": limits}
        (folder / TILESET).write_text(json.dumps(tileset, ensure_ascii=False, indent=1), encoding="utf-8")
        summary.tiles[tile_set.collection] = count
    if archive:
        progress("writing the tile archive")
        summary.archive = out / ARCHIVE
        summary.archive_tiles = write_archive(summary.archive, archive, [s for s in sets if s.collection in in_archive],
                                              bounds, settings)
    return summary


def _bounds_crs84(build: Path, collections: Iterable[str]) -> list[float]:
    boxes = []
    for name in collections:
        info = pyogrio.read_info(build / f"{name}.gpkg", layer=name)
        if info.get("total_bounds") is not None and info["features"]:
            boxes.append(info["total_bounds"])
    if not boxes:
        return [-180.0, -85.0511, 180.0, 85.0511]
    stacked = np.array(boxes, dtype=float)
    return [float(stacked[:, 0].min()), float(stacked[:, 1].min()), float(stacked[:, 2].max()), float(stacked[:, 3].max())]


def tilejson_template(tile_set: TileSet, fields: dict[str, str], bounds: list[float], settings: Settings) -> dict[str, Any]:
    """TileJSON 3.0 for one collection; the server adds `tiles` (its own URL) and picks
    the language of `name` and `description`."""
    centre = settings.municipality.get("centre_wgs84", {})
    lon = centre.get("lon", (bounds[0] + bounds[2]) / 2)
    lat = centre.get("lat", (bounds[1] + bounds[3]) / 2)
    return {
        "tilejson": "3.0.0",
        "name": tile_set.title,
        "description": tile_set.description,
        "scheme": "xyz",
        "minzoom": tile_set.minzoom,
        "maxzoom": tile_set.maxzoom,
        "bounds": bounds,
        "center": [lon, lat, max(tile_set.minzoom, min(13, tile_set.maxzoom))],
        "vector_layers": [
            {"id": tile_set.collection, "fields": fields, "minzoom": tile_set.minzoom, "maxzoom": tile_set.maxzoom}
        ],
    }


def write_archive(path: Path, tiles: dict[tuple[int, int, int], list[bytes]], sets: list[TileSet],
                  bounds: list[float], settings: Settings) -> int:
    """Write the PMTiles v3 archive (gzip-compressed MVT, as static hosts serve it)."""
    entries = sorted((zxy_to_tileid(z, x, y), b"".join(parts)) for (z, x, y), parts in tiles.items())
    centre = settings.municipality.get("centre_wgs84", {})
    name = settings.municipality.get("name", "")
    metadata = {
        "name": f"estgeo {name}".strip(),
        "format": "pbf",
        "attribution": f"{name} kommun".strip(),
        "vector_layers": [
            {"id": s.collection, "description": _text(s.description), "minzoom": s.minzoom, "maxzoom": s.maxzoom} for s in sets
        ],
    }
    tmp = path.with_suffix(".partial")
    with tmp.open("wb") as fh:
        writer = PMTilesWriter(fh)
        for tile_id, data in entries:
            writer.write_tile(tile_id, gzip.compress(data, mtime=0))
        writer.finalize(
            {
                "tile_compression": Compression.GZIP,
                "tile_type": TileType.MVT,
                "min_lon_e7": int(bounds[0] * 1e7),
                "min_lat_e7": int(bounds[1] * 1e7),
                "max_lon_e7": int(bounds[2] * 1e7),
                "max_lat_e7": int(bounds[3] * 1e7),
                "center_zoom": 13,
                "center_lon_e7": int(centre.get("lon", (bounds[0] + bounds[2]) / 2) * 1e7),
                "center_lat_e7": int(centre.get("lat", (bounds[1] + bounds[3]) / 2) * 1e7),
            },
            metadata,
        )
    tmp.replace(path)
    return len(entries)


def _text(value: Any, lang: str = "en") -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or next(iter(value.values()), ""))
    return str(value or "")
