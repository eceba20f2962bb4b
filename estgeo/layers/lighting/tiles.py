"""The per-tile analysis that runs as the rasters are rendered: street pixels and dark-gap pieces.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage

from estgeo.layers.illuminance import (
    Grid,
    RenderedTile,
)


@dataclass
class GapPiece:
    """Part of a dark gap inside one tile, with sums over its pixels."""

    geometry: shapely.Geometry
    pixels: int
    sum_now: float
    sum_repaired: float
    max_now: float
    fixed_by_repair: int  # pixels at or above the threshold if every lamp were lit


@dataclass
class TileAnalysis:
    """Collects, tile by tile as the rasters are rendered, the street pixels and dark-gap pieces.

    Memory: 16 bytes per street pixel, plus the gap pieces; never a whole-extent array.
    """

    grid: Grid
    nodata: float
    threshold: float
    street_shapes: np.ndarray  # polygons (EPSG:3006)
    evidence_shapes: np.ndarray  # polygons: evidence points buffered by the evidence radius
    probe_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # points whose lux is wanted
    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    now: list[np.ndarray] = field(default_factory=list)
    repaired: list[np.ndarray] = field(default_factory=list)
    pieces: list[GapPiece] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._streets = shapely.STRtree(self.street_shapes)
        self._evidence = shapely.STRtree(self.evidence_shapes)
        # Modelled light now at each probe point; 0 where no lamp reaches (nodata) or outside the grid.
        self.probe_lux = np.zeros(len(self.probe_xy))
        row, col = self.grid.rowcol(self.probe_xy[:, 0], self.probe_xy[:, 1])
        inside = np.flatnonzero((row >= 0) & (row < self.grid.height) & (col >= 0) & (col < self.grid.width))
        t = self.grid.tile_size
        key = (row[inside] // t) * self.grid.tiles_x + col[inside] // t
        order = np.argsort(key, kind="stable")
        keys, first = np.unique(key[order], return_index=True)
        bounds = np.append(first, len(order))
        self._probe_rc = (row, col)
        self._probes = {int(k): inside[order[bounds[j] : bounds[j + 1]]] for j, k in enumerate(keys)}

    def _mask(
        self, tree: shapely.STRtree, shapes: np.ndarray, transform: Affine, shape: tuple[int, int], box: shapely.Geometry
    ) -> np.ndarray:
        hits = tree.query(box, predicate="intersects")
        if hits.size == 0:
            return np.zeros(shape, dtype=bool)
        burnt = rasterio.features.rasterize(
            ((g, 1) for g in shapes[hits]), out_shape=shape, transform=transform, fill=0, dtype="uint8"
        )
        return burnt.astype(bool)

    def add(self, tile: RenderedTile) -> None:
        g, t = self.grid, self.grid.tile_size
        shape = tile.current.shape
        r0, c0 = tile.tile_row * t, tile.tile_col * t
        west, north = g.west + c0 * g.resolution, g.north - r0 * g.resolution
        transform = Affine(g.resolution, 0.0, west, 0.0, -g.resolution, north)
        box = shapely.box(west, north - shape[0] * g.resolution, west + shape[1] * g.resolution, north)
        probes = self._probes.get(tile.tile_row * g.tiles_x + tile.tile_col)
        if probes is not None:
            values = tile.current[self._probe_rc[0][probes] - r0, self._probe_rc[1][probes] - c0]
            self.probe_lux[probes] = np.where(values == self.nodata, 0.0, values)
        street = self._mask(self._streets, self.street_shapes, transform, shape, box) & (tile.repaired != self.nodata)
        if not street.any():
            return
        rr, cc = np.nonzero(street)
        self.rows.append((rr + r0).astype(np.int32))
        self.cols.append((cc + c0).astype(np.int32))
        self.now.append(tile.current[rr, cc])
        self.repaired.append(tile.repaired[rr, cc])
        dark = street & (tile.current < self.threshold)
        if not dark.any():
            return
        gap = dark & self._mask(self._evidence, self.evidence_shapes, transform, shape, box)
        if gap.any():
            self._add_pieces(gap, tile, transform)

    def _add_pieces(self, gap: np.ndarray, tile: RenderedTile, transform: Affine) -> None:
        labels, n = ndimage.label(gap, structure=np.ones((3, 3), dtype=bool))
        lab = labels[gap]
        now, rep = tile.current[gap].astype(np.float64), tile.repaired[gap].astype(np.float64)
        pixels = np.bincount(lab, minlength=n + 1)
        sum_now = np.bincount(lab, weights=now, minlength=n + 1)
        sum_rep = np.bincount(lab, weights=rep, minlength=n + 1)
        fixed = np.bincount(lab, weights=(rep >= self.threshold), minlength=n + 1)
        max_now = np.zeros(n + 1)
        np.maximum.at(max_now, lab, now)
        parts: dict[int, list] = {}
        for geom, value in rasterio.features.shapes(labels.astype(np.int32), mask=gap, connectivity=8, transform=transform):
            parts.setdefault(int(value), []).append(shapely.geometry.shape(geom))
        for k, geoms in parts.items():
            self.pieces.append(
                GapPiece(
                    shapely.union_all(geoms),
                    int(pixels[k]),
                    float(sum_now[k]),
                    float(sum_rep[k]),
                    float(max_now[k]),
                    int(fixed[k]),
                )
            )

    def street_pixels(self) -> pd.DataFrame:
        """Every street pixel: x, y of its centre (EPSG:3006), modelled lux now and repaired."""
        if not self.rows:
            return pd.DataFrame({"x": [], "y": [], "now": [], "repaired": []}, dtype=np.float64)
        rows, cols = np.concatenate(self.rows), np.concatenate(self.cols)
        g = self.grid
        return pd.DataFrame(
            {
                "x": g.west + (cols + 0.5) * g.resolution,
                "y": g.north - (rows + 0.5) * g.resolution,
                "now": np.concatenate(self.now).astype(np.float64),
                "repaired": np.concatenate(self.repaired).astype(np.float64),
            }
        )
