"""Counts as the lighting collections publish them: through the build's `Disclosure`
(`estgeo.layers.disclosure`: perturbed by cell key, or small ones withheld), and scores
on the published values only.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from estgeo.layers import cellsums
from estgeo.layers.disclosure import Disclosure, key_sums


def published_count(disclosure: Disclosure, values: np.ndarray, cell_keys: np.ndarray | None,
                    also_hidden: np.ndarray | None = None) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
    """Counts as published (nullable Int64) and the mask of withheld ones."""
    return disclosure.publish(np.asarray(values, dtype=np.int64), cell_keys, also_hidden)


def safe_value(disclosure: Disclosure, published: pd.arrays.IntegerArray) -> np.ndarray:
    """What scores use for a count: the published value (a stand-in where it is withheld)."""
    return disclosure.score_value(published)


def count_near(points_xy: np.ndarray, geoms: np.ndarray, distance, keys: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """How many points lie within `distance` (scalar or one per geometry) of each geometry,
    and, with the points' record `keys`, the cell key of each of those counts."""
    if len(points_xy) == 0 or len(geoms) == 0:
        return np.zeros(len(geoms), dtype=np.int64), key_sums(np.zeros(0, dtype=np.int64), keys, len(geoms))
    tree = shapely.STRtree(shapely.points(points_xy))
    pairs = tree.query(geoms, predicate="dwithin", distance=distance)
    counts = np.bincount(pairs[0], minlength=len(geoms)).astype(np.int64)
    return counts, key_sums(pairs[0], None if keys is None else keys[pairs[1]], len(geoms))


@dataclass
class AreaCounts:
    """How dark-gaps and lamps-out count the incidents in darkness around an area: the
    density's published darkness counts of the cells the area touches
    (`estgeo.layers.cellsums`, which says why), or — in a build without the density
    layer, where there is nothing to difference against — the incidents within reach,
    through the disclosure."""

    disclosure: Disclosure
    density: pd.DataFrame | None
    res: int
    columns: list[str]

    def dark(self, geoms: np.ndarray, distance, xy: np.ndarray, keys: np.ndarray | None
             ) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
        if self.density is None:
            n, k = count_near(xy, geoms, distance, keys)
            return published_count(self.disclosure, n, k)
        pairs = cellsums.touched_cells(cellsums.as_published(geoms), distance, self.res)
        return cellsums.published_sums(pairs, len(geoms), self.density, self.columns)
