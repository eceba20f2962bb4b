"""Published GeoPackages, read once per file version and shared by all requests.

pygeoapi creates a provider per request, so the provider must not read the file each
time. A layer is read with pyogrio into memory (municipal layers are thousands of rows,
not millions), given a spatial index and JSON-ready properties, and cached per
configured path. The path goes through `published/current`, a symlink the build switches
atomically, so every lookup resolves it and compares (real path, inode, mtime, size): a
switch or rewrite is picked up on the next request, and the previous version is dropped.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataSourceError

from estgeo.errors import EstgeoError
from estgeo.publish.temporal import DATE_ONLY, TimeSpans, parse_time_column

#: OGR field type → our field kind (the JSON type, or a temporal kind).
OGR_KINDS = {
    "OFTInteger": "integer",
    "OFTInteger64": "integer",
    "OFTReal": "number",
    "OFTString": "string",
    "OFTDate": "date",
    "OFTDateTime": "date-time",
    "OFTTime": "string",
}
TEMPORAL_KINDS = ("date", "date-time")
_DATE_TIME = DATE_ONLY + r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}:?\d{2})?"


class LayerUnavailable(EstgeoError):
    """The layer file is missing or unreadable; the message says which file and why."""


@dataclass(frozen=True)
class Layer:
    """One published layer in memory.

    `frame` holds typed columns (nullable Int64/boolean, float, str) and CRS84 geometries
    for filtering and sorting; `records` the same properties as JSON-ready Python
    values; `kinds` each property's kind (integer, number, boolean, string, date,
    date-time); `times` the UTC spans of every temporal property.
    """

    frame: gpd.GeoDataFrame
    records: pd.DataFrame
    kinds: dict[str, str]
    times: dict[str, TimeSpans]
    ids: pd.Index
    #: Derived once, for answering a page without pandas per request: each property as
    #: an array of JSON-ready Python values, the geometries, and their spatial index.
    columns: dict[str, np.ndarray] = field(init=False, repr=False, compare=False)
    geometries: np.ndarray = field(init=False, repr=False, compare=False)
    tree: shapely.STRtree = field(init=False, repr=False, compare=False)
    all_points: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = {}
        for name, values in self.records.to_dict("list").items():  # numpy scalars → Python values
            array = np.empty(len(values), dtype=object)
            array[:] = values
            columns[name] = array
        geometries = self.frame.geometry.to_numpy()
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "geometries", geometries)
        object.__setattr__(self, "tree", shapely.STRtree(geometries))
        object.__setattr__(self, "all_points", bool(len(geometries)) and bool((shapely.get_type_id(geometries) == 0).all()))

    @property
    def bbox(self) -> list[float] | None:
        """Extent in CRS84 (lon/lat), None for an empty layer."""
        if self.frame.empty:
            return None
        return [float(v) for v in self.frame.total_bounds]

    def field_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schema of each property, as pygeoapi's `fields` wants it (a fresh copy:
        pygeoapi annotates these dicts in place)."""
        schemas: dict[str, dict[str, Any]] = {}
        for name, kind in self.kinds.items():
            if kind in TEMPORAL_KINDS:
                schemas[name] = {"type": "string", "format": kind}
            else:
                schemas[name] = {"type": kind}
        return schemas

    def search_texts(self) -> list[pd.Series]:
        """What `q=` searches: every text property of a row, lower-cased, joined into
        one string (a unit separator between them, which a term, split at whitespace,
        cannot contain). Made on first use and kept with the layer, so a search costs
        one substring scan per term instead of one per term and property."""
        cached = self.__dict__.get("_search_texts")
        if cached is None:
            names = [name for name, kind in self.kinds.items() if kind == "string"]
            if names:
                parts = [self.frame[name].astype("string").fillna("").str.lower() for name in names]
                joined = parts[0]
                for part in parts[1:]:
                    joined = joined + "\x1f" + part
                cached = [joined.astype(object)]
            else:
                cached = []
            self.__dict__["_search_texts"] = cached
        return cached

    def position(self, identifier: str) -> int | None:
        """Row of the feature with this id, None when absent."""
        found = self.ids.get_indexer([identifier])[0]
        return None if found < 0 else int(found)


_cache: dict[str, tuple[tuple[Any, ...], Layer]] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def load_layer(path: str | os.PathLike[str], layer: str, *, id_field: str = "id", time_zone: str = "UTC") -> Layer:
    """The layer at `path` (through any symlinks), read only when the file changed.

    The build may switch `current` and delete the old folder between our resolving the
    path and reading it; that case is retried with the new target.
    """
    key = str(path)
    last_error: Exception | None = None
    for _ in range(3):
        real = os.path.realpath(path)
        try:
            stat = os.stat(real)
        except FileNotFoundError as exc:
            last_error = exc
            continue
        signature = (real, layer, stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with _lock_for(key):
            cached = _cache.get(key)
            if cached is not None and cached[0] == signature:
                return cached[1]
            try:
                loaded = read_layer(real, layer, id_field=id_field, time_zone=time_zone)
            except (FileNotFoundError, DataSourceError) as exc:
                last_error = exc
                continue
            _cache[key] = (signature, loaded)
            return loaded
    raise LayerUnavailable(f"{path}: layer '{layer}' cannot be read ({last_error})")


def read_layer(path: str, layer: str, *, id_field: str = "id", time_zone: str = "UTC") -> Layer:
    """Read one GeoPackage layer into a `Layer` (no caching)."""
    info = pyogrio.read_info(path, layer=layer)
    frame = pyogrio.read_dataframe(path, layer=layer)
    if frame.crs is None:
        frame = frame.set_crs("OGC:CRS84")
    elif not frame.crs.equals("OGC:CRS84") and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs("OGC:CRS84")
    frame = frame.rename_geometry("geometry") if frame.geometry.name != "geometry" else frame
    if id_field not in frame.columns:
        frame[id_field] = np.arange(1, len(frame) + 1).astype(str)
    frame[id_field] = frame[id_field].astype("str")

    kinds: dict[str, str] = {}
    for name, ogr_type, subtype in zip(info["fields"], info["ogr_types"], info["ogr_subtypes"], strict=True):
        kind = "boolean" if subtype == "OFSTBoolean" else OGR_KINDS.get(ogr_type, "string")
        frame[name] = _typed(frame[name], kind)
        kinds[name] = _string_kind(frame[name]) if kind == "string" else kind
    kinds[id_field] = "string"  # ids are text in URLs whatever the file says

    times = {
        name: parse_time_column(frame[name], time_zone, dates=kind == "date")
        for name, kind in kinds.items()
        if kind in TEMPORAL_KINDS
    }
    frame.sindex  # noqa: B018 — build the STRtree now, not inside a request thread
    records = pd.DataFrame({name: _json_ready(frame[name], kind) for name, kind in kinds.items()})
    return Layer(frame=frame, records=records, kinds=kinds, times=times, ids=pd.Index(frame[id_field]))


def _typed(values: pd.Series, kind: str) -> pd.Series:
    """Undo the float/object detours pyogrio takes for nullable integers and booleans."""
    if kind == "integer":
        return values.astype("Int64")
    if kind == "boolean":
        return values.astype("boolean")
    if kind == "number":
        return values.astype("float64")
    if kind == "string":
        return values.astype("str")
    return values


def _string_kind(values: pd.Series) -> str:
    """`date` or `date-time` when every value of a text column is an ISO date (time)."""
    present = values.dropna()
    if present.empty:
        return "string"
    if present.str.fullmatch(DATE_ONLY).all():
        return "date"
    if present.str.fullmatch(f"(?:{_DATE_TIME})|(?:{DATE_ONLY})").all():
        return "date-time"
    return "string"


def _json_ready(values: pd.Series, kind: str) -> pd.Series:
    """Python values for GeoJSON: None for every kind of missing, ISO text for times."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        # No offset stored: local time, published as such (RFC 3339 "local date-time").
        values = values.dt.strftime("%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S")
    return values.astype(object).where(values.notna(), None)
