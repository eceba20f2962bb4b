"""Boxes given in a request CRS, as exact areas in CRS84 (our storage CRS).

A rectangle in SWEREF 99 TM is not a rectangle in longitude/latitude: near Sunne the
grid is turned ~1.6° from the meridians. pygeoapi 0.24 transforms a `bbox-crs` box by
its two corners only (and a CQL2 `BBOX()` under `filter-crs` not at all), which clips
or widens a 2 km box by strips up to ~55 m wide. Here the box's edges are traced
densely and transformed, so "inside the box" means what the client asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyproj
import shapely
from pygeoapi.crs import DEFAULT_CRS, get_crs

#: Vertices per box edge; the error of a straight segment between them is < 1 mm.
EDGE_VERTICES = 64


def bbox_polygon(bbox: Sequence[float]) -> shapely.Polygon:
    """A 2D box from a 4- or 6-number bbox (heights are ignored: data are 2D)."""
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    if len(bbox) != 4:
        raise ValueError("a bbox has 4 numbers (or 6 with heights)")
    return shapely.box(*bbox)


def box_in_crs84(bbox: Sequence[float], crs_uri: str | None) -> shapely.Geometry:
    """The area of `bbox` given in `crs_uri` (numbers in that CRS's axis order, so
    northing first for EPSG:3006), as a polygon in CRS84 lon/lat."""
    box = bbox_polygon(bbox)
    if not crs_uri or crs_uri == DEFAULT_CRS:
        return box
    minx, miny, maxx, maxy = box.bounds
    step = max(maxx - minx, maxy - miny) / EDGE_VERTICES or 1.0
    transform = _to_crs84(crs_uri)
    return shapely.transform(
        shapely.segmentize(box, step),
        lambda xy: np.column_stack(transform.transform(xy[:, 0], xy[:, 1])),
    )


@lru_cache(maxsize=16)
def _to_crs84(crs_uri: str) -> pyproj.Transformer:
    # Authority axis order on both sides: the request's numbers are in the CRS's own
    # order, and CRS84 is lon/lat by definition.
    return pyproj.Transformer.from_crs(get_crs(crs_uri), get_crs(DEFAULT_CRS))
