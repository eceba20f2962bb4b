"""Errors that say what to do (estgeo.publish.explain), in Swedish and English, in-process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from app_client import AppClient
from demo_workspace import demo_workspace

from estgeo.config import load_settings
from estgeo.publish.explain import cql_position, easting_first

ITEMS = "/collections/incident-density/items"
SWEREF = "http://www.opengis.net/def/crs/EPSG/0/3006"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> AppClient:
    # A copy: the app writes its pygeoapi files into the workspace, and the shared demo
    # workspace's files belong to the live servers of other tests.
    workspace = Path(shutil.copytree(demo_workspace(), tmp_path_factory.mktemp("explain") / "ws"))
    return AppClient(load_settings(workspace=workspace))


def test_an_unknown_collection_lists_the_collections_in_the_readers_language(server: AppClient) -> None:
    listed = [c["id"] for c in server.get(f"{server}/collections", params={"f": "json"}).json()["collections"]]
    sv = server.get(f"{server}/collections/incident-densty", params={"f": "json", "lang": "sv"})
    assert sv.status_code == 404 and sv.json()["code"] == "NotFound"
    assert sv.json()["description"].startswith("Samlingen 'incident-densty' finns inte")
    assert all(cid in sv.json()["description"] for cid in listed)
    en = server.get(f"{server}/collections/incident-densty/items", params={"f": "json"},
                    headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert en.status_code == 404 and en.json()["description"].startswith("There is no collection 'incident-densty'")


def test_a_cql_error_gives_the_position(server: AppClient) -> None:
    sv = server.get(f"{server}{ITEMS}", params={"f": "json", "filter": "count >> 3", "lang": "sv"})
    assert sv.status_code == 400 and "vid tecken 8: '> 3'" in sv.json()["description"]
    en = server.get(f"{server}{ITEMS}", params={"f": "json", "filter": "count >", "lang": "en"})
    assert en.status_code == 400 and "ends too early" in en.json()["description"]
    assert cql_position("count > 3") is None  # a filter that parses is not explained
    assert server.get(f"{server}{ITEMS}", params={"f": "json", "filter": "count > 3", "limit": "1"}).status_code == 200


def test_an_easting_first_sweref_bbox_is_refused_with_the_corrected_one(server: AppClient) -> None:
    answer = server.get(f"{server}{ITEMS}", params={"f": "json", "lang": "en", "bbox": "395000,6633000,396000,6634000",
                                                    "bbox-crs": SWEREF})
    assert answer.status_code == 400
    assert "Did you mean bbox=6633000,395000,6634000,396000?" in answer.json()["description"]
    right = server.get(f"{server}{ITEMS}", params={"f": "json", "bbox": "6633000,395000,6634000,396000",
                                                   "bbox-crs": SWEREF, "limit": "1"})
    assert right.status_code == 200 and right.json()["numberMatched"] > 0
    # Only a box outside Sweden whose swap lies inside is a mistake; CRS84 is not touched.
    assert easting_first("6633000,395000,6634000,396000", SWEREF) is None
    assert easting_first("13.1,59.8,13.2,59.9", "http://www.opengis.net/def/crs/OGC/1.3/CRS84") is None
    assert easting_first("100,100,200,200", "EPSG:3006") is None


def test_a_value_outside_a_declared_set_is_refused_and_the_set_is_in_the_queryables(server: AppClient) -> None:
    """`?period_kind=foo` answered 0 features, as if there were none that week: it is a 400
    naming the allowed values (layers/*.yml `enums:`), and the queryables and the Part 5
    schema offer the set (QGIS and forms read it there)."""
    sv = server.get(f"{server}{ITEMS}", params={"f": "json", "period_kind": "foo", "lang": "sv"})
    assert sv.status_code == 400 and sv.json()["code"] == "InvalidParameterValue"
    assert sv.json()["description"] == "period_kind: 'foo' är inget av de tillåtna värdena (week, lagesbild, month, all)."
    en = server.get(f"{server}/collections/unsafe-places/items", params={"f": "json", "status": "open", "lang": "en"})
    assert en.status_code == 400 and "is none of the allowed values (ny, planerad, atgardad, avslagen)" in en.json()["description"]
    week = server.get(f"{server}{ITEMS}", params={"f": "json", "period_kind": "week", "limit": "1"})
    assert week.status_code == 200 and week.json()["numberMatched"] > 0
    queryables = server.get(f"{server}/collections/incident-density/queryables", params={"f": "json"}).json()["properties"]
    assert queryables["period_kind"]["enum"] == ["week", "lagesbild", "month", "all"]
    schema = server.get(f"{server}/collections/unsafe-places/schema", params={"f": "json"}).json()["properties"]
    assert schema["status"]["enum"] == ["ny", "planerad", "atgardad", "avslagen"]


def test_every_declared_set_holds_every_value_the_demo_publishes() -> None:
    """The sets are declared once (a list, or a section of config/taxonomy.yml); a value
    in the built data that is not in its set would be refused by the server."""
    import pyogrio

    from estgeo.layers.periods import PERIOD_KINDS
    from estgeo.publish.pygeoapi_config import enum_values

    workspace = demo_workspace()
    settings = load_settings(workspace=workspace)
    current = (workspace / "published" / "current").resolve()
    checked = 0
    for layer in settings.layers:
        for collection in layer.get("collections", []):
            declared = enum_values(settings, collection)
            path = current / f"{collection['id']}.gpkg"
            if not declared or not path.exists():
                continue
            frame = pyogrio.read_dataframe(path, read_geometry=False, columns=list(declared))
            for name, values in declared.items():
                seen = {str(v) for v in frame[name].dropna().unique()}
                assert seen <= {str(v) for v in values}, (collection["id"], name, seen - {str(v) for v in values})
                checked += bool(seen)
            if "period_kind" in declared:  # all kinds, in the code's order; the latest lägesbild holds one
                expected = ["lagesbild"] if collection["id"] == "incident-density-lagesbild" else list(PERIOD_KINDS)
                assert declared["period_kind"] == expected, collection["id"]
    assert checked >= 15


def test_every_published_property_has_a_title_in_both_languages(server: AppClient) -> None:
    """config/fields.yml names every property of every feature collection; the schema
    carries the title in the reader's language (GDAL, QGIS aliases, forms read it)."""
    collections = server.get(f"{server}/collections", params={"f": "json"}).json()["collections"]
    features = [c["id"] for c in collections if c.get("itemType") == "feature"]
    assert len(features) >= 15
    missing = []
    for cid in features:
        sv = server.get(f"{server}/collections/{cid}/schema", params={"f": "json", "lang": "sv"}).json()["properties"]
        en = server.get(f"{server}/collections/{cid}/schema", params={"f": "json"},
                        headers={"Accept-Language": "en-GB,en;q=0.8"}).json()["properties"]
        for name, spec in sv.items():
            if spec.get("x-ogc-role") == "id" or name == "geometry":
                continue
            if not spec.get("title") or not en[name].get("title"):
                missing.append(f"{cid}.{name}")
    assert not missing, missing
    density = server.get(f"{server}/collections/incident-density/schema", params={"f": "json", "lang": "sv"}).json()
    assert density["properties"]["light_darkness"]["title"] == "Antal i mörker"
    assert density["properties"]["cat_klotter"]["title"] == "Antal: Klotter"  # from the taxonomy
    en = server.get(f"{server}/collections/incident-density/schema", params={"f": "json", "lang": "en"}).json()
    assert en["properties"]["light_darkness"]["title"] == "Incidents in darkness"
    assert en["properties"]["count"]["type"] == "integer"  # the title does not displace the type
