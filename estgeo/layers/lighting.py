"""Builder `lighting`: where missing light and insecurity meet (issue 5).

From the lighting inventory, the incidents and the safety-walk observations it makes

* ``modelled-light`` and ``modelled-light-repaired`` — Cloud Optimized GeoTIFFs of modelled
  ground illuminance (lux) now (lamps out and faulty give nothing) and if every lamp were
  repaired; the model is in `estgeo.layers.illuminance`, the writing in `estgeo.layers.cog`;
* ``lighting-insecurity`` — per H3 cell (default resolution): modelled light on the streets,
  lamps and lamps out, incidents in darkness and their share, lighting reports, and a
  composite index published together with each of its components;
* ``dark-gaps`` — polygons on streets and paths where the modelled light is below the dark
  threshold and incidents in darkness or open lighting reports are near;
* ``lamps-out`` — every lamp out or faulty, ranked by the incidents in darkness and the
  lighting reports within its reach, with the reason in words (Swedish and English).

Definitions
-----------
*Street pixels* are the raster's pixels within `street_buffer_m` of a street or path of the
basemap (`streets`, a file in the workspace) that some lamp of the inventory reaches (the
raster has a value there). Without a street file, the pixels within `lamp_buffer_m` of a lamp
stand in for the streets: lamps stand along streets and paths. Streets no lamp reaches at all
are outside this analysis (they are not a *gap* in the lighting but unlit by design).

*Dark* means a modelled illuminance below `dark_threshold_lux`. The default, 0.4 lx, is the
minimum illuminance E_min of class P6, the lowest of the EN 13201-2 P-classes for footways,
cycle paths and residential streets (P1–P6: E_min 3.0, 2.0, 1.5, 1.0, 0.6, 0.4 lx): a place
darker than that meets no lighting class. A municipality that designs its paths to P4 or P5
can set 1.0 or 0.6.

*Incidents in darkness* are incidents whose light condition (sun altitude at their time and
place, `estgeo.layers.sun`) is one of `dark_conditions`; their *share* is taken of the
incidents whose light condition is known. *Lighting reports* are safety-walk observations
with a problem marked ``lighting: true`` in config/taxonomy.yml; *open* ones have a status in
`open_report_statuses`. Only open reports count as evidence and in scores.

What is published
-----------------
*lighting-insecurity* (one row per H3 cell with street pixels or lamps): ``lux_mean``,
``lux_p10`` (numpy's linear percentile) and their ``_repaired`` twins over the cell's street
pixels, ``dark_area_share``, ``lamps``, ``lamps_out``, ``dark_incidents``,
``incidents_light_known``, ``dark_share``, ``lighting_reports`` (all) and
``lighting_reports_open``; the components ``c_*`` in [0, 1], ``index`` = 100 × Σ w·c / Σ w
with the weights of the layer's `index.weights`, and ``rank`` (by index, then cell).

*dark-gaps*: ``area_m2``, ``street_length_m`` (of the street file inside the gap),
``lux_mean``, ``lux_max``, ``lux_mean_repaired``, ``repair_fixes_share`` (share of the gap
above the threshold with every lamp lit) and ``cause`` (``lamps_out`` when that share is at
least `gaps.repair_share`, else ``missing_lighting``), ``lamps_out`` and ``lamps_out_ids``
(lamps out whose work-list reach touches the gap), ``dark_incidents`` and open
``lighting_reports`` within `gaps.evidence_radius_m`, ``score`` and ``rank``.

*lamps-out*: the lamp's inventory fields and model inputs, ``reach_m``, ``dark_incidents`` —
incidents in darkness within the reach *at spots the model now lights below the threshold*
(an outage matters where it leaves the place dark, not where other lamps still light it),
``lighting_reports`` (open, within the reach), ``lamps_out_nearby``, ``dark_gap`` (best-ranked
gap within the reach), ``lux_now`` and ``lux_repaired`` at the pole, ``score`` =
w_incident × dark_incidents + w_report × lighting_reports, ``rank`` (score, then gap rank,
lamps out nearby, light lost at the pole, id — the same input always gives the same order)
and ``rank_reason`` / ``rank_reason_en`` spelling that out.

Privacy: incident counts from 1 to `privacy.min_count` − 1 are published as null with
``suppressed = true``; in the lighting-insecurity cells, a darkness count the incident-density
layer withholds for the same cell is withheld here too, so the two layers cannot be
differenced. Scores and indexes are computed from what is published — a withheld count counts
as `min_count` / 2 — so no score gives a withheld count away. Nothing about a single
incident is published.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pyproj
import rasterio
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage

from estgeo.layers import privacy
from estgeo.layers.cog import SparseCogWriter, finish_all
from estgeo.layers.context import BuildContext
from estgeo.layers.density import cell_polygons
from estgeo.layers.illuminance import (
    Grid,
    Lamps,
    LightModel,
    RenderedTile,
    RenderStats,
    lamp_photometry,
    reach_m,
    render_tiles,
)
from estgeo.layers.street_lights import as_of_date, days_since
from estgeo.layers.sun import LIGHT_CONDITIONS, UNKNOWN, light_condition

LIGHT_FILE = "modelled-light.tif"
REPAIRED_FILE = "modelled-light-repaired.tif"

DEFAULTS: dict[str, Any] = {
    "model": {},
    "compress": "DEFLATE",
    "batch_tiles": 16,
    "dark_threshold_lux": 0.4,
    "dark_conditions": ["darkness"],
    "light_window_max_hours": 2.0,
    "incident_window_days": None,
    "streets": "basemap/streets.gpkg",
    "street_buffer_m": 6.0,
    "lamp_buffer_m": 30.0,
    "open_report_statuses": ["ny", "planerad"],
    "min_count": None,
    "collections": {
        "insecurity": "lighting-insecurity",
        "gaps": "dark-gaps",
        "lamps_out": "lamps-out",
    },
    "gaps": {"evidence_radius_m": 50.0, "min_area_m2": 100.0, "repair_share": 0.5},
    "work_list": {
        "reach_lux": None,
        "min_reach_m": 25.0,
        "max_reach_m": 75.0,
        "neighbour_radius_m": 100.0,
        "weights": {"dark_incident": 1.0, "lighting_report": 3.0},
    },
    "index": {
        "resolution": None,
        "weights": {"dark_area": 0.3, "lamps_out": 0.15, "dark_incidents": 0.25, "dark_share": 0.1, "lighting_reports": 0.2},
        "incidents_ref": None,
        "incidents_ref_percentile": 90,
        "reports_ref": 3,
    },
}

_TO_WGS84 = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)


def merged_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """The layer's parameters over `DEFAULTS`, section by section."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (params or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def _deep_update(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for key, value in new.items():
        base[key] = _deep_update(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


# Inputs ---------------------------------------------------------------------------------------
@dataclass
class Evidence:
    """Incidents (with their light condition) and lighting reports, as points in EPSG:3006."""

    incident_xy: np.ndarray  # (n, 2) all incidents of the window
    incident_dark: np.ndarray  # bool: in darkness
    incident_known: np.ndarray  # bool: light condition known
    report_xy: np.ndarray  # (m, 2) lighting reports
    report_open: np.ndarray  # bool
    dark_lux_now: np.ndarray | None = None  # modelled light now at each incident in darkness (0: unlit)

    def dark_unlit_xy(self, threshold: float) -> np.ndarray:
        """Incidents in darkness at spots the model now lights below `threshold` (all, before the rasters exist)."""
        if self.dark_lux_now is None:
            return self.dark_xy
        return self.dark_xy[self.dark_lux_now < threshold]

    @property
    def dark_xy(self) -> np.ndarray:
        return self.incident_xy[self.incident_dark]

    @property
    def open_report_xy(self) -> np.ndarray:
        return self.report_xy[self.report_open]


def incident_light(incidents: pd.DataFrame, max_window_hours: float) -> np.ndarray:
    """Light-condition code (`estgeo.layers.sun.LIGHT_CONDITIONS`) of each incident."""
    if incidents.empty:
        return np.empty(0, dtype=np.int8)
    lon, lat = _TO_WGS84.transform(incidents["x"].to_numpy(dtype=np.float64), incidents["y"].to_numpy(dtype=np.float64))
    start = _unix_seconds(incidents["occurred_from"])
    end = _unix_seconds(incidents["occurred_to"]) if "occurred_to" in incidents else start
    end = np.where(np.isnan(end), start, end)
    return light_condition(start, end, lat, lon, max_window_s=max_window_hours * 3600.0)


def _unix_seconds(moments: pd.Series) -> np.ndarray:
    moments = pd.to_datetime(moments, utc=True)
    return ((moments - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)


def lighting_problem_codes(settings) -> list[str]:
    return [code for code, entry in settings.taxonomy.get("walk_problems", {}).items() if entry.get("lighting")]


def gather_evidence(incidents: pd.DataFrame, walks: pd.DataFrame, settings, opts: dict[str, Any]) -> Evidence:
    if opts["incident_window_days"] and not incidents.empty:
        last = pd.to_datetime(incidents["occurred_from"], utc=True).max()
        incidents = incidents[pd.to_datetime(incidents["occurred_from"], utc=True) > last - pd.Timedelta(days=float(opts["incident_window_days"]))]
    light = incident_light(incidents, float(opts["light_window_max_hours"]))
    unknown = sorted(set(opts["dark_conditions"]) - set(LIGHT_CONDITIONS))
    if unknown:
        raise ValueError(f"lighting: dark_conditions {unknown} are not light conditions ({', '.join(LIGHT_CONDITIONS)})")
    dark_codes = [LIGHT_CONDITIONS.index(c) for c in opts["dark_conditions"]]
    codes = "|".join(re.escape(c) for c in lighting_problem_codes(settings)) or "(?!)"
    problems = walks["problems"].astype("string").fillna("") if "problems" in walks else pd.Series("", index=walks.index, dtype="string")
    # `problems` holds codes comma-joined (estgeo.ingest.fields.parse_codes).
    is_lighting = problems.str.contains(rf"(?:^|,)\s*(?:{codes})\s*(?:,|$)", regex=True).fillna(False).to_numpy(dtype=bool)
    reports = walks[is_lighting]
    status = reports["status"].astype("string").fillna("ny") if "status" in reports else pd.Series("ny", index=reports.index)
    return Evidence(
        incident_xy=incidents[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2),
        incident_dark=np.isin(light, dark_codes),
        incident_known=light != UNKNOWN,
        report_xy=reports[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2),
        report_open=status.isin(opts["open_report_statuses"]).to_numpy(dtype=bool),
    )


def read_streets(settings, opts: dict[str, Any]) -> gpd.GeoSeries | None:
    """Street and path centrelines in EPSG:3006, or None when the layer has no street file."""
    if not opts.get("streets"):
        return None
    path = Path(opts["streets"])
    path = path if path.is_absolute() else settings.workspace / path
    if not path.exists():
        return None
    streets = gpd.read_file(path, engine="pyogrio")
    if streets.crs is not None and streets.crs.to_epsg() != 3006:
        streets = streets.to_crs("EPSG:3006")
    lines = streets.geometry[~streets.geometry.is_empty & streets.geometry.notna()]
    return lines.reset_index(drop=True)


# Rasters --------------------------------------------------------------------------------------
@dataclass
class LightRasters:
    current: Path
    repaired: Path
    grid: Grid
    stats: RenderStats
    render_seconds: float = 0.0
    finish_seconds: float = 0.0
    bytes_written: int = 0
    overview_seconds: float = 0.0  # summed over both rasters (they are finished side by side)
    cog_seconds: float = 0.0


def write_modelled_light(lamps: Lamps, grid: Grid, model: LightModel, current: Path, repaired: Path, *,
                         compress: str = "DEFLATE", batch_tiles: int = 16, extra_tags: dict[str, str] | None = None,
                         on_tile: Callable[[RenderedTile], None] | None = None) -> LightRasters:
    """Render both rasters tile by tile and write them as COGs; `on_tile` sees every tile."""
    tags = {**model.tags(), **(extra_tags or {})}
    stats = RenderStats()
    started = time.perf_counter()
    writers = [
        SparseCogWriter(current, grid, model.nodata, {**tags, "SCENARIO": "current: lit lamps only (status tand)"},
                        description="modelled illuminance now (lx)", units="lx", compress=compress),
        SparseCogWriter(repaired, grid, model.nodata, {**tags, "SCENARIO": "repaired: every lamp lit"},
                        description="modelled illuminance if every lamp were lit (lx)", units="lx", compress=compress),
    ]
    with writers[0] as now, writers[1] as fixed:
        for tile in render_tiles(lamps, grid, model.nodata, batch_tiles, stats):
            now.write_tile(tile.tile_row, tile.tile_col, tile.current)
            fixed.write_tile(tile.tile_row, tile.tile_col, tile.repaired)
            if on_tile is not None:
                on_tile(tile)
        rendered = time.perf_counter()
        finish_all(writers)
    done = time.perf_counter()
    return LightRasters(current, repaired, grid, stats, rendered - started, done - rendered, sum(w.bytes_written for w in writers),
                        sum(w.overview_seconds for w in writers), sum(w.cog_seconds for w in writers))


def lamps_grid(lamps: Lamps, model: LightModel) -> Grid:
    """The grid around the reach of every lamp (edges on whole multiples of the resolution)."""
    return Grid.covering(float((lamps.x - lamps.reach).min()), float((lamps.y - lamps.reach).min()),
                         float((lamps.x + lamps.reach).max()), float((lamps.y + lamps.reach).max()),
                         model.resolution_m, model.tile_size)


# Per-tile analysis ----------------------------------------------------------------------------
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
        self._probes = {int(k): inside[order[bounds[j]:bounds[j + 1]]] for j, k in enumerate(keys)}

    def _mask(self, tree: shapely.STRtree, shapes: np.ndarray, transform: Affine, shape: tuple[int, int],
              box: shapely.Geometry) -> np.ndarray:
        hits = tree.query(box, predicate="intersects")
        if hits.size == 0:
            return np.zeros(shape, dtype=bool)
        burnt = rasterio.features.rasterize(((g, 1) for g in shapes[hits]), out_shape=shape, transform=transform,
                                            fill=0, dtype="uint8")
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
            self.pieces.append(GapPiece(shapely.union_all(geoms), int(pixels[k]), float(sum_now[k]), float(sum_rep[k]),
                                        float(max_now[k]), int(fixed[k])))

    def street_pixels(self) -> pd.DataFrame:
        """Every street pixel: x, y of its centre (EPSG:3006), modelled lux now and repaired."""
        if not self.rows:
            return pd.DataFrame({"x": [], "y": [], "now": [], "repaired": []}, dtype=np.float64)
        rows, cols = np.concatenate(self.rows), np.concatenate(self.cols)
        g = self.grid
        return pd.DataFrame({
            "x": g.west + (cols + 0.5) * g.resolution,
            "y": g.north - (rows + 0.5) * g.resolution,
            "now": np.concatenate(self.now).astype(np.float64),
            "repaired": np.concatenate(self.repaired).astype(np.float64),
        })


# Privacy helpers ------------------------------------------------------------------------------
def published_count(values: np.ndarray, min_count: int, also_hidden: np.ndarray | None = None) -> tuple[pd.array, np.ndarray]:
    """Counts as published (nullable Int64, 1 … min_count − 1 null) and the mask of withheld ones."""
    values = np.asarray(values, dtype=np.int64)
    hidden = (values > 0) & (values < min_count)
    if also_hidden is not None:
        hidden |= also_hidden
    out = pd.array(values, dtype="Int64")
    out[hidden] = pd.NA
    return out, hidden


def safe_value(values: np.ndarray, hidden: np.ndarray, min_count: int) -> np.ndarray:
    """What scores use for a count: the published value, or `privacy.stand_in` where it is withheld."""
    return np.where(hidden, privacy.stand_in(min_count), np.asarray(values, dtype=np.float64))


def _count_near(points_xy: np.ndarray, geoms: np.ndarray, distance) -> np.ndarray:
    """How many points lie within `distance` (scalar or one per geometry) of each geometry."""
    if len(points_xy) == 0 or len(geoms) == 0:
        return np.zeros(len(geoms), dtype=np.int64)
    tree = shapely.STRtree(shapely.points(points_xy))
    pairs = tree.query(geoms, predicate="dwithin", distance=distance)
    return np.bincount(pairs[0], minlength=len(geoms)).astype(np.int64)


# Dark gaps ------------------------------------------------------------------------------------
def dark_gaps(pieces: list[GapPiece], evidence: Evidence, out_lamps: gpd.GeoDataFrame, streets: gpd.GeoSeries | None,
              opts: dict[str, Any], min_count: int, resolution: float) -> gpd.GeoDataFrame:
    """Merge the tile pieces into gaps, count the evidence around them and rank them."""
    gcfg, wcfg = opts["gaps"], opts["work_list"]
    columns = ["id", "rank", "area_m2", "street_length_m", "lux_mean", "lux_max", "lux_mean_repaired", "repair_fixes_share",
               "cause", "lamps_out", "lamps_out_ids", "dark_incidents", "lighting_reports", "score", "suppressed"]
    if not pieces:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:3006")
    merged = np.asarray(shapely.get_parts(shapely.union_all([p.geometry for p in pieces])))
    tree = shapely.STRtree(merged)
    anchor = shapely.point_on_surface([p.geometry for p in pieces])
    # Each piece lies inside exactly one merged gap: the one holding a point on its surface.
    hit = tree.query(anchor, predicate="intersects")
    which = np.zeros(len(pieces), dtype=np.int64)
    which[hit[0]] = hit[1]

    def total(attr: str) -> np.ndarray:
        return np.bincount(which, weights=np.array([getattr(p, attr) for p in pieces], dtype=np.float64), minlength=len(merged))

    pixels = total("pixels")
    max_now = np.zeros(len(merged))
    np.maximum.at(max_now, which, np.array([p.max_now for p in pieces]))
    area = pixels * resolution * resolution
    keep = area >= float(gcfg["min_area_m2"])
    merged, pixels, area, max_now = merged[keep], pixels[keep], area[keep], max_now[keep]
    lux_mean = total("sum_now")[keep] / pixels
    lux_mean_repaired = total("sum_repaired")[keep] / pixels
    fixes = total("fixed_by_repair")[keep] / pixels
    if len(merged) == 0:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:3006")

    radius = float(gcfg["evidence_radius_m"])
    dark_n = _count_near(evidence.dark_xy, merged, radius)
    reports = _count_near(evidence.open_report_xy, merged, radius)
    dark_pub, dark_hidden = published_count(dark_n, min_count)
    weights = wcfg["weights"]
    score = float(weights["dark_incident"]) * safe_value(dark_n, dark_hidden, min_count) + float(weights["lighting_report"]) * reports

    # Lamps out whose reach (as in the work list) touches the gap.
    lamp_pairs = shapely.STRtree(merged).query(out_lamps.geometry.to_numpy(), predicate="dwithin",
                                               distance=out_lamps["reach_m"].to_numpy()) if len(out_lamps) else np.zeros((2, 0), int)
    lamps_out = np.bincount(lamp_pairs[1], minlength=len(merged))
    lamp_ids = out_lamps["id"].to_numpy(dtype=object) if len(out_lamps) else np.array([], dtype=object)
    ids_by_gap = pd.Series(lamp_ids[lamp_pairs[0]]).groupby(lamp_pairs[1]).agg(lambda s: ",".join(sorted(s)))

    street_length = np.full(len(merged), np.nan)
    if streets is not None and len(streets):
        pairs = shapely.STRtree(streets.to_numpy()).query(merged, predicate="intersects")
        lengths = shapely.length(shapely.intersection(merged[pairs[0]], streets.to_numpy()[pairs[1]]))
        street_length = np.round(np.bincount(pairs[0], weights=lengths, minlength=len(merged)), 1)

    centroid = shapely.centroid(merged)
    order = np.lexsort((shapely.get_y(centroid), shapely.get_x(centroid), -area, -score))
    rank = np.empty(len(merged), dtype=np.int64)
    rank[order] = np.arange(1, len(merged) + 1)
    frame = gpd.GeoDataFrame({
        "id": [f"morker-{r:03d}" for r in rank],
        "rank": rank,
        "area_m2": np.round(area, 0),
        "street_length_m": street_length,
        "lux_mean": np.round(lux_mean, 3),
        "lux_max": np.round(max_now, 3),
        "lux_mean_repaired": np.round(lux_mean_repaired, 3),
        "repair_fixes_share": np.round(fixes, 3),
        "cause": np.where(fixes >= float(gcfg["repair_share"]), "lamps_out", "missing_lighting"),
        "lamps_out": lamps_out.astype(np.int64),
        "lamps_out_ids": ids_by_gap.reindex(np.arange(len(merged))).fillna("").to_numpy(dtype=object),
        "dark_incidents": dark_pub,
        "lighting_reports": reports,
        "score": np.round(score, 2),
        "suppressed": dark_hidden,
    }, geometry=merged, crs="EPSG:3006")
    return frame.iloc[order].reset_index(drop=True)


# Lamps-out work list --------------------------------------------------------------------------
def work_list_reach(photometry: pd.DataFrame, opts: dict[str, Any]) -> np.ndarray:
    """Radius (m) a lamp answers for: where it alone would give at least `reach_lux`
    (default: the dark threshold), kept between `min_reach_m` (incident positions are
    approximate) and `max_reach_m`."""
    w = opts["work_list"]
    lux = float(w["reach_lux"] if w["reach_lux"] is not None else opts["dark_threshold_lux"])
    r = reach_m(photometry["intensity_cd"].to_numpy(), photometry["height_model_m"].to_numpy(), lux)
    return np.clip(r, float(w["min_reach_m"]), float(w["max_reach_m"]))


def lamps_out_list(lights: pd.DataFrame, photometry: pd.DataFrame, evidence: Evidence, gaps: gpd.GeoDataFrame,
                   rasters: LightRasters | None, opts: dict[str, Any], min_count: int, as_of) -> gpd.GeoDataFrame:
    """Every lamp out or faulty, ranked; `rank_reason` says why in Swedish, `rank_reason_en` in English."""
    out = ~photometry["lit"].to_numpy(dtype=bool)
    lamps = lights[out].reset_index(drop=True)
    ph = photometry[out].reset_index(drop=True)
    points = shapely.points(lamps[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2))
    reach = work_list_reach(ph, opts) if len(lamps) else np.zeros(0)
    dark_n = _count_near(evidence.dark_unlit_xy(float(opts["dark_threshold_lux"])), points, reach)
    reports = _count_near(evidence.open_report_xy, points, reach)
    neighbours = _count_near(lamps[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2), points,
                             float(opts["work_list"]["neighbour_radius_m"])) - 1
    dark_pub, dark_hidden = published_count(dark_n, min_count)
    w = opts["work_list"]["weights"]
    score = float(w["dark_incident"]) * safe_value(dark_n, dark_hidden, min_count) + float(w["lighting_report"]) * reports

    gap_rank = np.full(len(lamps), np.iinfo(np.int64).max)
    gap_id = np.full(len(lamps), None, dtype=object)
    if len(gaps) and len(lamps):
        pairs = shapely.STRtree(gaps.geometry.to_numpy()).query(points, predicate="dwithin", distance=reach)
        ranks = gaps["rank"].to_numpy()[pairs[1]]
        best = pd.Series(ranks).groupby(pairs[0]).min()
        gap_rank[best.index.to_numpy()] = best.to_numpy()
        by_rank = dict(zip(gaps["rank"], gaps["id"], strict=True))
        gap_id[best.index.to_numpy()] = [by_rank[r] for r in best.to_numpy()]

    lux_now = lux_repaired = np.full(len(lamps), np.nan)
    if rasters is not None and len(lamps):
        xy = list(zip(lamps["x"], lamps["y"], strict=True))
        lux_now = _sample(rasters.current, xy)
        lux_repaired = _sample(rasters.repaired, xy)
    lux_lost = np.nan_to_num(lux_repaired - lux_now)

    order = np.lexsort((lamps["id"].astype(str).to_numpy(), -lux_lost, -neighbours, gap_rank, -score))
    rank = np.empty(len(lamps), dtype=np.int64)
    rank[order] = np.arange(1, len(lamps) + 1)
    reasons_sv, reasons_en = _reasons(dark_n, dark_hidden, reports, neighbours, reach, gap_id, min_count,
                                      float(opts["work_list"]["neighbour_radius_m"]), float(opts["dark_threshold_lux"]))
    frame = gpd.GeoDataFrame({
        "id": lamps["id"].astype(str).to_numpy(),
        "rank": rank,
        "status": lamps["status"].astype(str).to_numpy(),
        "lamp_type": lamps["lamp_type"].astype("string").to_numpy(dtype=object, na_value=None),
        "owner": lamps["owner"].astype("string").to_numpy(dtype=object, na_value=None) if "owner" in lamps else None,
        "height_model_m": ph["height_model_m"].to_numpy(),
        "flux_model_lm": np.round(ph["flux_model_lm"].to_numpy(), 0),
        "flux_source": ph["flux_source"].to_numpy(),
        "reach_m": np.round(reach, 1),
        "dark_incidents": dark_pub,
        "lighting_reports": reports,
        "lamps_out_nearby": neighbours,
        "dark_gap": gap_id,
        "lux_now": np.round(lux_now, 3),
        "lux_repaired": np.round(lux_repaired, 3),
        "score": np.round(score, 2),
        "rank_reason": reasons_sv,
        "rank_reason_en": reasons_en,
        "last_inspected": lamps["last_inspected"].astype("string").to_numpy(dtype=object, na_value=None),
        "age_since_inspection_days": days_since(lamps["last_inspected"], as_of).array,
        "suppressed": dark_hidden,
    }, geometry=points, crs="EPSG:3006")
    return frame.iloc[order].reset_index(drop=True)


def _sample(path: Path, xy: list[tuple[float, float]]) -> np.ndarray:
    with rasterio.open(path) as src:
        values = np.array([v[0] for v in src.sample(xy, masked=False)], dtype=np.float64)
        return np.where(values == src.nodata, np.nan, values)


def _reasons(dark_n, dark_hidden, reports, neighbours, reach, gap_id, min_count: int, neighbour_radius: float,
             threshold: float):
    """Why each lamp ranks where it does, in Swedish and in English."""
    sv, en = [], []
    lux = f"{threshold:g}"
    for n, hidden, rep, nb, r, gap in zip(dark_n, dark_hidden, reports, neighbours, reach, gap_id, strict=True):
        if hidden:
            dark_sv, dark_en = f"färre än {min_count} händelser i mörker", f"fewer than {min_count} incidents in darkness"
        else:
            dark_sv, dark_en = f"{n} händelser i mörker", f"{n} incident{'s' if n != 1 else ''} in darkness"
        parts_sv = [f"{dark_sv} där det nu är mörkare än {lux.replace('.', ',')} lux och {rep} belysningsklagomål inom {r:.0f} m"]
        parts_en = [f"{dark_en} where it is now darker than {lux} lux and {rep} lighting report{'s' if rep != 1 else ''} "
                    f"within {r:.0f} m"]
        if nb > 0:
            parts_sv.append(f"{nb} andra lampor släckta eller trasiga inom {neighbour_radius:.0f} m")
            parts_en.append(f"{nb} other lamp{'s' if nb != 1 else ''} out or faulty within {neighbour_radius:.0f} m")
        if gap is not None:
            parts_sv.append(f"vid mörk lucka {gap}")
            parts_en.append(f"at dark gap {gap}")
        sv.append("; ".join(parts_sv))
        en.append("; ".join(parts_en))
    return np.array(sv, dtype=object), np.array(en, dtype=object)


# Lighting insecurity on H3 cells --------------------------------------------------------------
def h3_cells(x: np.ndarray, y: np.ndarray, res: int, finest: int | None = None) -> np.ndarray:
    """H3 cell (uint64) at `res` of each EPSG:3006 point.

    Like the incident-density layer, a point is indexed at the `finest` resolution and then
    takes that cell's parent (H3 children do not tile their parent exactly, so this can differ
    from indexing at `res` directly near cell edges); the two layers then count the same
    incidents in the same cells. h3-py has no array API: one call per point.
    """
    finest = max(res, finest or res)
    lon, lat = _TO_WGS84.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    to_cell = h3i.latlng_to_cell
    cells = np.fromiter((to_cell(a, b, finest) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)), dtype=np.uint64,
                        count=len(lat))
    if finest == res or cells.size == 0:
        return cells
    unique, inverse = np.unique(cells, return_inverse=True)
    parents = np.fromiter((h3i.cell_to_parent(int(c), res) for c in unique), dtype=np.uint64, count=len(unique))
    return parents[inverse]


def _group_percentile(keys: np.ndarray, values: np.ndarray, n_groups: int, q: float) -> np.ndarray:
    """Percentile `q` (0–100, linear interpolation as numpy's default) of `values` per group 0 … n − 1."""
    out = np.full(n_groups, np.nan)
    if values.size == 0:
        return out
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    counts = np.bincount(k, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    pos = (counts[has] - 1) * q / 100.0
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, counts[has] - 1)
    frac = pos - lo
    out[has] = v[starts[has] + lo] * (1 - frac) + v[starts[has] + hi] * frac
    return out


def _density_hidden(ctx: BuildContext, cells: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Which cells' darkness count and known-light count the density layer withholds (whole range).

    Empty masks when that layer was not built in this run or at another resolution."""
    dark = np.zeros(len(cells), dtype=bool)
    known = np.zeros(len(cells), dtype=bool)
    frame = ctx.built.get(f"incident-density-r{res}")
    needed = {"h3", "period_kind", "count", "light_darkness", "light_unknown"}
    if frame is None or not needed.issubset(frame.columns):
        return dark, known
    rows = frame[frame["period_kind"].astype(str) == "all"]
    hexes = pd.Index(rows["h3"].astype(str))
    pos = hexes.get_indexer([h3i.int_to_str(int(c)) for c in cells])
    found = pos >= 0
    sel = rows.iloc[pos[found]]
    dark[found] = sel["light_darkness"].isna().to_numpy()
    known[found] = (sel["count"].isna() | sel["light_unknown"].isna()).to_numpy()
    return dark, known


def lighting_insecurity(ctx: BuildContext, street_px: pd.DataFrame, lights: pd.DataFrame, photometry: pd.DataFrame,
                        evidence: Evidence, opts: dict[str, Any], min_count: int, res: int, resolution: float,
                        cross_check_density: bool) -> gpd.GeoDataFrame:
    """One row per H3 cell with street pixels or lamps: light, lamps, incidents, reports, index."""
    threshold = float(opts["dark_threshold_lux"])
    finest = max([res, *ctx.settings.h3_resolutions])
    px_cell = h3_cells(street_px["x"].to_numpy(), street_px["y"].to_numpy(), res, finest)
    lamp_cell = h3_cells(lights["x"].to_numpy(), lights["y"].to_numpy(), res, finest)
    cells = np.unique(np.concatenate([px_cell, lamp_cell]))
    n = len(cells)
    px_k = np.searchsorted(cells, px_cell)
    lamp_k = np.searchsorted(cells, lamp_cell)

    def within(xy: np.ndarray) -> np.ndarray:
        """Cell index of each point, -1 for points outside every listed cell."""
        if len(xy) == 0:
            return np.zeros(0, dtype=np.int64)
        bbox = (xy[:, 0] >= lights["x"].min() - 2000) & (xy[:, 0] <= lights["x"].max() + 2000) & \
               (xy[:, 1] >= lights["y"].min() - 2000) & (xy[:, 1] <= lights["y"].max() + 2000)
        out = np.full(len(xy), -1, dtype=np.int64)
        idx = np.flatnonzero(bbox)
        c = h3_cells(xy[idx, 0], xy[idx, 1], res, finest)
        k = np.minimum(np.searchsorted(cells, c), n - 1)
        out[idx] = np.where(cells[k] == c, k, -1)
        return out

    def count(keys: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        keep = keys >= 0 if mask is None else (keys >= 0) & mask
        return np.bincount(keys[keep], minlength=n).astype(np.int64)

    pixels = np.bincount(px_k, minlength=n)
    now, rep = street_px["now"].to_numpy(), street_px["repaired"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        lux_mean = np.bincount(px_k, weights=now, minlength=n) / pixels
        lux_mean_rep = np.bincount(px_k, weights=rep, minlength=n) / pixels
        dark_share_area = np.bincount(px_k, weights=(now < threshold), minlength=n) / pixels
    lux_p10 = _group_percentile(px_k, now, n, 10)
    lux_p10_rep = _group_percentile(px_k, rep, n, 10)

    lamps = np.bincount(lamp_k, minlength=n)
    lamps_out = np.bincount(lamp_k, weights=~photometry["lit"].to_numpy(dtype=bool), minlength=n).astype(np.int64)

    inc_k = within(evidence.incident_xy)
    dark_n = count(inc_k, evidence.incident_dark)
    known_n = count(inc_k, evidence.incident_known)
    rep_k = within(evidence.report_xy)
    reports_all = count(rep_k)
    reports_open = count(rep_k, evidence.report_open)

    dens_dark, dens_known = _density_hidden(ctx, cells, res) if cross_check_density else (None, None)
    dark_pub, dark_hidden = published_count(dark_n, min_count, dens_dark)
    known_pub, known_hidden = published_count(known_n, min_count, dens_known)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(known_n > 0, dark_n / np.maximum(known_n, 1), np.nan)
    share_hidden = dark_hidden | known_hidden
    dark_share = pd.array(np.round(share, 3), dtype="Float64")
    dark_share[share_hidden | np.isnan(share)] = pd.NA

    icfg = opts["index"]
    dark_safe = safe_value(dark_n, dark_hidden, min_count)
    ref = icfg["incidents_ref"]
    if ref is None:
        positive = dark_safe[dark_safe > 0]
        ref = max(float(np.percentile(positive, float(icfg["incidents_ref_percentile"]))) if positive.size else 1.0, float(min_count))
    components = {
        "dark_area": np.nan_to_num(dark_share_area),
        "lamps_out": np.where(lamps > 0, lamps_out / np.maximum(lamps, 1), 0.0),
        "dark_incidents": np.minimum(1.0, dark_safe / float(ref)),
        "dark_share": np.where(share_hidden | np.isnan(share), 0.0, np.nan_to_num(share)),
        "lighting_reports": np.minimum(1.0, reports_open / float(icfg["reports_ref"])),
    }
    weights = {k: float(v) for k, v in icfg["weights"].items()}
    unknown = sorted(set(weights) - set(components))
    if unknown:
        raise ValueError(f"lighting: index weights {unknown} are not components ({', '.join(components)})")
    index = 100.0 * sum(weights.get(k, 0.0) * c for k, c in components.items()) / max(sum(weights.values()), 1e-12)
    order = np.lexsort((cells, -np.round(index, 6)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)

    frame = gpd.GeoDataFrame({
        "h3": [h3i.int_to_str(int(c)) for c in cells],
        "resolution": np.full(n, res, dtype=np.int64),
        "street_area_m2": pixels * resolution * resolution,
        "lux_mean": np.round(lux_mean, 3),
        "lux_p10": np.round(lux_p10, 3),
        "lux_mean_repaired": np.round(lux_mean_rep, 3),
        "lux_p10_repaired": np.round(lux_p10_rep, 3),
        "dark_area_share": np.round(dark_share_area, 3),
        "lamps": lamps.astype(np.int64),
        "lamps_out": lamps_out,
        "dark_incidents": dark_pub,
        "incidents_light_known": known_pub,
        "dark_share": dark_share,
        "lighting_reports": reports_all,
        "lighting_reports_open": reports_open,
        **{f"c_{k}": np.round(v, 3) for k, v in components.items()},
        "index": np.round(index, 1),
        "rank": rank,
        "suppressed": dark_hidden | known_hidden,
    }, geometry=cell_polygons(cells), crs="OGC:CRS84")
    return frame.iloc[order].reset_index(drop=True)


# Build ----------------------------------------------------------------------------------------
def build(ctx: BuildContext, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    opts = merged_params(params)
    settings = ctx.settings
    names = opts["collections"]
    model = LightModel.from_params(opts["model"])
    min_count = int(opts["min_count"] or settings.privacy_min_count)
    h3cfg = settings.project.get("h3", {})
    res = int(opts["index"]["resolution"] or h3cfg.get("default_resolution", 9))
    as_of = as_of_date(opts.get("as_of"), settings.time_zone)

    lights = ctx.read("lights").reset_index(drop=True)
    photometry = lamp_photometry(lights, model)
    evidence = gather_evidence(ctx.read("incidents"), ctx.read("walks"), settings, opts)
    lamps = Lamps.from_photometry(lights["x"], lights["y"], photometry)
    ctx.progress(f"lighting: {len(lights):,} lamps, {int((~photometry['lit']).sum()):,} out or faulty, "
                 f"{int(evidence.incident_dark.sum()):,} incidents in darkness, {int(evidence.report_open.sum()):,} open lighting reports")

    rasters = None
    street_px = pd.DataFrame({"x": [], "y": [], "now": [], "repaired": []}, dtype=np.float64)
    pieces: list[GapPiece] = []
    streets = read_streets(settings, opts)
    if len(lamps):
        grid = lamps_grid(lamps, model)
        if streets is not None:
            street_shapes = np.asarray(shapely.buffer(streets.to_numpy(), float(opts["street_buffer_m"]), quad_segs=2))
        else:
            street_shapes = np.asarray(shapely.buffer(shapely.points(lights[["x", "y"]].to_numpy(dtype=np.float64)),
                                                      float(opts["lamp_buffer_m"]), quad_segs=4))
        evidence_points = np.concatenate([evidence.dark_xy, evidence.open_report_xy])
        evidence_shapes = np.asarray(shapely.buffer(shapely.points(evidence_points), float(opts["gaps"]["evidence_radius_m"]),
                                      quad_segs=4)) \
            if len(evidence_points) else np.empty(0, dtype=object)
        analysis = TileAnalysis(grid, model.nodata, float(opts["dark_threshold_lux"]), street_shapes, evidence_shapes,
                                evidence.dark_xy)
        ctx.progress(f"lighting: modelled light, {grid.width:,} × {grid.height:,} pixels of {model.resolution_m:g} m")
        rasters = write_modelled_light(
            lamps, grid, model, ctx.out_dir / LIGHT_FILE, ctx.out_dir / REPAIRED_FILE,
            compress=str(opts["compress"]), batch_tiles=int(opts["batch_tiles"]),
            extra_tags={"LAMPS": str(len(lamps)), "LAMPS_OUT": str(int((~lamps.lit).sum())),
                        "MUNICIPALITY": str(settings.municipality.get("name", ""))},
            on_tile=analysis.add,
        )
        ctx.built["modelled_light"] = rasters.current
        ctx.built["modelled_light_repaired"] = rasters.repaired
        street_px = analysis.street_pixels()
        pieces = analysis.pieces
        evidence.dark_lux_now = analysis.probe_lux

    ctx.progress("lighting: dark gaps, lamps-out list, lighting insecurity per cell")
    reach = work_list_reach(photometry, opts) if len(lights) else np.zeros(0)
    out_mask = ~photometry["lit"].to_numpy(dtype=bool)
    out_lamps = gpd.GeoDataFrame({"id": lights["id"].astype(str).to_numpy()[out_mask], "reach_m": reach[out_mask]},
                                 geometry=shapely.points(lights[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2)[out_mask]),
                                 crs="EPSG:3006")
    gaps = dark_gaps(pieces, evidence, out_lamps, streets, opts, min_count, model.resolution_m)
    work = lamps_out_list(lights, photometry, evidence, gaps, rasters, opts, min_count, as_of)
    cells = lighting_insecurity(ctx, street_px, lights, photometry, evidence, opts, min_count, res, model.resolution_m,
                                cross_check_density=not opts["incident_window_days"]) if len(lights) else _empty_cells()
    ctx.built["lighting:gaps"] = gaps
    return {
        names["insecurity"]: cells,
        names["gaps"]: gaps.to_crs("OGC:CRS84"),
        names["lamps_out"]: work.to_crs("OGC:CRS84"),
    }


def _empty_cells() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"h3": [], "index": [], "rank": []}, geometry=[], crs="OGC:CRS84")
