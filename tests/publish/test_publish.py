"""The publish step against a real granian + pygeoapi server on a free port.

Fixtures build a tiny workspace: a layers/ folder declaring four collections (two
public and built, one internal, one public but not built yet) and GeoPackages in
`published/build-1`, reached through the `current` symlink as the build leaves it.
Expected answers are computed here from the same frames with shapely/pyproj, so the
tests pin behaviour, not numbers copied from a run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj
import pytest
import requests
import shapely
import yaml
from live_server import free_port, wait_until_serving

from estgeo.config import Settings, load_settings
from estgeo.publish.crs import CRS84_URI as CRS84
from estgeo.publish.crs import EPSG_3006
from estgeo.publish.pygeoapi_config import pygeoapi_config, write_pygeoapi_files

REPO = Path(__file__).resolve().parents[2]
CENTRE = (13.1433, 59.8366)  # Sunne centre, lon/lat
CENTRE_3006 = (6634672, 395936)  # the same point in SWEREF 99 TM, official order N, E
#: A SWEREF 99 TM box (northing, easting order) around the centre.
BOX_3006 = (6633500.0, 395000.0, 6635500.0, 397000.0)
TOTAL_PLACES = 26

LAYERS_YML = """
builder: test_builder
collections:
  - id: otrygga_platser
    title: {sv: Otrygga platser, en: Unsafe places}
    description: {sv: Platser från trygghetsvandringar, en: Places from safety walks}
    keywords: [trygghet, trygghetsvandring]
    audience: public
    time_field: walk_date
    tiles: false
  - id: belysning
    title: {sv: Belysningspunkter, en: Street lights}
    description: {sv: Gatubelysningens lampor, en: Street lighting points}
    keywords: [belysning]
    audience: public
    tiles: true
  - id: handelser
    title: {sv: Händelser, en: Incidents}
    description: {sv: Råa händelser, en: Raw incidents}
    audience: internal
  - id: framtida
    title: {sv: Framtida lager, en: Future layer}
    description: {sv: Ännu inte byggt, en: Not built yet}
    audience: public
"""


# Data -------------------------------------------------------------------------------
def _edge_point() -> tuple[float, float]:
    """A point 5 m inside BOX_3006 that a corner-to-corner transformed box misses."""
    from pygeoapi.crs import transform_bbox

    corners = transform_bbox(list(BOX_3006), EPSG_3006, CRS84)
    naive = shapely.box(*corners)
    to_lonlat = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84")
    n0, e0, n1, e1 = BOX_3006
    for e in range(int(e0) + 5, int(e1) - 5, 50):
        for n in (n0 + 5, n1 - 5):
            lon, lat = to_lonlat.transform(n, e)
            if not naive.contains(shapely.Point(lon, lat)):
                return lon, lat
    raise AssertionError("no edge point found; the test box is too small")


def places_frame() -> gpd.GeoDataFrame:
    """Unsafe places: nullable ints, floats, strings, bools and ISO dates."""
    n = TOTAL_PLACES - 2
    lon = [CENTRE[0] - 0.03 + 0.0025 * i for i in range(n)]
    lat = [CENTRE[1] - 0.012 + 0.001 * i for i in range(n)]
    edge = _edge_point()
    frame = pd.DataFrame(
        {
            "id": [f"op-{i:02d}" for i in range(n)] + ["centrum", "kant"],
            "antal": pd.array([None if i % 5 == 0 else i % 4 for i in range(n)] + [7, 1], dtype="Int64"),
            "andel": [round(0.1 * i, 2) for i in range(n)] + [0.5, 0.25],
            "status": ["ny" if i % 2 else "atgardad" for i in range(n)] + ["ny", "planerad"],
            "belysning_saknas": pd.array([i % 3 == 0 for i in range(n)] + [True, None], dtype="boolean"),
            "walk_date": [f"2024-{1 + i % 9:02d}-{10 + i % 10}" for i in range(n)] + ["2024-06-01", None],
        }
    )
    points = shapely.points(lon + [CENTRE[0], edge[0]], lat + [CENTRE[1], edge[1]])
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4326")


def lights_frame(count: int = 12) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": [f"L{i}" for i in range(count)],
            "lamp_type": ["led" if i % 3 else "hogtrycksnatrium" for i in range(count)],
            "power_w": [30 + i for i in range(count)],
            "status": ["tand" if i % 4 else "slackt" for i in range(count)],
        },
        geometry=shapely.points([CENTRE[0] + 0.001 * i for i in range(count)], [CENTRE[1]] * count),
        crs="EPSG:4326",
    )


def write_layer(folder: Path, name: str, frame: gpd.GeoDataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_file(folder / f"{name}.gpkg", layer=name, driver="GPKG")


def switch_current(published: Path, build: str) -> None:
    """Point `current` at another build the way the build step does: atomically."""
    tmp = published / ".current.tmp"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(build)
    os.replace(tmp, published / "current")


@pytest.fixture(scope="module")
def publish_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("publish")
    layers = root / "layers"
    layers.mkdir()
    (layers / "test.yml").write_text(LAYERS_YML, encoding="utf-8")
    workspace = root / "ws"
    build = workspace / "published" / "build-1"
    write_layer(build, "otrygga_platser", places_frame())
    write_layer(build, "belysning", lights_frame())
    write_layer(build, "handelser", lights_frame(3))
    switch_current(workspace / "published", "build-1")
    return load_settings(workspace=workspace, layers_dir=layers)


@pytest.fixture(scope="module")
def places() -> gpd.GeoDataFrame:
    return places_frame()




@pytest.fixture(scope="module")
def server(publish_settings: Settings) -> Iterator[str]:
    """`estgeo.publish.serve.serve` in a child process, as the CLI would run it."""
    port = free_port()
    workspace, layers = str(publish_settings.workspace), str(publish_settings.layers_dir)
    script = (
        "import sys\n"
        "from estgeo.config import load_settings\n"
        "from estgeo.publish.serve import serve\n"
        f"s = load_settings(workspace={workspace!r}, layers_dir={layers!r})\n"
        f"sys.exit(serve(s, '127.0.0.1', {port}, 1))\n"
    )
    log = publish_settings.workspace / "serve.log"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, log)
    except RuntimeError as exc:
        process.kill()
        pytest.fail(str(exc))
    yield base
    process.send_signal(signal.SIGINT)  # what Ctrl-C does
    # A reload just before (the last test) may still be replacing workers: allow for it.
    assert process.wait(timeout=90) == 0, log.read_text()
    assert not (publish_settings.workspace / "pygeoapi" / "server.pid").exists()


def get(url: str, **params: Any) -> requests.Response:
    return requests.get(url, params={"f": "json", **params}, timeout=30)


def items(base: str, collection: str = "otrygga_platser", **params: Any) -> dict[str, Any]:
    response = get(f"{base}/collections/{collection}/items", **params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(collection: dict[str, Any]) -> list[str]:
    return [f["id"] for f in collection["features"]]


# Configuration (no server) ----------------------------------------------------------
def test_config_publishes_only_built_public_collections(publish_settings: Settings) -> None:
    from pygeoapi.config import validate_config

    config = pygeoapi_config(publish_settings)
    assert set(config["resources"]) == {"otrygga_platser", "belysning"}
    assert validate_config(config)
    assert config["server"]["limits"] == {
        "default_items": 100,
        "max_items": 10000,
        "on_exceed": "throttle",
    }
    assert config["server"]["languages"] == ["sv", "en"]
    places = config["resources"]["otrygga_platser"]
    provider = places["providers"][0]
    assert provider["storage_crs"] == CRS84 and EPSG_3006 in provider["crs"]
    assert provider["time_field"] == "walk_date"
    assert provider["data"].endswith("published/current/otrygga_platser.gpkg")
    bbox = places["extents"]["spatial"]["bbox"]
    assert bbox == pytest.approx(list(places_frame().total_bounds))
    temporal = places["extents"]["temporal"]
    # Dates are Swedish days: 2024-01-10 starts at 23:00 UTC the day before.
    assert temporal["begin"].isoformat() == "2024-01-09T23:00:00+00:00"
    assert "temporal" not in config["resources"]["belysning"]["extents"]


def test_write_files_round_trip(publish_settings: Settings) -> None:
    config_path, openapi_path = write_pygeoapi_files(publish_settings)
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    # pygeoapi compares `datetime=` with these, so they must load back as datetimes.
    assert config["resources"]["otrygga_platser"]["extents"]["temporal"]["begin"].tzinfo is not None
    openapi = yaml.safe_load(openapi_path.read_text(encoding="utf-8"))
    assert "/collections/otrygga_platser/items" in openapi["paths"]


# Server -----------------------------------------------------------------------------
@pytest.mark.slow
class TestLiveServer:
    """Everything a client sees, over HTTP from the one server of this module."""

    def test_serve_prints_urls(self, server: str, publish_settings: Settings) -> None:
        printed = (publish_settings.workspace / "serve.log").read_text()
        assert f"{server}/collections" in printed
        assert f"{server}/collections/otrygga_platser/items" in printed

    def test_collections_lists_public_layers(self, server: str) -> None:
        collections = {c["id"]: c for c in get(f"{server}/collections").json()["collections"]}
        assert {"otrygga_platser", "belysning"} <= set(collections)
        assert "handelser" not in collections  # internal
        places = collections["otrygga_platser"]
        assert places["storageCrs"] == CRS84
        assert EPSG_3006 in places["crs"]
        assert places["extent"]["temporal"]["interval"][0][0].startswith("2024-01-09T23:00")

    @pytest.mark.parametrize(
        ("lang", "title", "description"),
        [
            ("sv", "Otrygga platser", "Platser från trygghetsvandringar"),
            ("en", "Unsafe places", "Places from safety walks"),
        ],
    )
    def test_titles_follow_lang(self, server: str, lang: str, title: str, description: str) -> None:
        response = get(f"{server}/collections/otrygga_platser", lang=lang)
        assert response.json()["title"] == title
        assert response.json()["description"] == description
        assert response.headers["Content-Language"].startswith(lang)
        landing = requests.get(server, params={"f": "html", "lang": lang}, timeout=30)
        assert landing.status_code == 200
        expected = "Trygghetslager – Sunne kommun" if lang == "sv" else "Safety layers – Sunne Municipality"
        # pygeoapi sends HTML as bare text/html (the page's <meta charset> says UTF-8).
        assert expected in landing.content.decode("utf-8")

    def test_paging_follows_next_links(self, server: str) -> None:
        first = items(server, limit=10)
        assert first["numberMatched"] == TOTAL_PLACES
        assert first["numberReturned"] == 10
        seen = ids(first)
        page = first
        while True:
            next_links = [link["href"] for link in page["links"] if link["rel"] == "next"]
            if not next_links:
                break
            page = requests.get(next_links[0], timeout=30).json()
            seen += ids(page)
        assert len(seen) == len(set(seen)) == TOTAL_PLACES
        assert ids(items(server, limit=5, offset=20)) == seen[20:25]

    def test_limit_above_max_is_throttled_not_refused(self, server: str) -> None:
        assert items(server, limit=100000)["numberReturned"] == TOTAL_PLACES
        assert items(server)["numberReturned"] == TOTAL_PLACES  # default 100

    @pytest.mark.parametrize("crs", [EPSG_3006, "EPSG:3006"])
    def test_crs_3006_output_is_northing_easting(self, server: str, crs: str) -> None:
        response = get(f"{server}/collections/otrygga_platser/items/centrum", crs=crs)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Crs"] == f"<{EPSG_3006}>"
        northing, easting = response.json()["geometry"]["coordinates"]
        assert northing == pytest.approx(CENTRE_3006[0], abs=1)
        assert easting == pytest.approx(CENTRE_3006[1], abs=1)
        # The collection answer transforms every feature the same way.
        collection = items(server, crs=crs, limit=100)
        centrum = next(f for f in collection["features"] if f["id"] == "centrum")
        assert centrum["geometry"]["coordinates"] == pytest.approx([northing, easting])

    def test_default_output_is_lon_lat(self, server: str) -> None:
        feature = get(f"{server}/collections/otrygga_platser/items/centrum").json()
        assert feature["geometry"]["coordinates"] == pytest.approx(list(CENTRE))

    def test_bbox_in_crs84(self, server: str, places: gpd.GeoDataFrame) -> None:
        box = (13.12, 59.83, 13.15, 59.84)
        expected = set(places.loc[places.intersects(shapely.box(*box)), "id"])
        found = items(server, bbox=",".join(map(str, box)))
        assert set(ids(found)) == expected and expected
        assert found["numberMatched"] == len(expected)

    @pytest.mark.parametrize("bbox_crs", [EPSG_3006, "EPSG:3006"])
    def test_bbox_in_sweref_is_exact(self, server: str, places: gpd.GeoDataFrame, bbox_crs: str) -> None:
        to_3006 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:3006")
        northing, easting = to_3006.transform(places.geometry.x, places.geometry.y)
        n0, e0, n1, e1 = BOX_3006
        inside = (northing >= n0) & (northing <= n1) & (easting >= e0) & (easting <= e1)
        expected = set(places.loc[inside, "id"])
        found = set(ids(items(server, bbox=",".join(map(str, BOX_3006)), **{"bbox-crs": bbox_crs})))
        assert found == expected
        assert {"centrum", "kant"} <= found  # "kant" is missed by a corner-transformed box

    def test_datetime_instants_and_intervals(self, server: str, places: gpd.GeoDataFrame) -> None:
        dates = places["walk_date"]
        assert set(ids(items(server, datetime="2024-06-01"))) == set(places.loc[dates == "2024-06-01", "id"])
        june_on = set(places.loc[dates >= "2024-06-01", "id"])
        assert set(ids(items(server, datetime="2024-06-01/.."))) == june_on
        assert set(ids(items(server, datetime="2024-06-01T00:00:00+02:00/.."))) == june_on
        before_march = set(places.loc[dates < "2024-03-01", "id"])
        assert set(ids(items(server, datetime="../2024-02-29"))) == before_march
        spring = set(places.loc[(dates >= "2024-03-01") & (dates <= "2024-05-31"), "id"])
        assert set(ids(items(server, datetime="2024-03-01/2024-05-31"))) == spring
        # Instants use the instant: 2024-06-01 is 2024-05-31T22:00Z to 2024-06-01T21:59:59Z.
        assert "centrum" in ids(items(server, datetime="2024-05-31T22:30:00Z"))
        assert "centrum" not in ids(items(server, datetime="2024-05-31T21:30:00Z"))

    def test_datetime_is_refused_where_it_cannot_apply(self, server: str) -> None:
        no_time = get(f"{server}/collections/belysning/items", datetime="2024-01-01")
        assert no_time.status_code == 400
        assert "no time property" in no_time.json()["description"]
        # pygeoapi itself refuses requests wholly outside the temporal extent.
        assert get(f"{server}/collections/otrygga_platser/items", datetime="2030-01-01").status_code == 400

    def test_property_equality(self, server: str, places: gpd.GeoDataFrame) -> None:
        assert set(ids(items(server, status="ny"))) == set(places.loc[places["status"] == "ny", "id"])
        assert set(ids(items(server, antal=3))) == set(places.loc[places["antal"] == 3, "id"])
        lights_out = items(server, "belysning", status="slackt", lamp_type="led")
        assert lights_out["numberMatched"] == 2
        bad = get(f"{server}/collections/otrygga_platser/items", antal="many")
        assert bad.status_code == 400 and "antal" in bad.json()["description"]

    def test_sortby_several_keys_nulls_last(self, server: str, places: gpd.GeoDataFrame) -> None:
        found = items(server, sortby="-antal,+id", properties="antal")
        expected = places.sort_values(["antal", "id"], ascending=[False, True], na_position="last")
        assert ids(found) == list(expected["id"])
        assert [f["properties"]["antal"] for f in found["features"]][-1] is None

    def test_properties_and_skip_geometry(self, server: str) -> None:
        found = items(server, properties="status,walk_date", skipGeometry="true", limit=3)
        for feature in found["features"]:
            assert feature["geometry"] is None
            assert set(feature["properties"]) == {"status", "walk_date"}
        assert get(f"{server}/collections/otrygga_platser/items", properties="nope").status_code == 400

    def test_json_types_survive(self, server: str) -> None:
        props = get(f"{server}/collections/otrygga_platser/items/op-01").json()["properties"]
        assert props == {
            "id": "op-01",
            "antal": 1,
            "andel": 0.1,
            "status": "ny",
            "belysning_saknas": False,
            "walk_date": "2024-02-11",
        }
        kant = get(f"{server}/collections/otrygga_platser/items/kant").json()["properties"]
        assert kant["belysning_saknas"] is None and kant["walk_date"] is None

    def test_queryables_types(self, server: str) -> None:
        response = get(f"{server}/collections/otrygga_platser/queryables")
        properties = response.json()["properties"]
        assert properties["antal"]["type"] == "integer"
        assert properties["andel"]["type"] == "number"
        assert properties["belysning_saknas"]["type"] == "boolean"
        assert properties["walk_date"] == {
            "title": "walk_date", "type": "string", "format": "date", "x-ogc-role": "primary-instant"
        }  # fmt: skip

    @pytest.mark.parametrize(
        ("cql", "select"),
        [
            ("antal > 2 AND status = 'ny'", lambda p: (p["antal"] > 2) & (p["status"] == "ny")),
            # Three-valued logic: rows with a null antal match neither the test nor its negation.
            ("NOT (antal = 1)", lambda p: p["antal"].notna() & (p["antal"] != 1)),
            (
                "antal IS NULL OR andel BETWEEN 0.5 AND 1",
                lambda p: p["antal"].isna() | p["andel"].between(0.5, 1),
            ),
            (
                "status IN ('planerad', 'atgardad')",
                lambda p: p["status"].isin(["planerad", "atgardad"]),
            ),
            ("belysning_saknas = true", lambda p: p["belysning_saknas"].fillna(False)),
            ("walk_date >= DATE('2024-06-01')", lambda p: p["walk_date"].fillna("") >= "2024-06-01"),
            ("id LIKE 'op-1%'", lambda p: p["id"].str.startswith("op-1")),
            (
                "S_INTERSECTS(geometry, POLYGON((13.12 59.83, 13.15 59.83, 13.15 59.84, 13.12 59.84, 13.12 59.83)))",
                lambda p: p.intersects(shapely.box(13.12, 59.83, 13.15, 59.84)),
            ),
        ],
    )
    def test_cql2_filter_is_applied(self, server: str, places: gpd.GeoDataFrame, cql: str, select: Any) -> None:
        expected = set(places.loc[select(places).fillna(False).astype(bool), "id"])
        found = items(server, filter=cql)
        assert set(ids(found)) == expected
        assert found["numberMatched"] == len(expected) < TOTAL_PLACES

    def test_cql2_bbox_in_filter_crs(self, server: str) -> None:
        n0, e0, n1, e1 = BOX_3006
        found = items(
            server,
            filter=f"S_INTERSECTS(geometry, BBOX({n0},{e0},{n1},{e1}))",
            **{"filter-crs": "EPSG:3006"},
        )
        by_bbox = items(server, bbox=",".join(map(str, BOX_3006)), **{"bbox-crs": EPSG_3006})
        assert set(ids(found)) == set(ids(by_bbox))

    @pytest.mark.parametrize(
        ("cql", "message"),
        [
            ("okand_egenskap = 1", "unknown property 'okand_egenskap'"),
            ("antal = 'tre'", "'antal' is integer"),
            ("antal + 1 > 2", "not supported"),
            ("antal >", "CQL2"),  # "ends too early" (estgeo.publish.explain), in the reader's language
        ],
    )
    def test_cql2_errors_are_400_never_ignored(self, server: str, cql: str, message: str) -> None:
        response = get(f"{server}/collections/otrygga_platser/items", filter=cql)
        assert response.status_code == 400
        assert message in response.json()["description"]

    def test_unknown_item_and_collection_are_404(self, server: str) -> None:
        missing = get(f"{server}/collections/otrygga_platser/items/finns-inte")
        assert missing.status_code == 404
        assert "finns-inte" in missing.json()["description"]
        assert get(f"{server}/collections/handelser/items").status_code == 404

    def test_conformance_is_honest(self, server: str) -> None:
        classes = get(f"{server}/conformance").json()["conformsTo"]
        assert not [c for c in classes if "ogcapi-features-4" in c]  # read-only
        assert "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2" in classes
        assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes

    def test_owslib_reads_items(self, server: str) -> None:
        from owslib.ogcapi.features import Features

        api = Features(server)
        assert "otrygga_platser" in [c["id"] for c in api.collections()["collections"]]
        page = api.collection_items("otrygga_platser", limit=5, status="ny")
        assert page["numberReturned"] == 5
        assert {f["properties"]["status"] for f in page["features"]} == {"ny"}
        assert api.collection_item("otrygga_platser", "centrum")["id"] == "centrum"

    def test_build_switch_is_picked_up_without_downtime(self, server: str, publish_settings: Settings) -> None:
        published = publish_settings.published_dir
        build2 = published / "build-2"
        shutil.copytree(published / "build-1", build2)
        (build2 / "belysning.gpkg").unlink()
        write_layer(build2, "belysning", lights_frame(5))
        failures: list[str] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                response = get(f"{server}/collections/belysning/items", limit=1)
                if response.status_code != 200:
                    failures.append(response.text)

        poller = threading.Thread(target=keep_asking)
        poller.start()
        try:
            for build in ("build-2", "build-1", "build-2"):
                switch_current(published, build)
                time.sleep(0.3)
            assert items(server, "belysning")["numberMatched"] == 5
        finally:
            switch_current(published, "build-1")
            stop.set()
            poller.join()
        assert items(server, "belysning")["numberMatched"] == 12
        assert not failures

    def test_reload_publishes_a_new_collection(self, server: str, publish_settings: Settings) -> None:
        from estgeo.publish.serve import reload

        published = publish_settings.published_dir
        build3 = published / "build-3"
        shutil.copytree(published / "build-1", build3)
        write_layer(build3, "framtida", lights_frame(2))
        switch_current(published, "build-3")
        try:
            assert reload(publish_settings)
            deadline = time.monotonic() + 30
            # Old workers serve on while the new ones start (a graceful reload), so wait
            # until every answer, from whichever worker, lists and serves the new collection.
            settled = 0
            while settled < 20:
                assert time.monotonic() < deadline, "new collection not published after reload"
                listed = "framtida" in [c["id"] for c in get(f"{server}/collections").json()["collections"]]
                served = get(f"{server}/collections/framtida/items").status_code == 200
                settled = settled + 1 if listed and served else 0
                time.sleep(0.05)
            assert items(server, "framtida")["numberMatched"] == 2
        finally:
            switch_current(published, "build-1")
            reload(publish_settings)
