"""Counts as the lighting collections publish them: small ones withheld, scores on stand-ins.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from estgeo.layers import privacy


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


def count_near(points_xy: np.ndarray, geoms: np.ndarray, distance) -> np.ndarray:
    """How many points lie within `distance` (scalar or one per geometry) of each geometry."""
    if len(points_xy) == 0 or len(geoms) == 0:
        return np.zeros(len(geoms), dtype=np.int64)
    tree = shapely.STRtree(shapely.points(points_xy))
    pairs = tree.query(geoms, predicate="dwithin", distance=distance)
    return np.bincount(pairs[0], minlength=len(geoms)).astype(np.int64)
