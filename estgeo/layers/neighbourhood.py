"""Context around points: nearest lamp, lamps within a radius, incidents nearby.

Shared by the unsafe-places and lighting builders. All queries go through a k-d tree
(scipy's cKDTree) on EPSG:3006 metres, on whole arrays: no Python loop over places.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree

from estgeo.layers.sun import LIGHT_CONDITIONS, light_condition

_TO_WGS84 = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)


def nearest_distance(px: np.ndarray, py: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Distance in metres from each point to the nearest target (NaN when there is none)."""
    if len(tx) == 0:
        return np.full(len(px), np.nan)
    distance, _ = cKDTree(np.column_stack([tx, ty])).query(np.column_stack([px, py]), k=1)
    return distance


def count_within(px: np.ndarray, py: np.ndarray, tx: np.ndarray, ty: np.ndarray, radius: float,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Number of targets (or the sum of their weights) within `radius` metres of each point."""
    if len(tx) == 0 or len(px) == 0:
        return np.zeros(len(px), dtype=np.int64 if weights is None else np.float64)
    targets = cKDTree(np.column_stack([tx, ty]))
    if weights is None:
        return np.asarray(targets.query_ball_point(np.column_stack([px, py]), r=radius, return_length=True), dtype=np.int64)
    # Weighted: pairs from a sparse distance matrix, summed per point.
    points = cKDTree(np.column_stack([px, py]))
    pairs = points.sparse_distance_matrix(targets, radius, output_type="coo_matrix")
    return np.bincount(pairs.row, weights=np.asarray(weights, dtype=np.float64)[pairs.col], minlength=len(px))


def count_within_keyed(px: np.ndarray, py: np.ndarray, tx: np.ndarray, ty: np.ndarray, radius: float,
                       keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`count_within`, and the cell key of each count: the sum of the record `keys` of the
    targets counted, modulo 2³² (`estgeo.audit.cellkey`)."""
    from estgeo.audit.cellkey import key_sums

    if len(tx) == 0 or len(px) == 0:
        return np.zeros(len(px), dtype=np.int64), np.zeros(len(px), dtype=np.uint32)
    targets = cKDTree(np.column_stack([tx, ty]))
    points = cKDTree(np.column_stack([px, py]))
    pairs = points.sparse_distance_matrix(targets, radius, output_type="coo_matrix")
    # sparse_distance_matrix leaves out pairs at distance 0; count them like query_ball_point does.
    same = points.query_ball_tree(targets, r=0.0)
    rows = np.concatenate([pairs.row, np.repeat(np.arange(len(px)), [len(s) for s in same])]).astype(np.int64)
    cols = np.concatenate([pairs.col, np.fromiter((j for s in same for j in s), dtype=np.int64)]).astype(np.int64)
    return np.bincount(rows, minlength=len(px)).astype(np.int64), key_sums(rows, np.asarray(keys)[cols], len(px))


def incident_light_conditions(incidents: pd.DataFrame, max_window_s: float = 7200.0) -> np.ndarray:
    """Light condition name (daylight/twilight/darkness/unknown) of each incident."""
    if incidents.empty:
        return np.array([], dtype=object)
    lon, lat = _TO_WGS84.transform(incidents["x"].to_numpy(), incidents["y"].to_numpy())
    start = incidents["occurred_from"].dt.tz_convert("UTC").dt.as_unit("s").astype("int64").to_numpy()
    end = incidents["occurred_to"].dt.tz_convert("UTC").dt.as_unit("s").astype("int64").to_numpy()
    return np.asarray(LIGHT_CONDITIONS, dtype=object)[light_condition(start, end, lat, lon, max_window_s)]
