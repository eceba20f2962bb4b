"""Real clients against a real server on the demo municipality: QGIS (headless, its OAPIF
and vectortile providers and GDAL), GDAL's ogrinfo and OWSLib.

What Debian bookworm ships is what a municipality's GIS staff run: QGIS 3.22 and GDAL 3.6.
Neither asks an OGC API Features server for another CRS than CRS84 (Part 2 support came
in QGIS 3.28 and GDAL 3.7), so "in SWEREF 99 TM" is checked the way those clients give
it: QGIS transforms each feature into an EPSG:3006 project, and the result must agree
with what the server answers for `crs=EPSG:3006` (northing first) and with a known
point in Sunne.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyproj
import pytest
import rasterio
import requests
import shapely
from demo_workspace import demo_workspace
from live_server import live_server

from estgeo.config import load_settings

QGIS_SCRIPT = Path(__file__).resolve().parents[1] / "clients" / "qgis_check.py"
SYSTEM_PYTHON = "/usr/bin/python3"
#: Sunne's centre (lon/lat) and the same point in SWEREF 99 TM (northing, easting).
SUNNE = (13.1433, 59.8366)
SUNNE_3006 = (6634672.0, 395936.0)
#: The collections the map clients (QGIS, GDAL, web maps) must find (coverages last).
REQUIRED = [
    "incident-density", "incident-density-lagesbild", "incident-density-r7", "incident-density-r8", "incident-density-r9",
    "incident-density-r10",
    "hotspots", "unsafe-places", "walks", "interventions", "street-lights", "lighting-insecurity", "dark-gaps",
    "lamps-out", "modelled-light", "modelled-light-repaired",
]
#: The collections web maps draw from vector tiles.
TILED = ["incident-density", "hotspots", "unsafe-places", "street-lights", "dark-gaps"]
TO_3006 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:3006", always_xy=True)


def has_qgis() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server(demo_workspace(), workers=2) as (base, _):
        yield base


@pytest.fixture(scope="module")
def collections(server: str) -> dict[str, dict[str, Any]]:
    answer = requests.get(f"{server}/collections", params={"f": "json"}, timeout=60).json()
    return {c["id"]: c for c in answer["collections"]}


def is_vector(collection: dict[str, Any]) -> bool:
    return any(link["rel"] == "items" for link in collection["links"])


def has_tiles(collection: dict[str, Any]) -> bool:
    return any("tilesets-vector" in link["rel"] for link in collection["links"])


def number_matched(base: str, collection: str) -> int:
    answer = requests.get(f"{base}/collections/{collection}/items", params={"f": "json", "limit": 1}, timeout=60)
    return int(answer.json()["numberMatched"])


def first_feature(base: str, collection: str, **params: str) -> dict[str, Any]:
    answer = requests.get(f"{base}/collections/{collection}/items", params={"f": "json", "limit": 1, "sortby": "id", **params},
                          timeout=60)
    return answer.json()["features"][0]


# Every client ------------------------------------------------------------------------
@pytest.mark.slow
def test_required_collections_in_both_languages(server: str, collections: dict[str, dict[str, Any]]) -> None:
    declared = {c["id"] for c in load_settings().collections}
    assert set(REQUIRED) <= declared, "layers/ must declare every collection the clients need"
    assert set(REQUIRED) <= set(collections), f"not published: {sorted(set(REQUIRED) - set(collections))}"
    for cid in REQUIRED:
        sv = requests.get(f"{server}/collections/{cid}", params={"f": "json", "lang": "sv"}, timeout=30).json()
        en = requests.get(f"{server}/collections/{cid}", params={"f": "json"}, headers={"Accept-Language": "en"},
                          timeout=30).json()
        assert sv["title"] and en["title"] and sv["description"] != en["description"], cid
    for cid in TILED:
        assert has_tiles(collections[cid]), f"{cid} has no vector tiles"
    for cid in ("modelled-light", "modelled-light-repaired"):
        assert not is_vector(collections[cid])
        assert any(link["rel"].endswith("/coverage") for link in collections[cid]["links"])


@pytest.mark.slow
@pytest.mark.skipif(not has_qgis(), reason="Debian's python3-qgis is not installed (tests/system-packages.txt)")
def test_qgis_loads_every_layer(server: str, collections: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    vectors = [cid for cid, c in collections.items() if is_vector(c)]
    samples = {cid: first_feature(server, cid)["id"] for cid in vectors}
    to_mercator = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True)
    far = shapely.Point(to_mercator.transform(12.80, 59.60))  # forest in the south of the municipality
    tiled = {"street-lights": "point", "unsafe-places": "point", "incident-density": "polygon", "hotspots": "polygon",
             "dark-gaps": "polygon"}
    tiles = []
    for cid, kind in tiled.items():
        # Around the collection's first feature (in the town), and far from everything.
        where = shapely.geometry.shape(first_feature(server, cid)["geometry"]).centroid
        near = shapely.Point(to_mercator.transform(where.x, where.y))
        tiles.append({"collection": cid, "layer": cid, "geometry": kind, "extent_3857": list(near.buffer(1500).bounds),
                      "empty_extent_3857": list(far.buffer(1500).bounds)})
    coverages = {cid: {"uri": f"OGCAPI:{server}/collections/{cid}", "samples": {"centre": list(SUNNE)}}
                 for cid, c in collections.items() if not is_vector(c)}
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"base": server, "collections": vectors, "samples": samples, "tiles": tiles,
                                   "coverages": coverages}), encoding="utf-8")
    run = subprocess.run([SYSTEM_PYTHON, str(QGIS_SCRIPT), str(request)], capture_output=True, text=True, timeout=900,
                         env={"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])

    for cid in vectors:
        seen = report["collections"][cid]
        matched = number_matched(server, cid)
        assert seen["valid"], cid
        assert seen["feature_count"] == seen["features_read"] == seen["distinct_ids"] == matched, (cid, seen, matched)
        assert seen["crs"] == "EPSG:4326"  # QGIS 3.22 names CRS84 so (lon/lat order)
        if matched == 0:
            continue
        sample = seen["sample"]
        crs84 = shapely.geometry.shape(first_feature(server, cid)["geometry"])
        point = crs84 if crs84.geom_type == "Point" else crs84.centroid
        assert sample["layer_xy"] == pytest.approx([point.x, point.y], abs=1e-7), cid
        # In an EPSG:3006 project: QGIS's transformation, pyproj's, and the server's own
        # crs=EPSG:3006 answer (northing, easting) all put it in the same place.
        east, north = TO_3006.transform(point.x, point.y)
        assert sample["sweref_en"] == pytest.approx([east, north], abs=0.05), cid
        in_3006 = shapely.geometry.shape(first_feature(server, cid, crs="EPSG:3006")["geometry"])
        as_en = shapely.transform(in_3006, lambda ne: ne[:, ::-1])
        expected = shapely.transform(crs84, lambda xy: list(zip(*TO_3006.transform(xy[:, 0], xy[:, 1]), strict=True)))
        assert shapely.hausdorff_distance(as_en, expected) < 0.5, cid
    # The known point: Sunne's first street light is in the town, in both CRSs.
    light = report["collections"]["street-lights"]["sample"]
    assert math.dist(light["sweref_en"], (SUNNE_3006[1], SUNNE_3006[0])) < 5000
    assert math.dist(light["layer_xy"], SUNNE) < 0.1

    for cid, seen in report["tiles"].items():
        assert seen["valid"] and seen["crs"] == "EPSG:3857", cid
        assert seen["red_pixels"] > 0, f"{cid}: QGIS drew nothing from the vector tiles where the layer has features"
        assert seen["red_pixels_empty_area"] == 0, f"{cid}: features drawn where there are none"

    # The coverages through QGIS's GDAL provider (GDAL's OGC API driver): where the
    # collection says, with the value the published raster holds at Sunne's centre.
    for cid, seen in report["coverages"].items():
        assert seen["valid"], (cid, seen)
        west, south, east, north = collections[cid]["extent"]["spatial"]["bbox"][0]
        assert seen["crs"] == "EPSG:4326" and seen["extent"] == pytest.approx([west, south, east, north], abs=1e-6), cid
        with rasterio.open(demo_workspace() / "published" / "current" / f"{cid}.tif") as ds:
            east_, north_ = TO_3006.transform(*SUNNE)
            expected = next(ds.sample([(east_, north_)]))[0]
        assert seen["samples"]["centre"] == pytest.approx(float(expected), rel=1e-6), cid


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL (gdal-bin) is not installed")
def test_gdal_lists_collections_and_counts(server: str, collections: dict[str, dict[str, Any]]) -> None:
    listing = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{server}"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    listed = set(re.findall(r"^\d+: (\S+) ", listing.stdout, flags=re.MULTILINE))
    vectors = {cid for cid, c in collections.items() if is_vector(c)}
    # The coverages say layerDataType Coverage, so GDAL 3.6 lists the feature collections
    # alone and asks no coverage for /items (it logged a 400 for each before).
    assert listed == vectors and vectors < set(collections)
    every = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"OAPIF:{server}"], capture_output=True, text=True, timeout=300)
    assert every.returncode == 0 and "ERROR" not in every.stdout + every.stderr, every.stderr[-2000:]
    assert {cid for cid, c in collections.items() if c.get("layerDataType") == "Coverage"} == set(collections) - vectors
    for cid in set(collections) - vectors:  # a client that still asks: told where the data is
        answer = requests.get(f"{server}/collections/{cid}/items?f=json", timeout=30)
        assert answer.status_code == 404 and f"/collections/{cid}/coverage" in answer.json()["description"]
    for cid in sorted(vectors):
        summary = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{server}", cid], capture_output=True, text=True, timeout=120)
        count = re.search(r"^Feature Count: (\d+)", summary.stdout, flags=re.MULTILINE)
        assert count and int(count.group(1)) == number_matched(server, cid), (cid, summary.stdout[-500:])
    # All features of a layer, paged by GDAL: as many as the server matched.
    lights = subprocess.run(["ogrinfo", "-ro", "-al", "-q", f"OAPIF:{server}/collections/unsafe-places",
                             "-oo", "PAGE_SIZE=17"], capture_output=True, text=True, timeout=300)
    assert lights.stdout.count("OGRFeature(") == number_matched(server, "unsafe-places")


#: OGR's name of the field type GDAL should make of a JSON Schema type (and format).
OGR_TYPE = {("integer", None): "Integer", ("number", None): "Real", ("boolean", None): "Integer(Boolean)",
            ("string", None): "String", ("string", "date"): "Date", ("string", "date-time"): "DateTime"}


@pytest.mark.slow
def test_gdal_types_every_field_as_the_schema_says(server: str, collections: dict[str, dict[str, Any]]) -> None:
    """GDAL 3.6 types fields from the linked GeoJSON feature schema, not from a guess on the
    first ten features: a count, a measure or a date that is null there (a withheld count, a
    `resolved_at` of an open place) still arrives as a number or a date, as /schema says."""
    for cid in sorted(cid for cid, c in collections.items() if is_vector(c)):
        schema = requests.get(f"{server}/collections/{cid}/schema?f=json", timeout=30).json()["properties"]
        summary = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{server}/collections/{cid}", cid],
                                 capture_output=True, text=True, timeout=120, env={**os.environ, "CPL_DEBUG": "ON"})
        assert "Using JSON schema" in summary.stderr, (cid, summary.stderr[-1500:])
        fields = dict(re.findall(r"^(\w+): (\S+) \(", summary.stdout, flags=re.MULTILINE))
        expected = {name: OGR_TYPE[(spec["type"], spec.get("format"))] for name, spec in schema.items()
                    if "type" in spec and spec.get("x-ogc-role") != "id"}
        assert expected and {name: fields.get(name) for name in expected} == expected, cid


@pytest.mark.slow
def test_owslib_reads_items_in_both_crs(server: str, collections: dict[str, dict[str, Any]]) -> None:
    from owslib.ogcapi.features import Features

    api = Features(server)
    assert {c["id"] for c in api.collections()["collections"]} == set(collections)
    for cid in (cid for cid, c in collections.items() if is_vector(c)):
        page = api.collection_items(cid, limit=3)
        assert page["numberMatched"] == number_matched(server, cid)
        assert page["numberReturned"] == min(3, page["numberMatched"])
    lights = api.collection_items("street-lights", limit=5)
    swept = api.collection_items("street-lights", limit=5, crs="http://www.opengis.net/def/crs/EPSG/0/3006")
    for lonlat, ne in zip(lights["features"], swept["features"], strict=True):
        east, north = TO_3006.transform(*lonlat["geometry"]["coordinates"])
        assert ne["geometry"]["coordinates"] == pytest.approx([north, east], abs=0.01)
    assert api.collection_item("street-lights", lights["features"][0]["id"])["id"] == lights["features"][0]["id"]
