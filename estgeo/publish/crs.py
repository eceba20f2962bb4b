"""Boxes given in a request CRS, as exact areas in CRS84 (our storage CRS).

A rectangle in SWEREF 99 TM is not a rectangle in longitude/latitude: near Sunne the
grid is turned ~1.6° from the meridians. pygeoapi 0.24 transforms a `bbox-crs` box by
its two corners only (and a CQL2 `BBOX()` under `filter-crs` not at all), which clips
or widens a 2 km box by strips up to ~55 m wide. Here the box's edges are traced
densely and transformed, so "inside the box" means what the client asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pyproj
import shapely
from pygeoapi.crs import DEFAULT_CRS, get_crs

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG_3006 = "http://www.opengis.net/def/crs/EPSG/0/3006"
EPSG_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
#: Output and bbox CRSs offered for every collection: CRS84 first (the default),
#: SWEREF 99 TM for municipal GIS, WGS 84 lat/lon and Web Mercator for generic clients.
SUPPORTED_CRS = [CRS84_URI, EPSG_3006, EPSG_4326, EPSG_3857]

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
    transform = _to_crs84(crs_uri)
    if minx == maxx or miny == maxy:  # a line or a point: its two ends are exact
        ends = np.column_stack(transform.transform([minx, maxx], [miny, maxy]))
        return shapely.multipoints(ends) if minx == maxx and miny == maxy else shapely.linestrings(ends)
    step = max(maxx - minx, maxy - miny) / EDGE_VERTICES
    return shapely.transform(
        shapely.segmentize(box, step),
        lambda xy: np.column_stack(transform.transform(xy[:, 0], xy[:, 1])),
    )


@lru_cache(maxsize=16)
def _to_crs84(crs_uri: str) -> pyproj.Transformer:
    # Authority axis order on both sides: the request's numbers are in the CRS's own
    # order, and CRS84 is lon/lat by definition.
    return pyproj.Transformer.from_crs(get_crs(crs_uri), get_crs(DEFAULT_CRS))


@lru_cache(maxsize=32)
def _bbox_transformer(from_uri: str, to_uri: str) -> tuple[pyproj.Transformer, bool]:
    to_crs = get_crs(to_uri)
    return pyproj.Transformer.from_crs(get_crs(from_uri), to_crs), to_crs.to_epsg() == 3857


def transform_bbox(bbox: list[float], from_crs: str, to_crs: str, always_xy: bool = False) -> list[float]:
    """pygeoapi's `transform_bbox`, without its cost on every request.

    pygeoapi 0.24 calls it for every `bbox=` request, even from CRS84 to CRS84, and each
    call builds a transformer and asks pyproj for the target's EPSG code — a database
    search taking ~30 ms for CRS84, which has none. Same CRS: the box as it is; otherwise
    the same corner transformation with the transformer made once per CRS pair. (Our
    provider then uses the exact area from the request: `box_in_crs84`.)
    """
    if str(from_crs) == str(to_crs) or always_xy:
        if str(from_crs) == str(to_crs):
            return list(bbox)
        from pygeoapi.crs import transform_bbox as pygeoapi_transform_bbox

        return pygeoapi_transform_bbox(bbox, from_crs, to_crs, always_xy)
    transformer, web_mercator = _bbox_transformer(str(from_crs), str(to_crs))
    if web_mercator:
        bbox = [bbox[0], max(-85.0511, bbox[1]), bbox[2], min(85.0511, bbox[3])]
    n_dims = len(bbox) // 2
    return list(transformer.transform(*bbox[:n_dims]) + transformer.transform(*bbox[n_dims:]))  # type: ignore[call-overload]


# CRS shorthands ---------------------------------------------------------------------------
#: pygeoapi accepts `crs`, `bbox-crs` and `filter-crs` only as the exact URIs listed for
#: the collection, so `crs=EPSG:3006` — what people type, and what OGC allows as a CURIE —
#: would be a 400. Such values are rewritten to the URI first.
CRS_PARAMETERS = ("crs", "bbox-crs", "filter-crs")
_EPSG = re.compile(r"^\[?(?:EPSG:|urn:ogc:def:crs:EPSG:[^:]*:)(\d+)\]?$", re.IGNORECASE)
_CRS84 = re.compile(r"^\[?(?:OGC:|CRS:|urn:ogc:def:crs:OGC:[^:]*:)?CRS ?84\]?$", re.IGNORECASE)


def crs_uri(value: str) -> str:
    """`EPSG:3006`, `[EPSG:3006]`, `urn:ogc:def:crs:EPSG::3006` → the OGC URI; `CRS84`
    and its spellings → the CRS84 URI; anything else unchanged."""
    value = value.strip()
    epsg = _EPSG.match(value)
    if epsg:
        return f"http://www.opengis.net/def/crs/EPSG/0/{epsg.group(1)}"
    if _CRS84.match(value):
        return "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    return value


def normalise_crs_parameters(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware rewriting CRS shorthands in the query string to URIs."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if any(f"{name}=" in query for name in CRS_PARAMETERS):
            pairs = parse_qsl(query, keep_blank_values=True)
            pairs = [(k, crs_uri(v) if k in CRS_PARAMETERS else v) for k, v in pairs]
            environ["QUERY_STRING"] = urlencode(pairs, safe=",:/")
        return app(environ, start_response)

    return wrapped
