"""Product 4: lighting-insecurity — per H3 cell light, lamps, darkness counts and a composite index.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd

from estgeo.layers.context import BuildContext
from estgeo.layers.density import cell_polygons
from estgeo.layers.disclosure import Disclosure, key_sums
from estgeo.layers.lighting.counts import published_count, safe_value
from estgeo.layers.lighting.inputs import Evidence
from estgeo.layers.lighting.params import TO_WGS84


def h3_cells(x: np.ndarray, y: np.ndarray, res: int, finest: int | None = None) -> np.ndarray:
    """H3 cell (uint64) at `res` of each EPSG:3006 point.

    Like the incident-density layer, a point is indexed at the `finest` resolution and then
    takes that cell's parent (H3 children do not tile their parent exactly, so this can differ
    from indexing at `res` directly near cell edges); the two layers then count the same
    incidents in the same cells. h3-py has no array API: one call per point.
    """
    finest = max(res, finest or res)
    lon, lat = TO_WGS84.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    to_cell = h3i.latlng_to_cell
    cells = np.fromiter(
        (to_cell(a, b, finest) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)), dtype=np.uint64, count=len(lat)
    )
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


def lighting_insecurity(
    ctx: BuildContext,
    street_px: pd.DataFrame,
    lights: pd.DataFrame,
    photometry: pd.DataFrame,
    evidence: Evidence,
    opts: dict[str, Any],
    disclosure: Disclosure,
    res: int,
    resolution: float,
    cross_check_density: bool,
) -> gpd.GeoDataFrame:
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
        bbox = (
            (xy[:, 0] >= lights["x"].min() - 2000)
            & (xy[:, 0] <= lights["x"].max() + 2000)
            & (xy[:, 1] >= lights["y"].min() - 2000)
            & (xy[:, 1] <= lights["y"].max() + 2000)
        )
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
    inc_keys = evidence.incident_key
    dark_keys = key_sums(inc_k[(inc_k >= 0) & evidence.incident_dark], None if inc_keys is None else inc_keys[(inc_k >= 0) & evidence.incident_dark], n)
    known_keys = key_sums(inc_k[(inc_k >= 0) & evidence.incident_known], None if inc_keys is None else inc_keys[(inc_k >= 0) & evidence.incident_known], n)
    dark_pub, dark_hidden = published_count(disclosure, dark_n, dark_keys, dens_dark)
    known_pub, known_hidden = published_count(disclosure, known_n, known_keys, dens_known)
    # The share from the published counts: from the true ones it would be a count in disguise.
    dark_v = dark_pub.to_numpy(dtype=np.float64, na_value=np.nan)
    known_v = known_pub.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(known_v > 0, np.minimum(dark_v / np.maximum(known_v, 1), 1.0), np.nan)
    share_hidden = dark_hidden | known_hidden
    dark_share = pd.array(np.round(share, 3), dtype="Float64")
    dark_share[share_hidden | np.isnan(share)] = pd.NA

    icfg = opts["index"]
    dark_safe = safe_value(disclosure, dark_pub)
    min_count = disclosure.min_count
    ref = icfg["incidents_ref"]
    if ref is None:
        positive = dark_safe[dark_safe > 0]
        ref = max(
            float(np.percentile(positive, float(icfg["incidents_ref_percentile"]))) if positive.size else 1.0, float(min_count)
        )
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

    frame = gpd.GeoDataFrame(
        {
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
        },
        geometry=cell_polygons(cells),
        crs="OGC:CRS84",
    )
    return frame.iloc[order].reset_index(drop=True)
