"""Builder `trygghet`: unsafe places from trygghetsvandringar, the walks, and åtgärder
(interventions) with their before/after follow-up.

A *trygghetsvandring* (safety walk) is a walk by residents, staff and politicians through
an area, noting places that feel unsafe — very often badly lit ones — with a proposal, a
responsible department and a target date. The operative EST group follows each place up
(EST steps insatser, uppföljning, återkoppling); this builder gives every place the
context the group asks for: the lamps around it, the incidents near it after dark, and
whether it is overdue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyproj
import shapely

from estgeo.layers.context import BuildContext
from estgeo.layers.disclosure import key_sums
from estgeo.layers.neighbourhood import count_within, count_within_keyed, incident_light_conditions, nearest_distance

_TO_WGS84 = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
_TO_3006 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)


def reference_time(params: dict[str, Any]) -> pd.Timestamp:
    """'Now' for ages and windows: configurable so a build can be reproduced."""
    fixed = params.get("reference_date")
    return pd.Timestamp(fixed, tz="UTC") if fixed else pd.Timestamp(datetime.now(UTC))


def build(ctx: BuildContext, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    now = reference_time(params)
    walks = ctx.read("walks")
    lights = ctx.read("lights")
    incidents = ctx.read("incidents")
    light = _incident_light(ctx, incidents, params)
    places = unsafe_places(ctx, walks, lights, incidents, light, now, params)
    public_columns: list[str] = params["public_properties"]
    public = places.assign(**{c.removeprefix("public_"): places[c] for c in PUBLIC_COUNTS if c in places})
    out = {
        "unsafe-places": public[["id", *public_columns, "geometry"]],
        "unsafe-places-internal": places.drop(columns=[c for c in PUBLIC_COUNTS if c in places]),
        "walks": walk_features(places),
        "interventions": intervention_follow_up(ctx, ctx.read("interventions"), places, incidents, now, params),
    }
    ctx.built["unsafe_places"] = places
    return {cid: frame.to_crs("OGC:CRS84") for cid, frame in out.items()}


def _incident_light(ctx: BuildContext, incidents: pd.DataFrame, params: dict[str, Any]) -> np.ndarray:
    """Light condition per incident, from the density build when it ran, else computed."""
    known = ctx.built.get("density:incidents")
    if known is not None and len(known) == len(incidents) and (known["id"].to_numpy() == incidents["id"].to_numpy()).all():
        return np.asarray(known["light_condition"].astype(str), dtype=object)
    return incident_light_conditions(incidents, float(params.get("light_window_max_hours", 2)) * 3600)


def unsafe_places(ctx: BuildContext, walks: pd.DataFrame, lights: pd.DataFrame, incidents: pd.DataFrame,
                  light: np.ndarray, now: pd.Timestamp, params: dict[str, Any]) -> gpd.GeoDataFrame:
    """Every observation with its problems as text and as booleans, follow-up state and context."""
    problems_list = ctx.settings.code_lists["walk_problems"]
    codes = walks["problems"].fillna("").str.split(",")
    frame = pd.DataFrame({"id": walks["id"], "walk_id": walks["walk_id"], "walk_date": walks["walk_date"],
                          "light_condition": walks["light_condition"]})
    frame["problems"] = codes.map(lambda cs: ", ".join(problems_list.label(c) for c in cs if c))
    frame["problem_codes"] = walks["problems"]
    for code in problems_list.entries:
        frame[f"problem_{code}"] = walks["problems"].fillna("").str.split(",").map(lambda cs, c=code: c in cs).astype(bool)
    lighting_codes = [c for c, e in problems_list.entries.items() if e.get("lighting")]
    frame["lighting_problem"] = frame[[f"problem_{c}" for c in lighting_codes]].any(axis=1)
    for score in [c for c in walks.columns if c.startswith("score_")]:
        frame[score] = walks[score]
    frame["status"] = walks["status"]
    frame["target_date"] = walks["target_date"]
    frame["resolved_at"] = walks["resolved_at"]
    walk_day = pd.to_datetime(walks["walk_date"])
    closed_day = pd.to_datetime(walks["resolved_at"])
    today = pd.Timestamp(now.date())
    open_ = ~walks["status"].isin(["atgardad", "avslagen"]).to_numpy()
    frame["days_open"] = ((closed_day.where(~open_, today) - walk_day).dt.days).astype("Int64")
    frame["overdue"] = open_ & (pd.to_datetime(walks["target_date"]) < today).fillna(False).to_numpy()
    frame["proposal"] = walks["proposal"]
    frame["responsible"] = walks["responsible"]

    px, py = walks["x"].to_numpy(), walks["y"].to_numpy()
    out_lamps = lights["status"].isin(["slackt", "fel"]).to_numpy()
    lx, ly = lights["x"].to_numpy(), lights["y"].to_numpy()
    frame["nearest_lamp_m"] = np.round(nearest_distance(px, py, lx, ly), 1)
    radius_lamps = float(params["lamps_out_radius_m"])
    frame["lamps_out_nearby"] = count_within(px, py, lx[out_lamps], ly[out_lamps], radius_lamps)
    frame["modelled_lux"] = sample_raster(ctx.built.get("modelled_light"), px, py)

    window_start = now - pd.DateOffset(months=int(params["incident_months"]))
    recent = (incidents["occurred_from"] >= window_start).to_numpy() & (incidents["occurred_from"] <= now).to_numpy()
    ix, iy = incidents["x"].to_numpy()[recent], incidents["y"].to_numpy()[recent]
    dark = light[recent] == "darkness"
    radius_incidents = float(params["incident_radius_m"])
    disclosure = ctx.disclosure
    keys = disclosure.keys(incidents["id"])
    if keys is not None:
        # Cell key method: each count perturbed by the keys of the incidents it counts.
        nearby, nearby_keys = count_within_keyed(px, py, ix, iy, radius_incidents, keys[recent])
        nearby_dark, dark_keys = count_within_keyed(px, py, ix[dark], iy[dark], radius_incidents, keys[recent][dark])
        frame["incidents_nearby"] = disclosure.publish(nearby, nearby_keys)[0]
        frame["incidents_nearby_dark"] = disclosure.publish(nearby_dark, dark_keys)[0]
    else:
        nearby = count_within(px, py, ix, iy, radius_incidents)
        nearby_dark = count_within(px, py, ix[dark], iy[dark], radius_incidents)
        # Counts of incidents are published, so small ones are withheld like in the density layer.
        threshold = ctx.settings.privacy_min_count
        small = nearby < threshold
        frame["incidents_nearby"] = _withheld(nearby, small)
        # The dark count is also withheld when the rest (total minus dark) is small, or the
        # difference would give that small count away.
        frame["incidents_nearby_dark"] = _withheld(nearby_dark, small | (nearby_dark < threshold) | (nearby - nearby_dark < threshold))
    frame["incidents_suppressed"] = frame["incidents_nearby"].isna() | frame["incidents_nearby_dark"].isna()
    public_counts(ctx, frame, px, py, now, params)

    lon, lat = _TO_WGS84.transform(px, py)
    res = int(ctx.settings.project["h3"]["default_resolution"])
    frame["h3"] = [h3.latlng_to_cell(a, o, res) for a, o in zip(lat, lon, strict=True)]
    # Open items first: that is the order the operative group works in.
    frame["open"] = open_
    geometry = gpd.points_from_xy(px, py, crs=ctx.settings.storage_crs)
    places = gpd.GeoDataFrame(frame, geometry=geometry)
    return places.sort_values(["open", "overdue", "days_open"], ascending=[False, False, False], kind="stable").reset_index(drop=True)


#: Columns holding what the public collection shows in place of the exact counts beside them.
PUBLIC_COUNTS = ("public_incidents_nearby", "public_incidents_nearby_dark", "public_incidents_suppressed", "public_incidents_since")


def count_window_start(now: pd.Timestamp, months: int) -> pd.Timestamp:
    """The first day of the months the public counts cover: the current month and the
    `months` − 1 before it (calendar months, as the density layer publishes them)."""
    first = pd.Timestamp(year=now.year, month=now.month, day=1)
    return first - pd.DateOffset(months=int(months) - 1)


def public_counts(ctx: BuildContext, frame: pd.DataFrame, px: np.ndarray, py: np.ndarray, now: pd.Timestamp,
                  params: dict[str, Any]) -> None:
    """What unsafe-places shows of the incidents near a place: the density's published
    month counts of the cells its circle touches (`estgeo.layers.cellsums`, which says
    why), over the calendar months of the window. The internal collection keeps the exact
    counts within the radius. Without a density layer in the build the public counts are
    the ones above (nothing to difference against)."""
    from estgeo.layers import cellsums

    res = int(params.get("area_counts_resolution") or max(ctx.settings.h3_resolutions))
    density = cellsums.density_frame(ctx.built, res)
    if density is None:
        frame["public_incidents_since"] = (now - pd.DateOffset(months=int(params["incident_months"]))).date().isoformat()
        return
    since = count_window_start(now, int(params["incident_months"]))
    pairs = cellsums.touched_cells(cellsums.as_published(shapely.points(px, py)), float(params["incident_radius_m"]), res)
    total, hidden = cellsums.published_sums(pairs, len(px), density, ["count"], "month", since)
    dark_columns = [f"light_{c}" for c in params.get("dark_conditions", ["darkness"])]
    dark, dark_hidden = cellsums.published_sums(pairs, len(px), density, dark_columns, "month", since)
    frame["public_incidents_nearby"] = total
    frame["public_incidents_nearby_dark"] = dark
    frame["public_incidents_suppressed"] = hidden | dark_hidden
    frame["public_incidents_since"] = since.date().isoformat()


def _withheld(counts: np.ndarray, hide: np.ndarray) -> pd.arrays.IntegerArray:
    """Counts as nullable integers, null where they must not be published."""
    return pd.arrays.IntegerArray(np.asarray(counts, dtype=np.int64), np.asarray(hide, dtype=bool))


def _unix(moments: pd.Series) -> np.ndarray:
    """Seconds since 1970 (UTC) as float, NaN where missing: plain numbers compare fast."""
    seconds = moments.dt.tz_convert("UTC").dt.as_unit("s").astype("int64").astype(np.float64)
    return np.where(moments.isna().to_numpy(), np.nan, seconds.to_numpy())


def sample_raster(path: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Raster values at points (EPSG:3006), NaN outside it or when there is no raster yet."""
    if not path or len(x) == 0:
        return np.full(len(x), np.nan)
    import rasterio

    with rasterio.open(path) as src:
        rows, cols = rasterio.transform.rowcol(src.transform, x, y)
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        values = np.full(len(x), np.nan)
        if inside.any():
            sampled = np.array([v[0] for v in src.sample(zip(x[inside], y[inside], strict=True))], dtype=np.float64)
            if src.nodata is not None:
                sampled[sampled == src.nodata] = np.nan
            values[inside] = sampled
    return np.round(values, 2)


def walk_features(places: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One feature per walk: the convex hull of its observations (a point or line when
    there are too few), with date, light condition, number of observations, share resolved."""
    if places.empty:
        return gpd.GeoDataFrame({"id": [], "walk_date": [], "light_condition": [], "observations": [],
                                 "share_resolved": []}, geometry=[], crs=places.crs)
    grouped = places.groupby("walk_id", sort=True)
    hulls = grouped["geometry"].agg(lambda g: shapely.convex_hull(shapely.multipoints(np.asarray(g))))
    summary = pd.DataFrame({
        "id": hulls.index.astype(str),
        "walk_date": grouped["walk_date"].min().to_numpy(),
        "light_condition": grouped["light_condition"].agg(lambda s: s.mode().iloc[0] if s.notna().any() else None).to_numpy(),
        "observations": grouped.size().to_numpy(),
        "share_resolved": np.round(grouped["status"].agg(lambda s: (s == "atgardad").mean()).to_numpy(), 3),
        "lighting_problems": grouped["lighting_problem"].sum().to_numpy(),
    })
    return gpd.GeoDataFrame(summary, geometry=hulls.to_numpy(), crs=places.crs)


def _follow_up_from_cells(ctx: BuildContext, interventions: pd.DataFrame, areas: gpd.GeoSeries, weeks: int,
                          params: dict[str, Any]):
    """The public before and after counts: sums of the density's published week counts
    of the target's cells over whole ISO weeks (`cellsums.target_cells`,
    `cellsums.week_windows`). A count over the target's own circle and from the
    decision's date would be a window of its own on the incidents, and differenced
    against the density cells and weeks it gives withheld counts away. None when the
    build has no density to sum (then the counts above are published)."""
    from estgeo.layers import cellsums

    res = int(params.get("area_counts_resolution") or max(ctx.settings.h3_resolutions))
    published = cellsums.as_published([a if a is not None else shapely.Point() for a in areas])
    pivot = pd.to_datetime(interventions["end"].fillna(interventions["start"]))
    before_from, after_from, after_until = cellsums.week_windows(pivot, weeks)
    sums = cellsums.follow_up_sums(interventions["target"].fillna("").astype(str).tolist(),
                                   [g if a is not None else None for g, a in zip(published, areas, strict=True)],
                                   before_from, after_from, weeks, lambda r: cellsums.density_frame(ctx.built, r), res)
    if sums is None:
        return None
    return sums[0], sums[1], (before_from, after_from, after_until)


def target_areas(targets: pd.Series, places: gpd.GeoDataFrame, radius_m: float) -> gpd.GeoSeries:
    """The area each intervention acts on: its H3 cell, or a circle around its unsafe place."""
    by_place = places.set_index("id").geometry
    areas = []
    for target in targets.fillna(""):
        if h3.is_valid_cell(target):
            boundary = h3.cell_to_boundary(target)  # (lat, lng) pairs
            lon, lat = zip(*[(b, a) for a, b in boundary], strict=True)
            x, y = _TO_3006.transform(lon, lat)
            areas.append(shapely.Polygon(zip(x, y, strict=True)))
        elif target in by_place.index:
            areas.append(by_place.loc[target].buffer(radius_m))
        else:
            areas.append(None)
    return gpd.GeoSeries(areas, crs="EPSG:3006")


def intervention_follow_up(ctx: BuildContext, interventions: pd.DataFrame, places: gpd.GeoDataFrame,
                           incidents: pd.DataFrame, now: pd.Timestamp, params: dict[str, Any]) -> gpd.GeoDataFrame:
    """Incidents in each intervention's area in equal windows before and after it.

    The after-window starts when the intervention is complete (its end date, or its start
    when it is ongoing or has no end). A change is only stated when both windows have
    ended and hold enough incidents to mean something; otherwise the layer says why not
    instead of showing a misleading percentage.
    """
    weeks = int(params["follow_up_weeks"])
    min_total = int(params["follow_up_min_incidents"])
    threshold = ctx.settings.privacy_min_count
    areas = target_areas(interventions["target"], places, float(params["place_radius_m"]))
    tz = ctx.settings.time_zone
    start = pd.to_datetime(interventions["start"]).dt.tz_localize(tz).dt.tz_convert("UTC")
    end = pd.to_datetime(interventions["end"]).dt.tz_localize(tz).dt.tz_convert("UTC")
    pivot = end.fillna(start)
    window_s = weeks * 7 * 86400

    points = gpd.GeoSeries(gpd.points_from_xy(incidents["x"], incidents["y"]), crs="EPSG:3006")
    has_area = areas.notna().to_numpy()
    area_index, point_index = (np.array([], dtype=int), np.array([], dtype=int))
    if has_area.any() and len(points):
        point_index, area_pos = points.sindex.query(areas[has_area].to_numpy(), predicate="contains", output_format="indices")[::-1]
        area_index = np.flatnonzero(has_area)[area_pos]
    when = _unix(incidents["occurred_from"])[point_index]
    p = _unix(pivot)[area_index]
    before_hit = (when >= p - window_s) & (when < p)
    after_hit = (when >= p) & (when < p + window_s)
    before = np.bincount(area_index[before_hit], minlength=len(interventions))
    after = np.bincount(area_index[after_hit], minlength=len(interventions))
    disclosure = ctx.disclosure
    keys = disclosure.keys(incidents["id"])
    if keys is not None:
        # Cell key method: the counts are perturbed, and everything below (change, share,
        # "enough data") is computed from the perturbed ones, so none is a count in disguise.
        n = len(interventions)
        before = disclosure.publish(before, key_sums(area_index[before_hit], keys[point_index][before_hit], n))[0].to_numpy(dtype=np.int64)
        after = disclosure.publish(after, key_sums(area_index[after_hit], keys[point_index][after_hit], n))[0].to_numpy(dtype=np.int64)
        threshold = 0
    hide_before, hide_after = before < threshold, after < threshold
    complete = (_unix(pivot) + window_s <= now.timestamp())
    window_starts: dict[str, Any] = {}
    public = _follow_up_from_cells(ctx, interventions, areas, weeks, params)
    if public is not None:
        # The public counts: sums of the density's published week cells (estgeo.layers.cellsums).
        (before_pub, hide_before), (after_pub, hide_after), (before_from, after_from, after_until) = public
        before = before_pub.to_numpy(dtype=np.int64, na_value=0)
        after = after_pub.to_numpy(dtype=np.int64, na_value=0)
        complete = (after_until.dt.tz_localize(tz) <= now).to_numpy()
        window_starts = {"before_from": before_from.dt.date.astype("string").to_numpy(),
                         "after_from": after_from.dt.date.astype("string").to_numpy()}

    enough = complete & (before + after >= min_total) & has_area
    change = after - before
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(enough & (before > 0), np.round(100.0 * change / np.maximum(before, 1), 1), np.nan)
    # Nothing published may be computed from a withheld count: with `before` withheld and
    # `after` 6, a change of +50 % or "enough data" (before + after >= 10) gave before = 4.
    withheld = hide_before | hide_after
    relative = np.where(withheld, np.nan, relative)
    few = ("för få händelser (ett litet tal i en cell före eller efter) för att redovisa" if public is not None
           else f"för få händelser (färre än {threshold} före eller efter) för att redovisa")
    note = np.where(~has_area, "målet är varken en H3-cell eller en känd otrygg plats",
                    np.where(~complete, "uppföljningsfönstret har inte löpt ut än",
                             np.where(withheld, few,
                                      np.where(~enough, f"för få händelser (< {min_total}) för att säga något", ""))))
    frame = pd.DataFrame({
        "id": interventions["id"],
        "target": interventions["target"],
        "type": interventions["type"],
        "decided_by": interventions["decided_by"],
        "start": interventions["start"],
        "end": interventions["end"],
        "window_weeks": weeks,
        **window_starts,
        "before_count": _withheld(before, hide_before),
        "after_count": _withheld(after, hide_after),
        "change": _withheld(change, ~enough | withheld),
        "change_pct": relative,
        "window_complete": complete,
        "enough_data": pd.array(np.where(withheld, pd.NA, enough), dtype="boolean"),
        "note": note,
        "suppressed": withheld,
    })
    centroids = areas.where(areas.notna(), None)
    return gpd.GeoDataFrame(frame, geometry=centroids.to_numpy(), crs="EPSG:3006")
