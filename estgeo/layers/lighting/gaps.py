"""Product 2: dark-gaps — dark street pieces with incidents in darkness or open lighting reports near.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from estgeo.layers.disclosure import Disclosure
from estgeo.layers.lighting.counts import AreaCounts, count_near, safe_value
from estgeo.layers.lighting.inputs import Evidence
from estgeo.layers.lighting.tiles import GapPiece


def dark_gaps(
    pieces: list[GapPiece],
    evidence: Evidence,
    out_lamps: gpd.GeoDataFrame,
    streets: gpd.GeoSeries | None,
    opts: dict[str, Any],
    disclosure: Disclosure,
    resolution: float,
    counts: AreaCounts,
) -> gpd.GeoDataFrame:
    """Merge the tile pieces into gaps, count the evidence around them and rank them."""
    gcfg, wcfg = opts["gaps"], opts["work_list"]
    columns = [
        "id",
        "rank",
        "area_m2",
        "street_length_m",
        "lux_mean",
        "lux_max",
        "lux_mean_repaired",
        "repair_fixes_share",
        "cause",
        "lamps_out",
        "lamps_out_ids",
        "dark_incidents",
        "lighting_reports",
        "score",
        "suppressed",
    ]
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
    dark_pub, dark_hidden = counts.dark(merged, radius, evidence.dark_xy, evidence.dark_keys)
    reports, _ = count_near(evidence.open_report_xy, merged, radius)
    weights = wcfg["weights"]
    score = (
        float(weights["dark_incident"]) * safe_value(disclosure, dark_pub) + float(weights["lighting_report"]) * reports
    )

    # Lamps out whose reach (as in the work list) touches the gap.
    lamp_pairs = (
        shapely.STRtree(merged).query(
            out_lamps.geometry.to_numpy(), predicate="dwithin", distance=out_lamps["reach_m"].to_numpy()
        )
        if len(out_lamps)
        else np.zeros((2, 0), int)
    )
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
    frame = gpd.GeoDataFrame(
        {
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
        },
        geometry=merged,
        crs="EPSG:3006",
    )
    return frame.iloc[order].reset_index(drop=True)
