"""Product 3: lamps-out — every lamp out or faulty, ranked, with the reason in words.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely

from estgeo.layers.disclosure import Disclosure
from estgeo.layers.illuminance import (
    reach_m,
)
from estgeo.layers.lighting.counts import AreaCounts, count_near, safe_value
from estgeo.layers.lighting.inputs import Evidence
from estgeo.layers.lighting.rasters import LightRasters
from estgeo.layers.street_lights import days_since


def work_list_reach(photometry: pd.DataFrame, opts: dict[str, Any]) -> np.ndarray:
    """Radius (m) a lamp answers for: where it alone would give at least `reach_lux`
    (default: the dark threshold), kept between `min_reach_m` (incident positions are
    approximate) and `max_reach_m`."""
    w = opts["work_list"]
    lux = float(w["reach_lux"] if w["reach_lux"] is not None else opts["dark_threshold_lux"])
    r = reach_m(photometry["intensity_cd"].to_numpy(), photometry["height_model_m"].to_numpy(), lux)
    return np.clip(r, float(w["min_reach_m"]), float(w["max_reach_m"]))


def lamps_out_list(
    lights: pd.DataFrame,
    photometry: pd.DataFrame,
    evidence: Evidence,
    gaps: gpd.GeoDataFrame,
    rasters: LightRasters | None,
    opts: dict[str, Any],
    disclosure: Disclosure,
    as_of,
    counts: AreaCounts,
) -> gpd.GeoDataFrame:
    """Every lamp out or faulty, ranked; `rank_reason` says why in Swedish, `rank_reason_en` in English."""
    out = ~photometry["lit"].to_numpy(dtype=bool)
    lamps = lights[out].reset_index(drop=True)
    ph = photometry[out].reset_index(drop=True)
    points = shapely.points(lamps[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2))
    reach = work_list_reach(ph, opts) if len(lamps) else np.zeros(0)
    threshold = float(opts["dark_threshold_lux"])
    reports, _ = count_near(evidence.open_report_xy, points, reach)
    neighbours = (
        count_near(
            lamps[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2), points, float(opts["work_list"]["neighbour_radius_m"])
        )[0]
        - 1
    )
    dark_pub, dark_hidden = counts.dark(points, np.round(reach, 1), evidence.dark_unlit_xy(threshold), evidence.dark_unlit_keys(threshold))
    w = opts["work_list"]["weights"]
    unlit = np.ones(len(lamps))
    if counts.density is not None and rasters is not None and len(lamps):
        # The cells' darkness counts include incidents where other lamps light the street;
        # weighted by the share of the reach that is dark now (the public modelled light),
        # a lamp counts the darkness it leaves as before, from public numbers only.
        unlit = unlit_share(rasters.current, lamps[["x", "y"]].to_numpy(dtype=np.float64), reach, threshold)
    score = float(w["dark_incident"]) * safe_value(disclosure, dark_pub) * unlit + float(w["lighting_report"]) * reports

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
    reasons_sv, reasons_en = _reasons(
        dark_pub.to_numpy(dtype=np.int64, na_value=0),
        dark_hidden,
        reports,
        neighbours,
        reach,
        gap_id,
        disclosure.min_count,
        float(opts["work_list"]["neighbour_radius_m"]),
        float(opts["dark_threshold_lux"]),
        counts.density is not None,
    )
    frame = gpd.GeoDataFrame(
        {
            "id": lamps["id"].astype(str).to_numpy(),
            "rank": rank,
            "status": lamps["status"].astype(str).to_numpy(),
            "lamp_type": lamps["lamp_type"].astype("string").to_numpy(dtype=object, na_value=None),
            "owner": lamps["owner"].astype("string").to_numpy(dtype=object, na_value=None) if "owner" in lamps else None,
            "height_model_m": ph["height_model_m"].to_numpy(),
            "flux_model_lm": np.round(ph["flux_model_lm"].to_numpy(), 0),
            "flux_source": ph["flux_source"].to_numpy(),
            "reach_m": np.round(reach, 1),
            "unlit_share": np.round(unlit, 3),
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
        },
        geometry=points,
        crs="EPSG:3006",
    )
    return frame.iloc[order].reset_index(drop=True)


def unlit_share(raster: Path, xy: np.ndarray, reach: np.ndarray, threshold: float, steps: int = 7) -> np.ndarray:
    """Share of each lamp's reach darker than `threshold` now: the modelled light sampled
    on a grid of points inside the circle (37 with 7 steps; outside the raster counts as
    dark, as the model has no light there)."""
    g = np.linspace(-1.0, 1.0, steps)
    dx, dy = np.meshgrid(g, g)
    inside = dx**2 + dy**2 <= 1.0
    offsets = np.column_stack([dx[inside], dy[inside]])
    points = xy[:, None, :] + offsets[None, :, :] * np.asarray(reach, dtype=np.float64)[:, None, None]
    lux = _sample(raster, [tuple(p) for p in points.reshape(-1, 2)]).reshape(len(xy), -1)
    return np.round(np.where(np.isnan(lux), True, lux < threshold).mean(axis=1), 3)


def _sample(path: Path, xy: list[tuple[float, float]]) -> np.ndarray:
    with rasterio.open(path) as src:
        values = np.array([v[0] for v in src.sample(xy, masked=False)], dtype=np.float64)
        return np.where(values == src.nodata, np.nan, values)


def _reasons(dark_n, dark_hidden, reports, neighbours, reach, gap_id, min_count: int, neighbour_radius: float, threshold: float,
             from_cells: bool = False):
    """Why each lamp ranks where it does, in Swedish and in English. `from_cells`: the
    darkness counts are the density's cells within reach (`AreaCounts`), not the
    incidents where it is now dark."""
    sv, en = [], []
    lux = f"{threshold:g}"
    for n, hidden, rep, nb, r, gap in zip(dark_n, dark_hidden, reports, neighbours, reach, gap_id, strict=True):
        if hidden and from_cells:
            dark_sv, dark_en = "händelser i mörker (ej visat: ett litet tal i en cell)", "incidents in darkness (not shown: a small count in a cell)"
        elif hidden:
            dark_sv, dark_en = f"färre än {min_count} händelser i mörker", f"fewer than {min_count} incidents in darkness"
        else:
            dark_sv, dark_en = f"{n} händelser i mörker", f"{n} incident{'s' if n != 1 else ''} in darkness"
        if from_cells:
            parts_sv = [f"{dark_sv} i H3-cellerna inom {r:.0f} m och {rep} belysningsklagomål inom {r:.0f} m"]
            parts_en = [f"{dark_en} in the H3 cells within {r:.0f} m and {rep} lighting report{'s' if rep != 1 else ''} within {r:.0f} m"]
        else:
            parts_sv = [f"{dark_sv} där det nu är mörkare än {lux.replace('.', ',')} lux och {rep} belysningsklagomål inom {r:.0f} m"]
            parts_en = [
                f"{dark_en} where it is now darker than {lux} lux and {rep} lighting report{'s' if rep != 1 else ''} within {r:.0f} m"
            ]
        if nb > 0:
            parts_sv.append(f"{nb} andra lampor släckta eller trasiga inom {neighbour_radius:.0f} m")
            parts_en.append(f"{nb} other lamp{'s' if nb != 1 else ''} out or faulty within {neighbour_radius:.0f} m")
        if gap is not None:
            parts_sv.append(f"vid mörk lucka {gap}")
            parts_en.append(f"at dark gap {gap}")
        sv.append("; ".join(parts_sv))
        en.append("; ".join(parts_en))
    return np.array(sv, dtype=object), np.array(en, dtype=object)
