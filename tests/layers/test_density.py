"""The incident-density builder (estgeo.layers.density) against brute-force counts."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from density_fixtures import build, random_incidents, settings_for

from estgeo.config import load_settings
from estgeo.layers import density, sun
from estgeo.layers.periods import PeriodScheme

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TO_3006 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
TO_WGS84 = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)


def brute_force(incidents, settings):
    """Counter of (res, h3, kind, period_start date, column) → count, one incident at a time."""
    anchor = dt.date.fromisoformat(settings.project["lagesbild"]["anchor"])
    days = settings.project["lagesbild"]["period_days"]
    groups = {code: entry["group"] for code, entry in settings.taxonomy["categories"].items()}
    resolutions = sorted(settings.h3_resolutions)
    local_days, rows = [], []
    for row in incidents.itertuples():
        lon, lat = TO_WGS84.transform(row.x, row.y)
        finest = h3.latlng_to_cell(lat, lon, resolutions[-1])
        t0, t1 = row.occurred_from.timestamp(), row.occurred_to.timestamp()
        middle = dt.datetime.fromtimestamp((t0 + t1) / 2, tz=dt.UTC).astimezone(STOCKHOLM).date()
        if t1 - t0 > 7200:
            light = "unknown"
        else:
            classes = {int(sun.light_class(sun.sun_altitude(t, lat, lon))) for t in (t0, (t0 + t1) / 2, t1)}
            light = sun.LIGHT_CONDITIONS[classes.pop()] if len(classes) == 1 else "unknown"
        local_days.append(middle)
        rows.append((finest, middle, row.category, light))
    first = min(local_days)
    counts = Counter()
    for finest, day, category, light in rows:
        starts = {
            "week": day - dt.timedelta(days=day.weekday()),
            "month": day.replace(day=1),
            "lagesbild": anchor + dt.timedelta(days=((day - anchor).days // days) * days),
            "all": first,
        }
        for res in resolutions:
            cell = h3.cell_to_parent(finest, res)
            for kind, start in starts.items():
                for column in ("count", f"grp_{groups[category]}", f"cat_{category}", f"light_{light}"):
                    counts[(res, cell, kind, start, column)] += 1
    return counts


def test_counts_equal_brute_force(tmp_path):
    settings = settings_for(tmp_path, min_count=1)
    incidents = random_incidents()
    frames, _ = build(settings, incidents)
    expected = brute_force(incidents, settings)
    names = density.Columns.from_settings(settings).names
    got = Counter()
    for res in settings.h3_resolutions:
        frame = frames[f"incident-density-r{res}"]
        assert not frame["suppressed"].any()
        values = frame[names].to_numpy(dtype=np.int64)
        for i, row in enumerate(frame[["h3", "period_kind", "period_start"]].itertuples(index=False)):
            for j, name in enumerate(names):
                if values[i, j]:
                    got[(res, row.h3, row.period_kind, row.period_start.date(), name)] += int(values[i, j])
    assert got == expected
    # Every incident is in exactly one period of each kind at each resolution.
    for res in settings.h3_resolutions:
        frame = frames[f"incident-density-r{res}"]
        assert (frame.groupby("period_kind", observed=True)["count"].sum() == len(incidents)).all()


def test_output_schema_and_geometry(tmp_path):
    settings = settings_for(tmp_path)
    incidents = random_incidents()
    frames, built = build(settings, incidents)
    assert set(frames) == {"incident-density", "incident-density-lagesbild", "incident-density-r7", "incident-density-r8", "incident-density-r9",
                           "incident-density-r10", "hotspots"}
    declared = [c["id"] for layer in settings.layers if layer["builder"] == "density" for c in layer["collections"]]
    assert sorted(declared) == sorted(frames)
    for name, frame in frames.items():
        assert frame.crs.equals(pyproj.CRS("OGC:CRS84"))  # WGS 84, lon/lat order
        assert frame["id"].is_unique, name
        for column in ["id", "h3", "resolution", "period_kind", "period_start", "period_end", "count", "gi_z" if
                       name in ("incident-density", "hotspots") else "count", "suppressed", "geometry"]:
            assert column in frame.columns, (name, column)
        # Nothing about single incidents: no points, no free text, no ids, no reporter fields.
        assert set(frame.geom_type) == {"Polygon"}
        assert not {"description", "source_org", "x", "y", "occurred_from", "reported_at"} & set(frame.columns)
        assert not frame.astype(str).isin(incidents["id"].tolist() + ["fritext som aldrig får publiceras"]).any().any()
        # Polygons are the H3 cells, lon/lat order (Sunne: lon 13, lat 59.8).
        cells = frame["h3"].to_numpy()
        bounds = frame.geometry.bounds
        assert bounds["minx"].between(12, 14.5).all() and bounds["miny"].between(59, 61).all()
        for i in [0, len(frame) // 2, len(frame) - 1]:
            lat, lon = h3.cell_to_latlng(cells[i])
            assert frame.geometry.iloc[i].contains(shapely.Point(lon, lat))
            assert h3.get_resolution(cells[i]) == frame["resolution"].iloc[i]
    assert frames["incident-density"] is frames["incident-density-r9"]
    assert set(frames["hotspots"]["hotspot_class"].dropna().unique()) <= set(density.hotspots.EMERGING_CLASSES)
    assert list(built["density:incidents"].columns) == ["id", "h3", "light_condition"]
    assert built["incident-density"] is frames["incident-density"]


def test_written_geopackage_reads_back(tmp_path):
    settings = settings_for(tmp_path)
    frames, _ = build(settings, random_incidents(150))
    path = tmp_path / "incident-density.gpkg"
    frames["incident-density"].to_file(path, layer="incident-density", driver="GPKG", engine="pyogrio")
    info = pyogrio.read_info(path)
    assert pyproj.CRS(info["crs"]).equals(pyproj.CRS("OGC:CRS84"))
    back = gpd.read_file(path, engine="pyogrio")
    assert len(back) == len(frames["incident-density"])
    assert back["count"].isna().sum() == frames["incident-density"]["count"].isna().sum()
    assert str(back["period_start"].dtype).startswith("datetime64")


def test_change_against_previous_period(tmp_path):
    settings = settings_for(tmp_path, min_count=1, resolutions=[9], default_resolution=9)
    cx, cy = TO_3006.transform(13.1433, 59.8366)
    monday = pd.Timestamp("2024-04-01T12:00", tz="Europe/Stockholm").tz_convert("UTC")
    offsets = [0] * 6 + [7] * 2 + [21] * 3  # weeks 14, 15 and 17
    incidents = pd.DataFrame({
        "id": [f"c{i}" for i in range(len(offsets))], "x": cx, "y": cy, "source_org": "kommun", "category": "klotter",
        "occurred_from": [monday + pd.Timedelta(days=d) for d in offsets],
        "occurred_to": [monday + pd.Timedelta(days=d) for d in offsets],
        "reported_at": monday + pd.Timedelta(days=40), "description": "",
    })
    frames, _ = build(settings, incidents)
    weeks = frames["incident-density"].query("period_kind == 'week'").set_index("period")
    assert weeks.loc["2024-W14", "count"] == 6 and pd.isna(weeks.loc["2024-W14", "prev_count"])  # first period
    assert weeks.loc["2024-W15", ["count", "prev_count", "change"]].tolist() == [2, 6, -4]
    assert weeks.loc["2024-W15", "change_pct"] == pytest.approx(-66.7)
    # The drop to zero gets a row; the week after a zero week has nothing to compare with.
    assert weeks.loc["2024-W16", ["count", "prev_count", "change"]].tolist() == [0, 2, -2]
    assert weeks.loc["2024-W17", ["count", "prev_count", "change"]].tolist() == [3, 0, 3]
    assert pd.isna(weeks.loc["2024-W17", "change_pct"])
    assert weeks.loc["2024-W14", "period_end"] == pd.Timestamp("2024-04-08")


def test_change_is_withheld_next_to_a_suppressed_count(tmp_path):
    settings = settings_for(tmp_path, resolutions=[9], default_resolution=9)
    cx, cy = TO_3006.transform(13.1433, 59.8366)
    monday = pd.Timestamp("2024-04-01T12:00", tz="Europe/Stockholm").tz_convert("UTC")
    offsets = [0] * 3 + [7] * 9 + [14] * 8 + [21] * 7  # weeks 14-17
    incidents = pd.DataFrame({
        "id": [f"c{i}" for i in range(len(offsets))], "x": cx, "y": cy, "source_org": "kommun", "category": "klotter",
        "occurred_from": [monday + pd.Timedelta(days=d) for d in offsets],
        "occurred_to": [monday + pd.Timedelta(days=d) for d in offsets],
        "reported_at": monday + pd.Timedelta(days=40), "description": "",
    })
    frames, _ = build(settings, incidents)
    weeks = frames["incident-density"].query("period_kind == 'week'").set_index("period")
    assert pd.isna(weeks.loc["2024-W14", "count"]) and weeks.loc["2024-W14", "suppressed"]
    assert weeks.loc["2024-W15", "count"] == 9
    assert pd.isna(weeks.loc["2024-W15", "prev_count"]) and pd.isna(weeks.loc["2024-W15", "change"])
    assert weeks.loc["2024-W16", ["count", "prev_count", "change"]].tolist() == [8, 9, -1]


def test_periods_cut_in_local_time(tmp_path):
    scheme = PeriodScheme.from_settings(load_settings(workspace=tmp_path))
    # 23:30 UTC on Sunday 31 March 2024 is 01:30 on Monday 1 April in Stockholm (CEST).
    day = scheme.local_day(pd.DatetimeIndex(["2024-03-31T23:30:00Z", "2024-01-07T22:59:00Z", "2024-01-07T23:00:00Z"]))
    assert [str(np.datetime64(int(d), "D")) for d in day] == ["2024-04-01", "2024-01-07", "2024-01-08"]
    week = scheme.start("week", day)
    assert [str(np.datetime64(int(d), "D")) for d in week] == ["2024-04-01", "2024-01-01", "2024-01-08"]
    assert list(scheme.label("week", week)) == ["2024-W14", "2024-W01", "2024-W02"]
    lagesbild = scheme.start("lagesbild", day)
    # 14-day periods counted from Monday 2020-01-06: 2024-01-01 starts one, 2024-03-25 another.
    assert [str(np.datetime64(int(d), "D")) for d in lagesbild] == ["2024-03-25", "2024-01-01", "2024-01-01"]
    assert scheme.lagesbild_nests_weeks
    month = scheme.start("month", day)
    assert [str(np.datetime64(int(d), "D")) for d in month] == ["2024-04-01", "2024-01-01", "2024-01-01"]
    assert str(np.datetime64(int(scheme.next_start("month", month)[0]), "D")) == "2024-05-01"
    assert len(scheme.sequence("week", int(day[1]), int(day[0]))) == 14


def test_h3_helpers_match_h3():
    rng = np.random.default_rng(0)
    lat, lng = rng.uniform(55, 69, 200), rng.uniform(11, 24, 200)
    cells = density.index_points(lat, lng, 10)
    assert [h3.int_to_str(int(c)) for c in cells] == [h3.latlng_to_cell(a, b, 10) for a, b in zip(lat, lng, strict=True)]
    for res in range(0, 10):
        assert list(density.h3_parent(cells, res)) == [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), res)) for c in cells]
    assert density.h3_strings(cells).to_pylist() == [h3.int_to_str(int(c)) for c in cells]


def test_declaration_lists_every_collection(tmp_path):
    settings = load_settings(workspace=tmp_path)
    (layer,) = [layer for layer in settings.layers if layer["builder"] == "density"]
    assert Path(layer["_path"]).name == "incident-density.yml"
    for collection in layer["collections"]:
        assert collection["audience"] == "public" and collection["time_field"] == "period_start"
        assert set(collection["title"]) == {"sv", "en"} and set(collection["description"]) == {"sv", "en"}
