"""config/estgeo.yml's `postgis:` section: tiles cut in the database, and no exact count
of huge tables.

With the PostGIS store, `postgis.tiles: database` serves every vector tile from PostGIS
(ST_AsMVT, estgeo.publish.postgis_provider.PostgisTileProvider); a map must not see any
difference from the pre-generated tiles: the same features, the same properties, at every
zoom where the source resolution changes. `exact_count_max_rows` leaves numberMatched out
of the pages of a bigger table, while paging and `resulttype=hits` keep working. With
the embedded store both settings change nothing, and that is checked too: the suite runs
once per backend.
"""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import mapbox_vector_tile
import pyogrio
import pytest
import requests
import yaml
from demo_workspace import demo_workspace
from live_server import live_server
from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeofilter.parsers.cql2_text import parse as parse_cql2

from estgeo.config import load_settings
from estgeo.publish.pygeoapi_config import POSTGIS_TILE_PROVIDER, PROVIDER, TILE_PROVIDER, pygeoapi_config
from estgeo.store import is_postgis_url

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CENTRE = (13.14, 59.84)
#: Zooms at each of which the pre-generated incident-density tiles take another H3 resolution.
ZOOMS = (11, 12, 13, 14, 16)


def _tile(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2 ** zoom
    row = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(row)


def _features(data: bytes, layer: str) -> dict[str, tuple[str, dict]]:
    """id → (geometry type, properties) of one MVT layer."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    features = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}).get(layer, {}).get("features", [])
    return {str(f["properties"]["id"]): (f["geometry"]["type"], f["properties"]) for f in features}


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("config") / "config"
    shutil.copytree(REPO / "config", folder)
    project = yaml.safe_load((folder / "estgeo.yml").read_text(encoding="utf-8"))
    project["postgis"] = {"tiles": "database", "exact_count_max_rows": 100}
    (folder / "estgeo.yml").write_text(yaml.safe_dump(project, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def server(config_dir: Path):
    with live_server(demo_workspace(), config_dir=config_dir, workers=2) as (base, _):
        yield base


def test_tiles_from_the_database_are_the_pre_generated_tiles(server: str, config_dir: Path) -> None:
    workspace = demo_workspace()
    settings = load_settings(workspace=workspace, config_dir=config_dir)
    postgis = is_postgis_url(settings.store_url)
    provider = [p for p in pygeoapi_config(settings)["resources"]["incident-density"]["providers"] if p["type"] == "tile"]
    assert provider[0]["name"] == (POSTGIS_TILE_PROVIDER if postgis else TILE_PROVIDER)

    files = workspace / "published" / "current" / "tiles" / "incident-density"
    compared = 0
    for zoom in ZOOMS:
        x, y = _tile(*CENTRE, zoom)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (-1, -1)):
            response = requests.get(f"{server}/collections/incident-density/tiles/WebMercatorQuad/{zoom}/{y + dy}/{x + dx}",
                                    params={"f": "mvt"}, timeout=60)
            path = files / str(zoom) / str(x + dx) / f"{y + dy}.mvt"
            if not path.exists():
                assert response.status_code in (204, 404), (zoom, x + dx, y + dy, response.status_code)
                continue
            assert response.status_code == 200, (zoom, x + dx, y + dy, response.text[:300])
            served, pregenerated = _features(response.content, "incident-density"), _features(path.read_bytes(), "incident-density")
            assert served == pregenerated, f"tile {zoom}/{x + dx}/{y + dy} differs from the pre-generated one"
            compared += len(served)
    assert compared > 500  # the centre tiles hold hundreds of cells: the comparison is not empty


def test_a_table_above_the_count_limit_pages_without_numbermatched(server: str) -> None:
    workspace = demo_workspace()
    rows = pyogrio.read_info(workspace / "published" / "current" / "incident-density.gpkg", layer="incident-density")["features"]
    small = pyogrio.read_info(workspace / "published" / "current" / "unsafe-places.gpkg", layer="unsafe-places")["features"]
    assert rows > 100 > small  # one collection on each side of the configured limit
    postgis = is_postgis_url(load_settings(workspace=workspace).store_url)

    page = requests.get(f"{server}/collections/incident-density/items", params={"f": "json", "limit": 10}, timeout=60).json()
    assert page["numberReturned"] == 10
    assert ("numberMatched" in page) is not postgis
    if not postgis:
        assert page["numberMatched"] == rows
    following = next(link["href"] for link in page["links"] if link["rel"] == "next")
    second = requests.get(following, timeout=60).json()
    assert second["numberReturned"] == 10
    assert not {f["id"] for f in page["features"]} & {f["id"] for f in second["features"]}

    hits = requests.get(f"{server}/collections/incident-density/items", params={"f": "json", "resulttype": "hits"},
                        timeout=60).json()
    assert hits["numberMatched"] == rows
    places = requests.get(f"{server}/collections/unsafe-places/items", params={"f": "json"}, timeout=60).json()
    assert places["numberMatched"] == small


def test_one_postgresql_driver_serves_features_and_tiles(config_dir: Path) -> None:
    """The PostGIS providers run on psycopg 3, the store's driver (pygeoapi's own would ask
    SQLAlchemy for psycopg2, which the project no longer installs): a page of features and a
    tile come back through engines whose DBAPI is psycopg."""
    import importlib

    settings = load_settings(workspace=demo_workspace(), config_dir=config_dir)
    providers = pygeoapi_config(settings)["resources"]["incident-density"]["providers"]
    feature_def = next(p for p in providers if p["type"] == "feature")
    tile_def = next(p for p in providers if p["type"] == "tile")
    if not is_postgis_url(settings.store_url):
        assert feature_def["name"] == PROVIDER and tile_def["name"] == TILE_PROVIDER
        return
    module, _, name = feature_def["name"].rpartition(".")
    features = getattr(importlib.import_module(module), name)(feature_def)
    assert features._engine.dialect.driver == "psycopg"
    page = features.query(limit=3)
    assert len(page["features"]) == 3 and page["features"][0]["geometry"]["type"] == "Polygon"
    # Query parameters are text; typed columns (boolean, integer, date) still compare, as
    # they did when psycopg2 let PostgreSQL coerce them (`estgeo qgis-project` asks this).
    latest = features.query(limit=1, sortby=[{"property": "period_start", "order": "-"}],
                            properties=[("period_kind", "lagesbild"), ("complete", "true"), ("resolution", "9")])
    assert latest["features"] and latest["features"][0]["properties"]["complete"] is True
    start = latest["features"][0]["properties"]["period_start"]
    same = features.query(limit=5, properties=[("period_start", str(start)[:10]), ("period_kind", "lagesbild")])
    assert same["features"] and {str(f["properties"]["period_start"])[:10] for f in same["features"]} == {str(start)[:10]}
    with pytest.raises(ProviderInvalidQueryError, match="invalid input syntax"):
        features.query(limit=1, properties=[("resolution", "x")])
    # CQL2 text literals against typed columns read as the embedded store reads them.
    day = str(start)[:10]
    for text in (f"period_start = '{day}'", f"period_start = DATE('{day}')", "complete IN ('true', 'false')",
                 "resolution BETWEEN '8' AND '9'"):
        assert features.query(limit=2, filterq=parse_cql2(text))["features"], text
    with pytest.raises(ProviderInvalidQueryError, match="period_start is datetime, 'soon' is not one"):
        features.query(limit=1, filterq=parse_cql2("period_start = 'soon'"))
    module, _, name = tile_def["name"].rpartition(".")
    tiles = getattr(importlib.import_module(module), name)(tile_def)
    assert tiles._engine.dialect.driver == "psycopg"
    x, y = _tile(*CENTRE, 13)
    data = tiles.get_tiles(tileset="WebMercatorQuad", z=13, y=y, x=x, format_="mvt")
    assert data and _features(data, "incident-density")
