"""Modelled street-light illuminance: how many lux each lamp puts on the ground, summed on a grid.

The model (named in every raster's tags as `MODEL_NAME`)
--------------------------------------------------------
Each lamp is a **point source** at its pole height *h* (m) that sends a share of its luminous
flux Φ (lm) evenly into the lower hemisphere, so its luminous intensity is

    I = LLF · Φ / (2π)   [cd]

with LLF the *light loss factor* (luminaire output ratio × maintenance factor: dirt, ageing,
optics; default 0.7). The **horizontal illuminance** it gives at a point on the ground at
horizontal distance *d* from the pole is the inverse-square law times the cosine of the angle
of incidence:

    E(d) = I · h / (h² + d²)^(3/2)   [lx]

Integrated over the whole ground plane this returns exactly LLF · Φ, so the model conserves
the light that leaves the luminaire. It ignores the luminaire's real light distribution
(road optics throw light along the street), shadows and reflections — it estimates where light
is and where it is missing, it is not a lighting design calculation (EN 13201-3).

A lamp's contribution is **cut off** where it falls below `cutoff_lux` (default 0.05 lx,
moonlight is about 0.1–0.3 lx) and never reaches beyond `max_reach_m`; its *reach* is

    R = sqrt((I · h / E_cut)^(2/3) − h²)  (capped at max_reach_m)

A pixel's value is the sum of E over every lamp whose reach covers the pixel's centre. The
**current** raster counts only lamps that are lit (status ``tand``); lamps out (``slackt``) or
faulty (``fel``) contribute nothing. The **repaired** raster counts every lamp. Pixels that no
lamp of the inventory reaches are *nodata* in both (nothing is modelled there), so the two
rasters have the same footprint and 0 lx means "a lamp should light this, but none does now".

Inventory gaps: a lamp without flux gets it from its power × the luminous efficacy of its lamp
type, else from its lamp type's default flux; a lamp without pole height gets the default
height. Every default is a layer parameter (`layers/lighting.yml`), and the street-light's
`flux_source` says which was used.

Computation
-----------
The grid is cut into square tiles (the COG's blocks). Each lamp is assigned to the tiles its
reach touches, and one numba pass per batch of tiles stamps every lamp's kernel into its tiles
(tiles in parallel; per lamp only the rows and the chord of columns inside its reach). Both
rasters are summed in the same pass. No Python code runs per pixel or per lamp; memory is one
batch of tiles, whatever the extent, and tiles that no lamp reaches are never computed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd
from affine import Affine

#: Name and version of the model, written into the rasters' tags.
MODEL_NAME = "estgeo point-source horizontal illuminance v1: E = I*h/(h^2+d^2)^1.5, I = LLF*flux/(2*pi)"

#: Lamp statuses (config/taxonomy.yml lamp_statuses) that give light.
LIT_STATUSES = ("tand",)


# Photometry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LightModel:
    """The parameters of the model and of its grid; see the module docstring."""

    light_loss_factor: float = 0.7
    cutoff_lux: float = 0.05
    max_reach_m: float = 150.0
    resolution_m: float = 5.0
    tile_size: int = 512
    nodata: float = -9999.0
    default_height_m: float = 6.0
    efficacy_lm_per_w: tuple[tuple[str, float], ...] = ()
    default_flux_lm: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LightModel:
        """Read the `model:` section of a layer's parameters (missing keys keep the defaults)."""
        p = dict(params or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(p) - known)
        if unknown:
            raise ValueError(f"lighting model: unknown parameters {unknown}; expected some of {sorted(known)}")
        for key in ("efficacy_lm_per_w", "default_flux_lm"):
            if key in p:
                p[key] = tuple(sorted((str(k), float(v)) for k, v in dict(p[key]).items()))
        model = cls(**p)
        if not 0 < model.light_loss_factor <= 1:
            raise ValueError("lighting model: light_loss_factor must be in (0, 1]")
        if model.cutoff_lux <= 0 or model.resolution_m <= 0 or model.max_reach_m <= 0:
            raise ValueError("lighting model: cutoff_lux, resolution_m and max_reach_m must be positive")
        if model.tile_size % 16 or model.tile_size < 128:
            raise ValueError("lighting model: tile_size must be a multiple of 16 and at least 128 (a COG block size)")
        return model

    def tags(self) -> dict[str, str]:
        """The model and its parameters, for the raster's metadata."""
        return {
            "MODEL": MODEL_NAME,
            "LIGHT_LOSS_FACTOR": f"{self.light_loss_factor:g}",
            "CUTOFF_LUX": f"{self.cutoff_lux:g}",
            "MAX_REACH_M": f"{self.max_reach_m:g}",
            "RESOLUTION_M": f"{self.resolution_m:g}",
            "DEFAULT_HEIGHT_M": f"{self.default_height_m:g}",
            "EFFICACY_LM_PER_W": ", ".join(f"{k}={v:g}" for k, v in self.efficacy_lm_per_w),
            "DEFAULT_FLUX_LM": ", ".join(f"{k}={v:g}" for k, v in self.default_flux_lm),
            "UNITS": "lux (lm/m2), horizontal illuminance at ground level",
        }


def intensity_cd(flux_lm, light_loss_factor: float) -> np.ndarray:
    """Luminous intensity (cd) of a lamp sending LLF × flux evenly into the lower hemisphere."""
    return light_loss_factor * np.asarray(flux_lm, dtype=np.float64) / (2.0 * math.pi)


def point_illuminance(intensity, height, distance) -> np.ndarray:
    """Horizontal illuminance (lx) at horizontal `distance` (m) from a lamp at `height` (m)."""
    h = np.asarray(height, dtype=np.float64)
    s = h * h + np.asarray(distance, dtype=np.float64) ** 2
    return np.asarray(intensity, dtype=np.float64) * h / (s * np.sqrt(s))


def reach_m(intensity, height, lux: float, max_reach_m: float = np.inf) -> np.ndarray:
    """Horizontal distance (m) within which a lamp alone gives at least `lux`.

    -1 when even the spot right under the lamp gets less (the lamp cannot reach `lux`).
    """
    i = np.asarray(intensity, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.cbrt((i * h / lux) ** 2) - h * h
    return np.where(r2 >= 0, np.minimum(np.sqrt(np.maximum(r2, 0.0)), max_reach_m), -1.0)


def lamp_photometry(lights: pd.DataFrame, model: LightModel) -> pd.DataFrame:
    """Flux, height, intensity, reach and lit state the model uses for each lamp.

    Columns: ``flux_model_lm``, ``flux_source`` (inventory | power | lamp_type_default),
    ``height_model_m``, ``intensity_cd``, ``reach_m`` (-1: contributes nothing anywhere)
    and ``lit`` (bool).
    """
    n = len(lights)
    lamp_type = lights["lamp_type"].astype("string").fillna("okand").to_numpy(dtype=object) if "lamp_type" in lights else np.full(n, "okand", object)
    flux = pd.to_numeric(lights.get("flux_lm", pd.Series(np.nan, index=lights.index)), errors="coerce").to_numpy(dtype=np.float64)
    power = pd.to_numeric(lights.get("power_w", pd.Series(np.nan, index=lights.index)), errors="coerce").to_numpy(dtype=np.float64)
    efficacy_by_type = dict(model.efficacy_lm_per_w)
    default_by_type = dict(model.default_flux_lm)
    efficacy = pd.Series(lamp_type).map(efficacy_by_type).fillna(efficacy_by_type.get("okand", np.nan)).to_numpy(dtype=np.float64)
    default_flux = pd.Series(lamp_type).map(default_by_type).fillna(default_by_type.get("okand", np.nan)).to_numpy(dtype=np.float64)

    has_flux = np.isfinite(flux) & (flux > 0)
    from_power = ~has_flux & np.isfinite(power) & (power > 0) & np.isfinite(efficacy)
    flux_model = np.where(has_flux, flux, np.where(from_power, power * efficacy, default_flux))
    flux_model = np.where(np.isfinite(flux_model), flux_model, 0.0)
    source = np.where(has_flux, "inventory", np.where(from_power, "power", "lamp_type_default"))

    height = pd.to_numeric(lights.get("pole_height_m", pd.Series(np.nan, index=lights.index)), errors="coerce").to_numpy(dtype=np.float64)
    height = np.where(np.isfinite(height) & (height > 0), height, model.default_height_m)
    intensity = intensity_cd(flux_model, model.light_loss_factor)
    return pd.DataFrame(
        {
            "flux_model_lm": flux_model,
            "flux_source": source,
            "height_model_m": height,
            "intensity_cd": intensity,
            "reach_m": reach_m(intensity, height, model.cutoff_lux, model.max_reach_m),
            "lit": lights["status"].isin(LIT_STATUSES).to_numpy(dtype=bool),
        },
        index=lights.index,
    )


# Grid ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: west and north edges (m), pixel size, size in pixels, tile size."""

    west: float
    north: float
    resolution: float
    width: int
    height: int
    tile_size: int = 512
    crs: str = "EPSG:3006"

    @classmethod
    def covering(cls, xmin: float, ymin: float, xmax: float, ymax: float, resolution: float,
                 tile_size: int = 512, crs: str = "EPSG:3006") -> Grid:
        """The smallest grid covering the box whose edges are whole multiples of the resolution,
        so that rasters of different builds (and their pixels) line up."""
        west = math.floor(xmin / resolution) * resolution
        south = math.floor(ymin / resolution) * resolution
        east = math.ceil(xmax / resolution) * resolution
        north = math.ceil(ymax / resolution) * resolution
        width = max(1, int(round((east - west) / resolution)))
        height = max(1, int(round((north - south) / resolution)))
        return cls(west, north, resolution, width, height, tile_size, crs)

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.west, 0.0, -self.resolution, self.north)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.west, self.north - self.height * self.resolution, self.west + self.width * self.resolution, self.north)

    @property
    def tiles_x(self) -> int:
        return -(-self.width // self.tile_size)

    @property
    def tiles_y(self) -> int:
        return -(-self.height // self.tile_size)

    def tile_shape(self, tile_row: int, tile_col: int) -> tuple[int, int]:
        t = self.tile_size
        return min(t, self.height - tile_row * t), min(t, self.width - tile_col * t)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of every column's centre and y of every row's centre."""
        x = self.west + (np.arange(self.width) + 0.5) * self.resolution
        y = self.north - (np.arange(self.height) + 0.5) * self.resolution
        return x, y

    def rowcol(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the pixel holding each point (may fall outside the grid)."""
        col = np.floor((np.asarray(x, dtype=np.float64) - self.west) / self.resolution).astype(np.int64)
        row = np.floor((self.north - np.asarray(y, dtype=np.float64)) / self.resolution).astype(np.int64)
        return row, col


# Rendering ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lamps:
    """The lamps of one rendering, as contiguous arrays (EPSG:3006 metres)."""

    x: np.ndarray
    y: np.ndarray
    height: np.ndarray
    intensity: np.ndarray
    reach: np.ndarray
    lit: np.ndarray

    @classmethod
    def from_photometry(cls, x, y, photometry: pd.DataFrame) -> Lamps:
        keep = photometry["reach_m"].to_numpy() >= 0
        f64 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float64)[keep])  # noqa: E731
        return cls(f64(x), f64(y), f64(photometry["height_model_m"]), f64(photometry["intensity_cd"]),
                   f64(photometry["reach_m"]), np.ascontiguousarray(photometry["lit"].to_numpy(dtype=bool)[keep]))

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class TileAssignment:
    """Which lamps touch which tile: tiles in row-major order, lamps of tile k in
    ``lamp_index[starts[k]:starts[k + 1]]``."""

    tile_row: np.ndarray
    tile_col: np.ndarray
    starts: np.ndarray
    lamp_index: np.ndarray

    def __len__(self) -> int:
        return len(self.tile_row)


def assign_lamps_to_tiles(lamps: Lamps, grid: Grid) -> TileAssignment:
    """Every (tile, lamp) pair where the lamp's reach may cover a pixel centre of the tile.

    The pixel range of each lamp is taken one pixel wider than its reach, so no pixel is missed;
    the kernel itself tests the exact distance.
    """
    res, t = grid.resolution, grid.tile_size
    c_lo = np.floor((lamps.x - lamps.reach - grid.west) / res - 0.5).astype(np.int64)
    c_hi = np.ceil((lamps.x + lamps.reach - grid.west) / res - 0.5).astype(np.int64)
    r_lo = np.floor((grid.north - lamps.y - lamps.reach) / res - 0.5).astype(np.int64)
    r_hi = np.ceil((grid.north - lamps.y + lamps.reach) / res - 0.5).astype(np.int64)
    c_lo, r_lo = np.maximum(c_lo, 0), np.maximum(r_lo, 0)
    c_hi, r_hi = np.minimum(c_hi, grid.width - 1), np.minimum(r_hi, grid.height - 1)
    inside = np.flatnonzero((c_lo <= c_hi) & (r_lo <= r_hi))
    tx0, tx1 = c_lo[inside] // t, c_hi[inside] // t
    ty0, ty1 = r_lo[inside] // t, r_hi[inside] // t
    ntx, nty = tx1 - tx0 + 1, ty1 - ty0 + 1
    counts = ntx * nty
    lamp = np.repeat(inside, counts)
    local = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    rep_ntx = np.repeat(ntx, counts)
    key = (np.repeat(ty0, counts) + local // rep_ntx) * grid.tiles_x + np.repeat(tx0, counts) + local % rep_ntx
    # Within a tile, lamps from north to south: consecutive lamps then touch the same rows,
    # which stay in cache.
    order = np.lexsort((-lamps.y[lamp], key))
    key, lamp = key[order], lamp[order]
    tiles, first = np.unique(key, return_index=True)
    starts = np.append(first, len(key)).astype(np.int64)
    return TileAssignment((tiles // grid.tiles_x).astype(np.int64), (tiles % grid.tiles_x).astype(np.int64), starts,
                          lamp.astype(np.int64))


@numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _stamp(tile_row, tile_col, starts, lamp_index, x, y, h2, ih, lit, s_max, west, north, res, tile, width, height,
           out, updates):  # pragma: no cover - compiled
    """Sum every lamp's kernel into its tiles: out[k, 0] current, out[k, 1] repaired.

    Per row, the columns inside the lamp's reach are found in float64 (so the cut-off is
    exact); the inner loop then has no test and runs in float32, the rasters' type, on twice
    the SIMD lanes of float64. error_model="numpy" drops Python's zero-division check, which
    would stop the inner loop from vectorising (s >= h² > 0 anyway).
    """
    for k in numba.prange(tile_row.shape[0]):
        r0 = tile_row[k] * tile
        c0 = tile_col[k] * tile
        nr = min(tile, height - r0)
        nc = min(tile, width - c0)
        cur = out[k, 0]
        rep = out[k, 1]
        n_up = 0
        for p in range(starts[k], starts[k + 1]):
            i = lamp_index[p]
            smax = s_max[i]
            reach2 = smax - h2[i]
            reach_px = math.sqrt(reach2) / res
            f_ih = np.float32(ih[i])
            f_lit = np.float32(lit[i])
            # The lamp in pixel units of this tile, pixel centres at whole numbers: the centre of
            # pixel (r, c) lies (c - px, r - py) pixels from the lamp.
            px = (x[i] - west) / res - c0 - 0.5
            py = (north - y[i]) / res - r0 - 0.5
            ra = max(0, int(math.floor(py - reach_px)))
            rb = min(nr - 1, int(math.ceil(py + reach_px)))
            for r in range(ra, rb + 1):
                dy = (r - py) * res
                rem = reach2 - dy * dy
                if rem < 0.0:
                    continue
                # The columns whose centres lie inside the reach: from the chord, then corrected
                # with the exact test in float64, so the inner loop needs no test at all.
                base = h2[i] + dy * dy
                half_px = math.sqrt(rem) / res
                ca = max(0, int(math.ceil(px - half_px)))
                cb = min(nc - 1, int(math.floor(px + half_px)))
                while ca <= cb and base + ((ca - px) * res) ** 2 > smax:
                    ca += 1
                while ca > 0 and base + ((ca - 1 - px) * res) ** 2 <= smax:
                    ca -= 1
                while cb >= ca and base + ((cb - px) * res) ** 2 > smax:
                    cb -= 1
                while cb < nc - 1 and base + ((cb + 1 - px) * res) ** 2 <= smax:
                    cb += 1
                if cb < ca:
                    continue
                n_up += cb - ca + 1
                # dx from the row's first column on: float32 keeps it to ~1e-5 m (under 1e-4 lx).
                f_base = np.float32(base)
                f_start = np.float32((ca - px) * res)
                f_res = np.float32(res)
                row_cur = cur[r, ca:cb + 1]
                row_rep = rep[r, ca:cb + 1]
                for j in range(cb - ca + 1):
                    dx = f_start + np.float32(j) * f_res
                    fs = f_base + dx * dx
                    v = f_ih / (fs * np.sqrt(fs))
                    row_rep[j] += v
                    row_cur[j] += v * f_lit
        updates[k] = n_up


@dataclass
class RenderedTile:
    """One tile of both rasters (nodata where no lamp reaches), with its place in the grid."""

    tile_row: int
    tile_col: int
    current: np.ndarray
    repaired: np.ndarray


@dataclass
class RenderStats:
    """What a rendering did: tiles computed and holding data, lamp-pixel updates (pixel centres
    inside a lamp's reach, each adding to both rasters), and the kernel's wall and CPU time
    (CPU summed over its threads, so updates / CPU second is the rate per core)."""

    tiles: int = 0
    tiles_written: int = 0
    lamp_pixel_updates: int = 0
    kernel_seconds: float = 0.0
    kernel_cpu_seconds: float = 0.0


def render_tiles(lamps: Lamps, grid: Grid, nodata: float, batch_tiles: int = 32,
                 stats: RenderStats | None = None) -> Iterator[RenderedTile]:
    """Yield the tiles of both rasters that some lamp reaches, in row-major order.

    Memory: one batch (`batch_tiles` × 2 × tile² float32) at a time.
    """
    stats = stats if stats is not None else RenderStats()
    assignment = assign_lamps_to_tiles(lamps, grid)
    stats.tiles += len(assignment)
    h2 = lamps.height * lamps.height
    ih = lamps.intensity * lamps.height
    lit = lamps.lit.astype(np.float64)
    # s = h² + d² at the reach: the kernel keeps a pixel when its s is at most this.
    s_max = h2 + lamps.reach * lamps.reach
    t = grid.tile_size
    # One buffer for every batch: fresh pages would be faulted in, and zeroed, inside the kernel.
    buffer = np.empty((min(batch_tiles, len(assignment)), 2, t, t), dtype=np.float32)
    for lo in range(0, len(assignment), batch_tiles):
        hi = min(lo + batch_tiles, len(assignment))
        out = buffer[: hi - lo]
        out.fill(0.0)
        updates = np.zeros(hi - lo, dtype=np.int64)
        started, started_cpu = time.perf_counter(), time.process_time()
        _stamp(assignment.tile_row[lo:hi], assignment.tile_col[lo:hi], assignment.starts[lo:hi + 1],
               assignment.lamp_index, lamps.x, lamps.y, h2, ih, lit, s_max,
               float(grid.west), float(grid.north), float(grid.resolution), t, grid.width, grid.height, out, updates)
        stats.kernel_seconds += time.perf_counter() - started
        stats.kernel_cpu_seconds += time.process_time() - started_cpu
        stats.lamp_pixel_updates += int(updates.sum())
        for k in range(hi - lo):
            row, col = int(assignment.tile_row[lo + k]), int(assignment.tile_col[lo + k])
            nr, nc = grid.tile_shape(row, col)
            current, repaired = out[k, 0, :nr, :nc], out[k, 1, :nr, :nc]
            covered = repaired > 0
            if not covered.any():
                continue
            stats.tiles_written += 1
            yield RenderedTile(row, col, np.where(covered, current, np.float32(nodata)),
                               np.where(covered, repaired, np.float32(nodata)))
