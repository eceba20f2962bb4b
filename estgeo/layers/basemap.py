"""Builder `basemap`: publish reference layers (municipal boundary, streets) as they are.

The municipality keeps these in its own GIS; estgeo only republishes them in CRS84 so
that the embedded map and QGIS have an outline and streets to read the insecurity layers
against when no background map can be reached (closed intranets). The files are named
in the layer's YAML relative to the workspace; a missing file is skipped with a message,
since an installation without them still publishes every other layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio

from estgeo.layers.context import BuildContext


def build(ctx: BuildContext, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    """`params["files"]`: collection id → file (GeoPackage, GeoJSON, …) in the workspace;
    `params["properties"]`: collection id → the attributes to keep (default: all)."""
    keep: dict[str, list[str]] = params.get("properties") or {}
    out: dict[str, gpd.GeoDataFrame] = {}
    for collection_id, name in (params.get("files") or {}).items():
        path = Path(ctx.settings.workspace) / name
        if not path.exists():
            ctx.progress(f"{collection_id}: {path} not found, skipped")
            continue
        frame = reference_layer(path, keep.get(collection_id))
        out[collection_id] = frame
    return out


def reference_layer(path: Path, properties: list[str] | None = None) -> gpd.GeoDataFrame:
    """The file's first layer in CRS84 with a text `id` (1, 2, … when it has none)."""
    frame = pyogrio.read_dataframe(path)
    if frame.crs is None:
        raise ValueError(f"{path}: the file has no coordinate reference system")
    if properties is not None:
        unknown = sorted(set(properties) - set(frame.columns))
        if unknown:
            raise ValueError(f"{path}: no attributes {unknown}")
        frame = frame[[*properties, frame.geometry.name]]
    if "id" not in frame.columns:
        frame.insert(0, "id", np.arange(1, len(frame) + 1).astype(str))
    frame["id"] = frame["id"].astype(str)
    return frame.to_crs("OGC:CRS84")
