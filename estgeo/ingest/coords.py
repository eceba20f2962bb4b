"""Coordinates: detect the reference system and axis order, reproject to EPSG:3006.

Swedish exports come in SWEREF 99 TM (EPSG:3006), WGS 84 (EPSG:4326) or the old RT90
2.5 gon V (EPSG:3021), with X meaning northing in the surveying convention and easting
everywhere else. Within Sweden the three systems never overlap, and in each of them the
northing (or latitude) is the larger of the two numbers, so both the system and the axis
order can be told from the values of each row alone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from estgeo.ingest.problems import Problems

#: Plausible ranges for Sweden, as (easting/longitude range, northing/latitude range).
SWEDISH_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "EPSG:4326": ((10.0, 24.5), (55.0, 69.5)),
    "EPSG:3006": ((180_000.0, 1_085_000.0), (6_100_000.0, 7_700_000.0)),
    "EPSG:3021": ((1_200_000.0, 1_900_000.0), (6_100_000.0, 7_700_000.0)),
}


@lru_cache(maxsize=16)
def _to_storage(crs: str, storage: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(crs), CRS.from_user_input(storage), always_xy=True)


def detect_crs(east: np.ndarray, north: np.ndarray) -> np.ndarray:
    """The Swedish CRS each (easting, northing) pair fits, or '' when none does."""
    out = np.full(len(east), "", dtype=object)
    for code, ((emin, emax), (nmin, nmax)) in SWEDISH_RANGES.items():
        fits = (east >= emin) & (east <= emax) & (north >= nmin) & (north <= nmax) & (out == "")
        out[fits] = code
    return out


def to_storage_crs(
    a: pd.Series,
    b: pd.Series,
    declared_crs: str | None,
    storage_crs: str,
    problems: Problems,
    field_a: str = "x",
    field_b: str = "y",
) -> tuple[np.ndarray, np.ndarray]:
    """Reproject two coordinate columns of unknown order to the storage CRS.

    With a declared CRS, only the axis order is detected (larger value = northing); the
    values must still be plausible for Sweden in that CRS, which catches a wrong
    declaration. Without one, each row's CRS is detected from its values.
    """
    a = a.astype("float64").to_numpy()
    b = b.astype("float64").to_numpy()
    east = np.fmin(a, b)
    north = np.fmax(a, b)
    detected = detect_crs(east, north)
    missing = np.isnan(a) | np.isnan(b)
    if declared_crs:
        declared = CRS.from_user_input(declared_crs).to_string()
        if declared in SWEDISH_RANGES:
            wrong = ~missing & (detected != declared)
            problems.add(
                wrong,
                f"{field_a}/{field_b}",
                lambda: pd.Series(a).astype(str) + " " + pd.Series(b).astype(str),
                lambda: f"coordinates do not fit Sweden in the declared {declared} (detected: "
                + pd.Series(detected).replace("", "none") + ")",
            )
            detected = np.where(wrong, "", declared)
        else:
            detected = np.where(missing, "", declared)
    else:
        problems.add(
            ~missing & (detected == ""),
            f"{field_a}/{field_b}",
            lambda: pd.Series(a).astype(str) + " " + pd.Series(b).astype(str),
            "coordinates are not in Sweden in EPSG:3006, EPSG:4326 or EPSG:3021 (if the export uses another CRS, "
            "e.g. a SWEREF 99 local zone, declare it with --crs)",
        )
    x = np.full(len(a), np.nan)
    y = np.full(len(a), np.nan)
    for code in pd.unique(detected[detected != ""]):
        rows = detected == code
        # Geographic and projected CRSs alike: always_xy means (lon|east, lat|north).
        x[rows], y[rows] = _to_storage(str(code), storage_crs).transform(east[rows], north[rows])
    return x, y


def check_extent(
    x: np.ndarray, y: np.ndarray, extent: tuple[float, float, float, float], label: str, problems: Problems
) -> np.ndarray:
    """Mask of rows outside `extent` (EPSG:3006), recorded as problems."""
    minx, miny, maxx, maxy = extent
    outside = ~np.isnan(x) & ((x < minx) | (x > maxx) | (y < miny) | (y > maxy))
    problems.add(
        outside,
        "geometry",
        lambda: pd.Series(np.round(x, 1)).astype(str) + " " + pd.Series(np.round(y, 1)).astype(str),
        f"point (E N in EPSG:3006) is outside {label}",
    )
    return outside
