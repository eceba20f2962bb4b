"""The part of the municipality a report covers: all of it, one H3 cell, or a polygon.

`--area` takes an H3 cell id (``8908a66a99bffff``), a polygon as WKT or GeoJSON text, or a
vector file (GeoJSON, GeoPackage, …; its features are merged). Coordinates in text are
lon/lat (CRS84) unless they are too large for degrees, then SWEREF 99 TM easting/northing
(EPSG:3006); a file carries its own CRS.

The published layers count incidents per H3 cell, so an area selects cells, never
incidents: the cells inside an H3 area (its descendants), or the cells whose centre lies
in a polygon. Totals are taken at the coarsest resolution whose selected cells still fit the
area well (coarser cells lose fewer counts to suppression).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pyproj
import shapely

from estgeo.errors import EstgeoError

#: A polygon area's totals use the coarsest resolution whose selected cells overlap it at least this much (IoU).
MIN_OVERLAP = 0.8


class AreaError(EstgeoError, ValueError):
    """The area cannot be understood; the message says what was expected."""


@dataclass(frozen=True)
class Area:
    """`geometry` in CRS84; `cell` set when the area is one H3 cell."""

    label: str
    geometry: shapely.Geometry
    cell: str | None = None

    @property
    def resolution(self) -> int:
        """The area cell's resolution (asked only of a cell area; -1 for a polygon)."""
        return int(h3.get_resolution(self.cell)) if self.cell else -1

    def select(self, cells: np.ndarray, res: int) -> np.ndarray:
        """Boolean mask: which of `cells` (H3 ids, all of resolution `res`) belong to the area."""
        cells = np.asarray(cells, dtype=object)
        if cells.size == 0:
            return np.zeros(0, dtype=bool)
        if self.cell:
            if res < self.resolution:
                raise AreaError(f"area {self.cell} is finer (resolution {self.resolution}) than the layer's resolution {res}")
            unique, inverse = np.unique(cells, return_inverse=True)
            inside = np.array([h3.cell_to_parent(c, self.resolution) == self.cell for c in unique], dtype=bool)
            return inside[inverse]
        lon, lat = cell_centres(cells)
        return shapely.contains_xy(self.geometry, lon, lat)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Which points (CRS84) lie in the area (the internal report filters incidents with it)."""
        if self.cell:
            res = self.resolution
            return np.fromiter((h3.latlng_to_cell(a, o, res) == self.cell for a, o in zip(lat, lon, strict=True)), dtype=bool, count=len(lat))
        return shapely.contains_xy(self.geometry, lon, lat)

    def totals_resolution(self, resolutions: list[int], cells_at: dict[int, np.ndarray]) -> int:
        """The coarsest resolution whose selection fits the area (see the module docstring)."""
        ordered = sorted(resolutions)
        if self.cell:
            fitting = [r for r in ordered if r >= self.resolution]
            if not fitting:
                raise AreaError(f"area {self.cell}: no published resolution is at least {self.resolution}")
            return fitting[0]
        for res in ordered:
            cells = np.asarray(cells_at.get(res, []), dtype=object)
            chosen = cells[self.select(cells, res)] if cells.size else cells
            if chosen.size and overlap(self.geometry, cell_union(chosen)) >= MIN_OVERLAP:
                return res
        return ordered[-1]


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    latlng = np.array([h3.cell_to_latlng(c) for c in cells], dtype=np.float64).reshape(-1, 2)
    return latlng[:, 1], latlng[:, 0]


def cell_polygon(cell: str) -> shapely.Polygon:
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def cell_union(cells: np.ndarray) -> shapely.Geometry:
    return shapely.union_all([cell_polygon(c) for c in np.unique(cells)])


def overlap(a: shapely.Geometry, b: shapely.Geometry) -> float:
    union = shapely.area(shapely.union(a, b))
    return float(shapely.area(shapely.intersection(a, b)) / union) if union > 0 else 0.0


def parse_area(spec: str | None) -> Area | None:
    """An `Area` from the `--area` text (see the module docstring); None for the whole municipality."""
    if spec is None or not str(spec).strip():
        return None
    text = str(spec).strip()
    if h3.is_valid_cell(text):
        return Area(f"H3 {text}", cell_polygon(text), cell=text)
    path = Path(text)
    if len(text) < 1024 and path.suffix and path.exists():
        frame = gpd.read_file(path)
        if frame.empty:
            raise AreaError(f"area file {path}: no features")
        if frame.crs is not None:
            geometry = shapely.union_all(frame.to_crs("OGC:CRS84").geometry.to_numpy())
        else:
            geometry = _to_crs84(shapely.union_all(frame.geometry.to_numpy()))
        return Area(path.name, _polygonal(geometry, text))
    geometry = _geometry_from_text(text)
    return Area("polygon", _polygonal(_to_crs84(geometry), text))


def _geometry_from_text(text: str) -> shapely.Geometry:
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AreaError(f"area: not valid GeoJSON: {exc}") from exc
        if data.get("type") == "FeatureCollection":
            return shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in data.get("features", [])])
        if data.get("type") == "Feature":
            data = data.get("geometry") or {}
        try:
            return shapely.geometry.shape(data)
        except (KeyError, ValueError, AttributeError, TypeError, shapely.errors.GeometryTypeError) as exc:
            raise AreaError(f"area: not a GeoJSON geometry: {exc}") from exc
    try:
        return shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        raise AreaError(
            f"area {text[:60]!r}: expected an H3 cell id, a WKT or GeoJSON polygon, or a vector file that exists") from exc


def _to_crs84(geometry: shapely.Geometry) -> shapely.Geometry:
    """Text coordinates: degrees as they are; larger numbers are SWEREF 99 TM easting/northing."""
    coords = shapely.get_coordinates(geometry)
    if coords.size and np.abs(coords).max() > 360:
        to_crs84 = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True)
        return shapely.transform(geometry, lambda xy: np.column_stack(to_crs84.transform(xy[:, 0], xy[:, 1])))
    return geometry


def _polygonal(geometry: shapely.Geometry, text: str) -> shapely.Geometry:
    if geometry is None or geometry.is_empty or shapely.area(geometry) <= 0:
        raise AreaError(f"area {text[:60]!r}: not a polygon with an area")
    return shapely.make_valid(geometry)
