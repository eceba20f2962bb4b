"""Vector tiles: encoded at build time (estgeo.build.tiles), served over OGC API Tiles.

A tiny build with H3 density at two resolutions (and the default collection tiled by zoom
from them) and street lights is tiled, then served by a real server. Positions are
checked by decoding tiles back to lon/lat, not by comparing bytes.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import geopandas as gpd
import h3
import mapbox_vector_tile
import morecantile
import numpy as np
import pandas as pd
import pytest
import shapely
from app_client import AppClient
from pmtiles.reader import MmapSource, Reader

from estgeo.build.tiles import (
    EXTENT,
    latest_periods,
    resolution_for_zoom,
    tile_sets,
    tiles_of,
    to_tile_coordinates,
    write_tiles,
)
from estgeo.config import Settings, load_settings

CENTRE = (13.1433, 59.8366)  # Sunne, lon/lat
WMQ = morecantile.tms.get("WebMercatorQuad")
LAYERS_YML = """
builder: test
collections:
  - id: dens
    title: {sv: Täthet, en: Density}
    description: {sv: Händelser per cell, en: Incidents per cell}
    tiles: true
  - id: dens-r7
    title: {sv: Täthet r7, en: Density r7}
    tiles: true
  - id: dens-r9
    title: {sv: Täthet r9, en: Density r9}
    tiles: true
  - id: lights
    title: {sv: Belysning, en: Street lights}
    tiles: {minzoom: 12, maxzoom: 15}
  - id: hidden
    title: {sv: Intern, en: Internal}
    audience: internal
    tiles: true
"""


def hexes(resolution: int) -> gpd.GeoDataFrame:
    """The cells around the centre, two periods of each kind (the latest one complete)."""
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(CENTRE[1], CENTRE[0], resolution), 2))
    rows = []
    for kind, starts in (("week", ["2024-05-06", "2024-05-13", "2024-05-20"]), ("all", ["2024-01-01"])):
        for i, start in enumerate(starts):
            complete = kind == "all" or i < 2  # the last week is still running
            for n, cell in enumerate(cells):
                rows.append({"id": f"{cell}-{kind}-{start}", "h3": cell, "resolution": resolution, "period_kind": kind,
                             "period_start": pd.Timestamp(start), "complete": complete,
                             "count": float(n) if n % 3 else np.nan, "suppressed": n % 3 == 0})
    frame = pd.DataFrame(rows)
    polygons = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in frame["h3"]]
    return gpd.GeoDataFrame(frame, geometry=polygons, crs="OGC:CRS84")


def lights() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["centre", "east"], "status": ["tand", "slackt"], "power_w": [60.0, 45.0]},
        geometry=shapely.points([CENTRE, (CENTRE[0] + 0.01, CENTRE[1])]), crs="OGC:CRS84",
    )


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("tiles")
    (root / "layers").mkdir()
    (root / "layers" / "test.yml").write_text(LAYERS_YML, encoding="utf-8")
    settings = load_settings(workspace=root / "ws", layers_dir=root / "layers")
    build = settings.published_dir / "builds" / "b1"
    build.mkdir(parents=True)
    frames = {"dens": hexes(9), "dens-r7": hexes(7), "dens-r9": hexes(9), "lights": lights(), "hidden": lights()}
    for name, frame in frames.items():
        frame.to_file(build / f"{name}.gpkg", layer=name, driver="GPKG")
    write_tiles(settings, build)
    os.symlink("builds/b1", settings.published_dir / "current")
    return settings


def decode(data: bytes, layer: str, z: int, x: int, y: int) -> list[dict]:
    """A tile's features with lon/lat coordinates."""
    features = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})[layer]["features"]
    bounds = WMQ.xy_bounds(morecantile.Tile(x, y, z))

    def to_lonlat(coords: list[float]) -> tuple[float, float]:
        mx = bounds.left + coords[0] / EXTENT * (bounds.right - bounds.left)
        my = bounds.top - coords[1] / EXTENT * (bounds.top - bounds.bottom)
        return WMQ.lnglat(mx, my)

    for feature in features:
        if feature["geometry"]["type"] == "Point":
            feature["lonlat"] = to_lonlat(feature["geometry"]["coordinates"])
    return features


# Planning and encoding (no server) -----------------------------------------------
def test_resolution_grows_with_zoom() -> None:
    chosen = [resolution_for_zoom([7, 8, 9, 10], z, CENTRE[1]) for z in range(10, 17)]
    assert chosen == sorted(chosen) and chosen[0] == 7 and chosen[-1] == 10


def test_tile_sets_follow_the_declarations(tiled: Settings) -> None:
    sets = {s.collection: s for s in tile_sets(tiled)}
    assert "hidden" not in sets  # internal collections are never tiled
    assert set(sets["dens"].sources.values()) == {"dens-r7", "dens-r9"}
    assert sets["dens"].sources[10] == "dens-r7" and sets["dens"].sources[16] == "dens-r9"
    assert (sets["lights"].minzoom, sets["lights"].maxzoom) == (12, 15)
    assert sets["dens-r9"].minzoom > sets["dens-r7"].minzoom  # small hexagons start later


def test_a_point_lands_in_its_tile_at_the_right_place() -> None:
    mercator = gpd.GeoSeries(shapely.points([CENTRE]), crs="OGC:CRS84").to_crs("EPSG:3857").to_numpy()
    feature, x, y = tiles_of(mercator, 14)
    expected = WMQ.tile(*CENTRE, 14)
    assert (feature.tolist(), x.tolist(), y.tolist()) == ([0], [expected.x], [expected.y])
    local = shapely.get_coordinates(to_tile_coordinates(mercator[feature], x, y, 14))[0]
    bounds = WMQ.xy_bounds(expected)
    mx, my = shapely.get_coordinates(mercator[0])[0]
    assert local[0] == pytest.approx((mx - bounds.left) / (bounds.right - bounds.left) * EXTENT)
    assert local[1] == pytest.approx((bounds.top - my) / (bounds.top - bounds.bottom) * EXTENT)


def test_latest_complete_period_of_each_kind() -> None:
    kept = latest_periods(hexes(7))
    starts = kept.groupby("period_kind")["period_start"].unique()
    assert list(starts["week"]) == [pd.Timestamp("2024-05-13")]  # 2024-05-20 is not complete
    assert list(starts["all"]) == [pd.Timestamp("2024-01-01")]


def test_build_writes_tiles_metadata_and_archive(tiled: Settings) -> None:
    tiles = tiled.published_dir / "current" / "tiles"
    tileset = json.loads((tiles / "lights" / "tileset.json").read_text(encoding="utf-8"))
    assert tileset["tilejson"]["minzoom"] == 12 and tileset["tilejson"]["vector_layers"][0]["id"] == "lights"
    assert tileset["tilejson"]["vector_layers"][0]["fields"]["power_w"] == "Number"
    assert not (tiles / "hidden").exists()
    reader = Reader(MmapSource(open(tiles / "estgeo.pmtiles", "rb")))  # noqa: SIM115 — closed with the process
    assert reader.header()["max_zoom"] == 16
    layers = {layer["id"] for layer in reader.metadata()["vector_layers"]}
    assert layers == {"dens", "lights"}  # dens-rN are in dens already
    t = WMQ.tile(*CENTRE, 14)
    merged = mapbox_vector_tile.decode(gzip.decompress(reader.get(14, t.x, t.y)))
    assert set(merged) == {"dens", "lights"}


def test_suppressed_counts_stay_out_of_tiles(tiled: Settings) -> None:
    t = WMQ.tile(*CENTRE, 13)
    data = (tiled.published_dir / "current" / "tiles" / "dens" / "13" / str(t.x) / f"{t.y}.mvt").read_bytes()
    features = decode(data, "dens", 13, t.x, t.y)
    assert {f["properties"]["period_kind"] for f in features} == {"week", "all"}
    assert {f["properties"]["period_start"] for f in features} == {"2024-05-13", "2024-01-01"}
    for feature in features:
        props = feature["properties"]
        assert props["resolution"] == 9
        assert ("count" in props) != props["suppressed"]  # a null count is left out, never 0


# Over HTTP ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tiled: Settings) -> AppClient:
    """The app in-process (tests/app_client.py): the tile fast path is WSGI middleware."""
    return AppClient(tiled)


def tile_url(base: str, collection: str, z: int, row: int, col: int) -> str:
    return f"{base}/collections/{collection}/tiles/WebMercatorQuad/{z}/{row}/{col}"


@pytest.mark.slow
class TestTileServer:
    def test_tile_places_the_light_in_sunne(self, server: AppClient) -> None:
        t = WMQ.tile(*CENTRE, 15)
        for query in ("?f=mvt", ""):
            response = server.get(tile_url(server, "lights", 15, t.y, t.x) + query, timeout=10)
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
        features = {f["properties"]["id"]: f for f in decode(response.content, "lights", 15, t.x, t.y)}
        assert features["centre"]["lonlat"] == pytest.approx(CENTRE, abs=1e-5)
        assert features["centre"]["properties"] == {"id": "centre", "status": "tand", "power_w": 60}

    def test_empty_tile_is_204_and_outside_is_404(self, server: AppClient, tiled: Settings) -> None:
        t = WMQ.tile(*CENTRE, 15)
        # Within the tile set's limits at zoom 16 but without a feature: an empty tile.
        folder = tiled.published_dir / "current" / "tiles" / "dens-r9"
        lim = json.loads((folder / "tileset.json").read_text(encoding="utf-8"))["limits"]["16"]
        empty = next((row, col) for row in range(lim["minTileRow"], lim["maxTileRow"] + 1)
                     for col in range(lim["minTileCol"], lim["maxTileCol"] + 1)
                     if not (folder / "16" / str(col) / f"{row}.mvt").exists())
        for query in ("", "?f=mvt"):
            answer = server.get(tile_url(server, "dens-r9", 16, *empty) + query, timeout=10)
            assert answer.status_code == 204 and not answer.content
        assert server.get(tile_url(server, "lights", 15, t.y + 50, t.x), timeout=10).status_code == 404
        assert server.get(tile_url(server, "lights", 11, t.y, t.x), timeout=10).status_code == 404  # below minzoom
        other = server.get(f"{server}/collections/lights/tiles/WorldCRS84Quad/3/1/1", params={"f": "mvt"}, timeout=10)
        assert other.status_code == 404 and "WebMercatorQuad" in other.json()["description"]

    def test_tilejson_and_tileset_metadata(self, server: AppClient) -> None:
        tilejson = server.get(f"{server}/collections/dens/tiles/WebMercatorQuad/metadata",
                                params={"f": "tilejson", "lang": "en"}, timeout=10).json()
        assert tilejson["tilejson"] == "3.0.0" and tilejson["name"] == "Density"
        assert tilejson["tiles"] == [f"{server}/collections/dens/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt"]
        assert (tilejson["minzoom"], tilejson["maxzoom"]) == (10, 16)
        assert tilejson["bounds"][0] < CENTRE[0] < tilejson["bounds"][2]
        swedish = server.get(f"{server}/collections/dens/tiles/WebMercatorQuad/metadata",
                               params={"f": "tilejson", "lang": "sv"}, timeout=10).json()
        assert swedish["name"] == "Täthet"
        tileset = server.get(f"{server}/collections/dens/tiles/WebMercatorQuad", params={"f": "json"}, timeout=10).json()
        assert tileset["dataType"] == "vector" and tileset["crs"].endswith("3857")
        assert [lim["tileMatrix"] for lim in tileset["tileMatrixSetLimits"]] == [str(z) for z in range(10, 17)]
        listing = server.get(f"{server}/collections/dens/tiles", params={"f": "json"}, timeout=10).json()
        assert [t["tileMatrixSetURI"].rsplit("/", 1)[-1] for t in listing["tilesets"]] == ["WebMercatorQuad"]

    def test_collections_without_tiles_have_none(self, server: AppClient) -> None:
        collection = server.get(f"{server}/collections/lights", params={"f": "json"}, timeout=10).json()
        assert any("tilesets-vector" in link["rel"] for link in collection["links"])
        assert server.get(f"{server}/collections/hidden/tiles", params={"f": "json"}, timeout=10).status_code == 404

    def test_a_new_build_serves_its_own_tiles(self, server: AppClient, tiled: Settings) -> None:
        published = tiled.published_dir
        t = WMQ.tile(*CENTRE, 15)
        url = tile_url(server, "lights", 15, t.y, t.x)
        before = server.get(url, timeout=10).content
        shutil.copytree(published / "builds" / "b1", published / "builds" / "b2")
        tile = published / "builds" / "b2" / "tiles" / "lights" / "15" / str(t.x) / f"{t.y}.mvt"
        tile.unlink()  # a hard link may share the file with others: replace it, do not write into it
        replaced = mapbox_vector_tile.encode([{"name": "lights", "features": []}])
        tile.write_bytes(replaced)
        try:
            switch(published, "builds/b2")
            for _ in range(4):  # whichever worker answers, not a tile it read before
                assert server.get(url, timeout=10).content == replaced != before
        finally:
            switch(published, "builds/b1")
        assert server.get(url, timeout=10).content == before


def switch(published: Path, target: str) -> None:
    tmp = published / ".current.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, published / "current")
