"""Privacy guarantees of the public profile, tested as an outsider sees it.

A demo municipality is built with every layer and served by the public server; the test
then reads everything a client can — every feature of every collection, vector tiles
over the town, coverages and the lägesbild report where those exist — and checks that

* no response holds a raw incident position (no published point lies on an incident;
  every point in a tile is a point of a published point collection),
* no response holds free text or a reporter (no such property; no incident description
  or walk proposal/responsible anywhere in a body),
* no published count of incidents is below the threshold (zeros excepted),
* no suppressed count can be recovered by differencing: every additive relation an
  outsider can form from published numbers — total = Σ category groups, group = Σ its
  categories, total = Σ light conditions, a cell = Σ its children one resolution finer,
  the whole range = Σ weeks = Σ months = Σ lägesbild periods, a lägesbild period = Σ its
  weeks, change = count − previous count — has either no suppressed term or at least two
  whose sum is at least the threshold.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import h3
import numpy as np
import pandas as pd
import pyproj
import pytest
import requests
from demo_workspace import demo_workspace
from live_server import live_server
from scipy.spatial import cKDTree

from estgeo.config import Settings, load_settings
from estgeo.layers import disclosure
from estgeo.store import open_store

pytestmark = pytest.mark.slow
#: Properties that would be free text or identify a reporter.
PRIVATE_PROPERTIES = {"description", "proposal", "responsible", "outcome", "reporter", "reported_by", "email", "phone"}
#: Count properties of incidents (lamps, walks and observations are not people).
_COUNT = re.compile(r"^(count|prev_count|grp_.+|cat_.+|light_.+|before_count|after_count|.*incidents.*)$")
_TO_3006 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:3006", always_xy=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(workspace=demo_workspace())


@pytest.fixture(scope="module")
def public(demo: Settings) -> Iterator[str]:
    with live_server(demo.workspace, workers=2) as (base, _):
        yield base


@pytest.fixture(scope="module")
def published(public: str) -> dict[str, dict[str, Any]]:
    """Every collection as the public server gives it: metadata, all features, raw bodies."""
    out: dict[str, dict[str, Any]] = {}
    collections = requests.get(f"{public}/collections", params={"f": "json"}, timeout=60).json()["collections"]
    for collection in collections:
        cid = collection["id"]
        features: list[dict[str, Any]] = []
        bodies: list[str] = []
        offset = 0
        rels = {link["rel"] for link in collection["links"]}
        while "items" in rels:
            response = requests.get(f"{public}/collections/{cid}/items",
                                    params={"f": "json", "limit": 10000, "offset": offset}, timeout=300)
            assert response.status_code == 200, (cid, response.text[:300])
            bodies.append(response.text)
            page = response.json()["features"]
            features += page
            offset += len(page)
            if len(page) < 10000:
                break
        page_url = f"{public}/collections/{cid}" + ("/items" if "items" in rels else "")
        bodies.append(requests.get(page_url, params={"f": "html", "limit": 50}, timeout=120).text)
        out[cid] = {"meta": collection, "features": features, "bodies": bodies, "rels": rels,
                    "frame": pd.DataFrame([f["properties"] for f in features])}
    return out


@pytest.fixture(scope="module")
def incidents(demo: Settings) -> pd.DataFrame:
    return open_store(demo).read("incidents")


def count_columns(frame: pd.DataFrame) -> list[str]:
    """Properties that are counts of incidents: named so, and whole numbers throughout
    (a flag like incidents_suppressed or a share like c_dark_incidents is not a count)."""
    names = []
    for name in [c for c in frame.columns if _COUNT.match(c)]:
        if frame[name].map(lambda v: isinstance(v, bool)).any():
            continue
        values = pd.to_numeric(frame[name], errors="coerce").dropna()
        if (values == values.round()).all():
            names.append(name)
    return names


def _points(features: list[dict[str, Any]]) -> np.ndarray:
    coords = [f["geometry"]["coordinates"][:2] for f in features if f.get("geometry") and f["geometry"]["type"] == "Point"]
    return np.asarray(coords, dtype=float).reshape(-1, 2)


def _all_coordinates(geometry: dict[str, Any] | None) -> list[list[float]]:
    if not geometry:
        return []
    def walk(c: Any) -> list[list[float]]:
        if c and isinstance(c[0], (int, float)):
            return [c[:2]]
        return [p for part in c for p in walk(part)]
    if geometry["type"] == "GeometryCollection":
        return [p for g in geometry["geometries"] for p in _all_coordinates(g)]
    return walk(geometry["coordinates"])


def test_no_raw_incident_position_in_any_feature(published: dict[str, dict[str, Any]], incidents: pd.DataFrame) -> None:
    tree = cKDTree(np.c_[incidents["x"], incidents["y"]])
    checked = 0
    for cid, data in published.items():
        coords = np.asarray([p for f in data["features"] for p in _all_coordinates(f.get("geometry"))], dtype=float)
        if not len(coords):
            continue
        x, y = _TO_3006.transform(coords[:, 0], coords[:, 1])
        distance, _ = tree.query(np.c_[x, y])
        checked += len(coords)
        points = _points(data["features"])
        if len(points):
            # Published points are lamps and places: none sits on an incident (5 cm).
            px, py = _TO_3006.transform(points[:, 0], points[:, 1])
            assert (tree.query(np.c_[px, py])[0] > 0.05).all(), cid
        # Corners of cells and areas on a metre grid meet an integer-metre police position
        # now and then by chance; a layer drawn around incidents would meet many.
        assert (distance <= 0.05).sum() <= max(2, len(incidents) // 200), (cid, int((distance <= 0.05).sum()))
    assert checked > 10000


def test_no_free_text_or_reporter(published: dict[str, dict[str, Any]], demo: Settings) -> None:
    store = open_store(demo)
    secrets = set(store.read("incidents")["description"].dropna())
    walks = store.read("walks")
    secrets |= set(walks["proposal"].dropna()) | set(walks["responsible"].dropna())
    secrets = {s for s in secrets if len(s) >= 12}
    assert secrets
    for cid, data in published.items():
        assert not PRIVATE_PROPERTIES & set(data["frame"].columns), cid
        text = "\n".join(data["bodies"])
        leaked = [s for s in secrets if s in text]
        assert not leaked, (cid, leaked[:3])


def test_no_count_below_the_threshold(published: dict[str, dict[str, Any]], demo: Settings) -> None:
    """Suppression: no count from 1 to the threshold − 1 is served. Cell-key (the default):
    small values are served, perturbed, and the build's own audit (kept in the workspace)
    found none of them known to ±1, with the true counts at hand."""
    threshold = demo.privacy_min_count
    method = disclosure.method(demo)
    seen = small_seen = 0
    for cid, data in published.items():
        frame = data["frame"]
        for name in count_columns(frame):
            values = pd.to_numeric(frame[name], errors="coerce").dropna()
            small = values[(values > 0) & (values < threshold)]
            if method == "suppression":
                assert small.empty, (cid, name, small.head().tolist())
            small_seen += len(small)
            seen += len(values)
    assert seen > 1000
    if method == "cell-key":
        assert small_seen > 100  # the map is not blank where counts are small
        current = (demo.published_dir / "current").resolve().name
        report = json.loads((demo.workspace / "audit" / f"{current}.json").read_text(encoding="utf-8"))
        assert report["method"] == "cell-key" and report["ok"] and report["exposed"] == 0 and report["with_truth"]
        density = [c for c in report["collections"] if c["collection"].startswith("incident-density-r") and "Gi" not in c["collection"]]
        assert density and all(c["sensitive"] > 0 and 0 < c["exact_published"] < 0.5 for c in density)


def test_change_gives_no_suppressed_count_away(published: dict[str, dict[str, Any]]) -> None:
    for cid, data in published.items():
        frame = data["frame"]
        if "change" not in frame.columns:
            continue
        published_change = frame["change"].notna() | frame.get("change_pct", pd.Series(dtype=float)).reindex(frame.index).notna()
        if "prev_count" in frame.columns:
            assert not (published_change & (frame["count"].isna() | frame["prev_count"].isna())).any(), cid
        if "before_count" in frame.columns:
            assert not (frame["change"].notna() & (frame["before_count"].isna() | frame["after_count"].isna())).any(), cid


def _violations(parent: pd.Series, children_sum: pd.Series, hidden_children: pd.Series, threshold: int) -> pd.Series:
    """Relations that give a small count away. With the parent published, the hidden
    children's sum is known (parent − published children): it must be 0 (they are all
    zero, which tells nothing about anyone) or at least the threshold — otherwise one
    hidden child is recovered, or several are pinned to tiny values. With the parent
    hidden and every child published, the parent is their sum: it must not be small."""
    residual = parent - children_sum
    from_parent = parent.notna() & (hidden_children >= 1) & (residual > 0) & (residual < threshold)
    from_children = parent.isna() & (hidden_children == 0) & (children_sum > 0) & (children_sum < threshold)
    return from_parent | from_children


def _density_tables(published: dict[str, dict[str, Any]]) -> dict[int, pd.DataFrame]:
    tables = {}
    for data in published.values():
        frame = data["frame"]
        if {"h3", "resolution", "period_kind", "period", "count"} <= set(frame.columns) and "grp_brott" in frame.columns:
            tables[int(frame["resolution"].iloc[0])] = frame
    return tables


def test_no_suppressed_count_recoverable_by_differencing(published: dict[str, dict[str, Any]], demo: Settings) -> None:
    threshold = demo.privacy_min_count
    tables = _density_tables(published)
    assert len(tables) >= 2
    categories = demo.code_lists["categories"].entries
    counted = 0
    for res, frame in tables.items():
        counts = frame.apply(lambda c: pd.to_numeric(c, errors="coerce") if _COUNT.match(c.name) else c)
        # Within a row: categories, groups, light conditions.
        relations = [("count", [c for c in counts.columns if c.startswith("grp_")]),
                     ("count", [c for c in counts.columns if c.startswith("light_")])]
        for group in {e["group"] for e in categories.values()}:
            members = [f"cat_{c}" for c, e in categories.items() if e["group"] == group and f"cat_{c}" in counts.columns]
            relations.append((f"grp_{group}", members))
        for parent, children in relations:
            block = counts[children]
            bad = _violations(counts[parent], block.sum(axis=1, min_count=0), block.isna().sum(axis=1), threshold)
            assert not bad.any(), (res, parent, children[:3], counts.loc[bad, ["h3", "period", parent, *children]].head(3))
            counted += len(block)
        count_columns = [c for c in counts.columns if _COUNT.match(c) and c != "prev_count"]
        long = counts.melt(id_vars=["h3", "period_kind", "period", "period_start", "period_end"], value_vars=count_columns,
                           var_name="column", value_name="value")
        # Over time: the whole range = Σ weeks = Σ months = Σ lägesbild periods (absent rows are zeros).
        whole = long[long["period_kind"] == "all"].set_index(["h3", "column"])["value"]
        for kind in ("week", "month", "lagesbild"):
            part = long[long["period_kind"] == kind].groupby(["h3", "column"])["value"]
            sums, hidden = part.sum(min_count=0), part.apply(lambda v: v.isna().sum())
            joined = pd.DataFrame({"parent": whole, "sum": sums, "hidden": hidden}).dropna(subset=["sum"], how="all")
            joined = joined[joined.index.isin(whole.index)].fillna({"sum": 0, "hidden": 0})
            bad = _violations(joined["parent"], joined["sum"], joined["hidden"], threshold)
            assert not bad.any(), (res, kind, joined[bad].head(3))
        # A lägesbild period = Σ its ISO weeks.
        weeks = long[long["period_kind"] == "week"]
        periods = long[long["period_kind"] == "lagesbild"][["h3", "column", "period", "period_start", "period_end", "value"]]
        merged = periods.merge(weeks[["h3", "column", "period_start", "value"]], on=["h3", "column"], suffixes=("", "_w"))
        merged = merged[(merged["period_start_w"] >= merged["period_start"]) & (merged["period_start_w"] < merged["period_end"])]
        part = merged.groupby(["h3", "column", "period"])["value_w"]
        joined = periods.set_index(["h3", "column", "period"])["value"].to_frame("parent")
        joined["sum"] = part.sum(min_count=0)
        joined["hidden"] = part.apply(lambda v: v.isna().sum())
        joined = joined.fillna({"sum": 0, "hidden": 0})
        bad = _violations(joined["parent"], joined["sum"], joined["hidden"], threshold)
        assert not bad.any(), (res, "lagesbild = Σ weeks", joined[bad].head(3))
        # Over space: a cell = Σ its children one resolution finer.
        if res + 1 in tables:
            child = tables[res + 1].apply(lambda c: pd.to_numeric(c, errors="coerce") if _COUNT.match(c.name) else c)
            child = child.assign(parent=[h3.cell_to_parent(c, res) for c in child["h3"]])
            child_long = child.melt(id_vars=["parent", "period_kind", "period"], value_vars=count_columns,
                                    var_name="column", value_name="value")
            part = child_long.groupby(["parent", "period_kind", "period", "column"])["value"]
            joined = long.set_index(["h3", "period_kind", "period", "column"])["value"].to_frame("parent")
            joined.index.names = ["parent", "period_kind", "period", "column"]
            joined["sum"] = part.sum(min_count=0)
            joined["hidden"] = part.apply(lambda v: v.isna().sum())
            joined = joined.fillna({"sum": 0, "hidden": 0})
            bad = _violations(joined["parent"], joined["sum"], joined["hidden"], threshold)
            assert not bad.any(), (res, "cell = Σ children", joined[bad].head(3))
    assert counted > 1000


def test_collections_that_repeat_a_table_suppress_the_same_counts(published: dict[str, dict[str, Any]]) -> None:
    """`incident-density` repeats one resolution, `hotspots` its counts: both must hide
    exactly what the resolution's own collection hides, or one would fill the other's gaps."""
    for cid in ("incident-density", "hotspots"):
        if cid not in published:
            continue
        frame = published[cid]["frame"]
        res = int(frame["resolution"].iloc[0])
        same = published.get(f"incident-density-r{res}", published[cid])["frame"]
        key = ["h3", "period_kind", "period_start"]
        merged = frame[[*key, "count"]].merge(same[[*key, "count"]], on=key, how="left", suffixes=("", "_res"),
                                              indicator=True)
        # A cell and period without a row in the density table had no incidents: a known 0.
        merged.loc[merged["_merge"] == "left_only", "count_res"] = 0
        assert (merged["count"].isna() == merged["count_res"].isna()).all(), cid
        both = merged.dropna(subset=["count", "count_res"])
        assert (both["count"] == both["count_res"]).all(), cid


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2 ** zoom
    return int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n), int((lon + 180.0) / 360.0 * n)


def _tile_lonlat(zoom: int, row: int, col: int, x: float, y: float, extent: int) -> tuple[float, float]:
    n = 2 ** zoom
    lon = (col + x / extent) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (row + y / extent) / n))))
    return lon, lat


def test_vector_tiles_hold_nothing_the_features_do_not(public: str, published: dict[str, dict[str, Any]],
                                                       demo: Settings) -> None:
    mvt = pytest.importorskip("mapbox_vector_tile")
    tiled = [cid for cid, data in published.items() if any("tilesets" in rel for rel in data["rels"])]
    if not tiled:
        pytest.skip("no collection is published as vector tiles")
    threshold = demo.privacy_min_count
    suppression = disclosure.method(demo) == "suppression"
    centre = demo.municipality["centre_wgs84"]
    decoded = 0
    samples: list[tuple[str, Any, str, Any]] = []
    for cid in tiled:
        item_points = _points(published[cid]["features"])
        counts = set(count_columns(published[cid]["frame"]))
        tree = cKDTree(np.c_[_TO_3006.transform(item_points[:, 0], item_points[:, 1])]) if len(item_points) else None
        for zoom in (11, 14):
            row0, col0 = _tile(centre["lon"], centre["lat"], zoom)
            for row in (row0 - 1, row0, row0 + 1):
                for col in (col0 - 1, col0, col0 + 1):
                    response = requests.get(f"{public}/collections/{cid}/tiles/WebMercatorQuad/{zoom}/{row}/{col}",
                                            params={"f": "mvt"}, timeout=60)
                    assert response.status_code in (200, 204, 404), (cid, response.status_code)
                    if response.status_code != 200 or not response.content:
                        continue
                    layers = mvt.decode(response.content, default_options={"y_coord_down": True})
                    for layer in layers.values():
                        extent = layer.get("extent", 4096)
                        for feature in layer["features"]:
                            props = feature["properties"]
                            assert not PRIVATE_PROPERTIES & set(props), (cid, sorted(props))
                            for name, value in props.items():
                                if name in counts and isinstance(value, (int, float)) and not isinstance(value, bool):
                                    if suppression:
                                        assert value == 0 or value >= threshold, (cid, name, value)
                                    elif "id" in props and len(samples) < 40:  # checked against the item below
                                        samples.append((cid, props["id"], name, value))
                            geometry = feature["geometry"]
                            if geometry["type"] == "Point" and tree is not None:
                                lon, lat = _tile_lonlat(zoom, row, col, *geometry["coordinates"][:2], extent)
                                distance, _ = tree.query(np.c_[_TO_3006.transform(lon, lat)])
                                pixel_m = 40075016.7 * math.cos(math.radians(lat)) / (2 ** zoom * extent)
                                assert distance[0] <= 2 * pixel_m + 0.01, (cid, lon, lat, distance[0])
                            decoded += 1
    assert decoded > 0
    # Cell-key: a tile's count is the perturbed value the item serves, not another one.
    assert suppression or samples
    for cid, fid, name, value in samples:
        if cid == "incident-density":  # the tiles pick the resolution by zoom: the item is in that collection
            cid = f"incident-density-r{h3.get_resolution(str(fid).split('-')[0])}"
        item = requests.get(f"{public}/collections/{cid}/items/{fid}", params={"f": "json"}, timeout=60)
        assert item.status_code == 200, (cid, fid)
        assert item.json()["properties"][name] == value, (cid, fid, name, value)


def test_coverages_and_report_hold_no_free_text(public: str, published: dict[str, dict[str, Any]], demo: Settings) -> None:
    store = open_store(demo)
    secrets = {s for s in store.read("incidents")["description"].dropna() if len(s) >= 12}
    walks = store.read("walks")
    secrets |= {s for s in set(walks["proposal"].dropna()) | set(walks["responsible"].dropna()) if len(s) >= 12}
    bodies: list[bytes] = []
    for cid, data in published.items():
        if any("coverage" in rel for rel in data["rels"]):
            response = requests.get(f"{public}/collections/{cid}/coverage", params={"f": "json"}, timeout=120)
            assert response.status_code < 500, (cid, response.text[:200])
            bodies.append(response.content)
    processes = requests.get(f"{public}/processes", params={"f": "json"}, timeout=60)
    if processes.ok and any(p["id"] == "lagesbild" for p in processes.json().get("processes", [])):
        report = requests.post(f"{public}/processes/lagesbild/execution", json={"inputs": {"format": "html"}}, timeout=600)
        assert report.status_code == 200, report.text[:500]
        bodies.append(report.content)
    if not bodies:
        pytest.skip("neither coverages nor the report are published")
    text = b"\n".join(bodies).decode("utf-8", errors="replace")
    leaked = [s for s in secrets if s in text]
    assert not leaked, leaked[:3]
