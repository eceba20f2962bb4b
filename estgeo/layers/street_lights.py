"""Builder `street_lights`: the lighting inventory as points, with what the lighting crew needs.

Besides the inventory's own fields (listed in the layer's `properties`), every lamp gets

* ``out`` — true when the lamp gives no light (status ``slackt`` or ``fel``), so a map can
  highlight lamps out with one rule;
* ``age_since_inspection_days`` — days from ``last_inspected`` to the build date (or to the
  layer's `as_of` date), null when the lamp has never been inspected.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd

from estgeo.layers import points
from estgeo.layers.context import BuildContext
from estgeo.layers.illuminance import LIT_STATUSES


def as_of_date(value: Any, time_zone: str) -> date:
    """The layer's reference date: `value` (ISO date) or today in the municipality's time zone."""
    if value:
        return date.fromisoformat(str(value))
    return datetime.now(ZoneInfo(time_zone)).date()


def days_since(iso_dates: pd.Series, as_of: date) -> pd.Series:
    """Whole days from each ISO date to `as_of` (nullable Int64; unparseable dates are null)."""
    parsed = pd.to_datetime(iso_dates.astype("string"), format="%Y-%m-%d", errors="coerce")
    days = (pd.Timestamp(as_of) - parsed).dt.days
    return days.astype("Int64")


def build(ctx: BuildContext, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    collection = params.get("collection", "street-lights")
    lights = ctx.read("lights")
    frame = points.build(ctx, {"kind": "lights", "collection": collection, "properties": params["properties"]})[collection]
    as_of = as_of_date(params.get("as_of"), ctx.settings.time_zone)
    frame["out"] = ~lights["status"].isin(LIT_STATUSES).to_numpy(dtype=bool)
    frame["age_since_inspection_days"] = days_since(lights["last_inspected"], as_of).array
    return {collection: frame}
