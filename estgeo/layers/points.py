"""Builder `points`: publish records of one kind as points, with a chosen set of fields.

Street lights and unsafe places start as their own records; what may be published is
listed in the layer's YAML (`properties`), so nothing private (free text, reporter)
reaches a public layer by accident.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from estgeo.layers.context import BuildContext


def build(ctx: BuildContext, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    kind = params["kind"]
    properties: list[str] = params["properties"]
    records = ctx.read(kind)
    unknown = sorted(set(properties) - set(records.columns))
    if unknown:
        raise ValueError(f"layer {params.get('collection')}: unknown properties {unknown} for {kind}")
    frame = records[["id", *[p for p in properties if p != "id"]]].copy()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert(ctx.settings.time_zone).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(records["x"], records["y"]), crs=ctx.settings.storage_crs)
    return {params["collection"]: points.to_crs("OGC:CRS84")}
