"""OGC API Coverages: the modelled-light raster (EPSG:3006) with bbox and subset in SWEREF 99
TM and CRS84, GeoTIFF and CoverageJSON out, and size limits, on a real server.

The raster is a small COG written here: 10 m cells around Sunne whose value is the
column number plus 1000 × the row number, so any answer can be checked cell by cell.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from app_client import AppClient, Response
from live_server import live_server
from rasterio.transform import from_origin

from estgeo.config import Settings, load_settings
from estgeo.publish.pygeoapi_config import pygeoapi_config

CENTRE_3006 = (395936.0, 6634672.0)  # Sunne centre, easting/northing
ORIGIN = (390000.0, 6640000.0)  # west, north edges of the raster
CELL = 10.0
WIDTH, HEIGHT = 1000, 1200  # 10 km × 12 km
NODATA = -1.0
LAYERS_YML = """
builder: lighting
collections:
  - id: modelled-light
    type: coverage
    title: {sv: Modellerad belysning, en: Modelled light}
    description: {sv: Belysningsstyrka på marken (lux), en: Ground illuminance (lux)}
    audience: public
"""
CONFIG_EXTRA = "\n  coverage_max_cells: 400000\n  coverage_max_cells_json: 20000\n"


def cell_values() -> np.ndarray:
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    values = (cols + 1000 * rows).astype("float32")
    values[:10, :10] = NODATA  # a corner with no data
    return values


@pytest.fixture(scope="module")
def coverage_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("coverage")
    (root / "layers").mkdir()
    (root / "layers" / "lighting.yml").write_text(LAYERS_YML, encoding="utf-8")
    config = root / "config"
    config.mkdir()
    repo_config = Path(__file__).resolve().parents[2] / "config"
    for path in repo_config.glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        if path.name == "estgeo.yml":
            text = text.replace("\nserver:\n", "\nserver:" + CONFIG_EXTRA, 1)
        (config / path.name).write_text(text, encoding="utf-8")
    (config / "sources").symlink_to(repo_config / "sources")
    settings = load_settings(workspace=root / "ws", config_dir=config, layers_dir=root / "layers")
    build = settings.published_dir / "builds" / "b1"
    build.mkdir(parents=True)
    profile = {"driver": "COG", "dtype": "float32", "count": 1, "width": WIDTH, "height": HEIGHT, "crs": "EPSG:3006",
               "transform": from_origin(ORIGIN[0], ORIGIN[1], CELL, CELL), "nodata": NODATA, "compress": "deflate"}
    with rasterio.open(build / "modelled-light.tif", "w", **profile) as ds:
        ds.write(cell_values(), 1)
        ds.set_band_description(1, "illuminance_lux")
        ds.set_band_unit(1, "lx")
    os.symlink("builds/b1", settings.published_dir / "current")
    return settings


@pytest.fixture(scope="module")
def server(coverage_settings: Settings) -> AppClient:
    """The app in-process (tests/app_client.py)."""
    return AppClient(coverage_settings)


def coverage(server: AppClient, **params: str) -> Response:
    return server.get(f"{server}/collections/modelled-light/coverage", params=params, timeout=60)


def read_geotiff(content: bytes) -> tuple[np.ndarray, rasterio.Affine, rasterio.crs.CRS]:
    with rasterio.open(io.BytesIO(content)) as ds:
        return ds.read(1), ds.transform, ds.crs


def expected_window(west: float, south: float, east: float, north: float) -> np.ndarray:
    """The cells a box in EPSG:3006 (easting/northing) touches."""
    col0, col1 = int(np.floor((west - ORIGIN[0]) / CELL)), int(np.ceil((east - ORIGIN[0]) / CELL))
    row0, row1 = int(np.floor((ORIGIN[1] - north) / CELL)), int(np.ceil((ORIGIN[1] - south) / CELL))
    return cell_values()[row0:row1, col0:col1]


def test_config_publishes_the_coverage(coverage_settings: Settings) -> None:
    resource = pygeoapi_config(coverage_settings)["resources"]["modelled-light"]
    provider = resource["providers"][0]
    assert provider["type"] == "coverage" and provider["name"].endswith("CoverageProvider")
    assert provider["options"] == {"max_cells": 400000, "max_cells_json": 20000}
    west, south, east, north = resource["extents"]["spatial"]["bbox"]
    lon, lat = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True).transform(*CENTRE_3006)
    assert west < lon < east and south < lat < north


@pytest.mark.slow
class TestCoverageServer:
    def test_conformance_claims_what_is_there(self, server: AppClient) -> None:
        classes = server.get(f"{server}/conformance", params={"f": "json"}, timeout=10).json()["conformsTo"]
        assert "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-subset" in classes
        assert "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/coverage-datetime" not in classes

    def test_collection_describes_the_grid(self, server: AppClient) -> None:
        collection = server.get(f"{server}/collections/modelled-light", params={"f": "json", "lang": "en"}, timeout=10).json()
        assert collection["title"] == "Modelled light"
        # The grid in the extent's CRS (CRS84): as many cells as the raster, in degrees.
        grid = collection["extent"]["spatial"]["grid"]
        west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
        assert [g["cellsCount"] for g in grid] == [WIDTH, HEIGHT]
        assert grid[0]["resolution"] == pytest.approx((east - west) / WIDTH)
        assert grid[1]["resolution"] == pytest.approx((north - south) / HEIGHT)
        schema = server.get(f"{server}/collections/modelled-light/schema", params={"f": "json"}, timeout=10).json()
        assert schema["properties"]["1"]["title"] == "illuminance_lux"

    def test_bbox_in_sweref_northing_first(self, server: AppClient) -> None:
        west, south, east, north = 395000.0, 6634000.0, 395500.0, 6634300.0
        answer = coverage(server, f="GTiff", bbox=f"{south},{west},{north},{east}", **{"bbox-crs": "EPSG:3006"})
        assert answer.status_code == 200, answer.text
        values, transform, crs = read_geotiff(answer.content)
        assert crs.to_epsg() == 3006
        assert (transform.c, transform.f) == (west, north)
        np.testing.assert_array_equal(values, expected_window(west, south, east, north))

    def test_bbox_in_crs84_covers_the_same_place(self, server: AppClient) -> None:
        to_lonlat = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True)
        lon, lat = to_lonlat.transform(*CENTRE_3006)
        answer = coverage(server, f="GTiff", bbox=f"{lon - 0.001},{lat - 0.0005},{lon + 0.001},{lat + 0.0005}")
        values, transform, _ = read_geotiff(answer.content)
        col = int((CENTRE_3006[0] - transform.c) // CELL)
        row = int((transform.f - CENTRE_3006[1]) // CELL)
        expected_col = int((CENTRE_3006[0] - ORIGIN[0]) // CELL)
        expected_row = int((ORIGIN[1] - CENTRE_3006[1]) // CELL)
        assert values[row, col] == expected_col + 1000 * expected_row  # the centre cell is where it belongs
        assert 10 <= values.shape[1] <= 14 and 10 <= values.shape[0] <= 14  # 0.002° × 0.001° at 60° N: 111 × 111 m

    def test_subset_in_either_crs(self, server: AppClient) -> None:
        native = coverage(server, f="GTiff", subset="E(395000:395500),N(6634000:6634300)")
        values, _, _ = read_geotiff(native.content)
        np.testing.assert_array_equal(values, expected_window(395000, 6634000, 395500, 6634300))
        to_lonlat = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True)
        lon, lat = to_lonlat.transform(*CENTRE_3006)
        by_lonlat = coverage(server, f="GTiff", subset=f"Lon({lon - 0.001}:{lon + 0.001}),Lat({lat - 0.0005}:{lat + 0.0005})")
        by_bbox = coverage(server, f="GTiff", bbox=f"{lon - 0.001},{lat - 0.0005},{lon + 0.001},{lat + 0.0005}")
        np.testing.assert_array_equal(read_geotiff(by_lonlat.content)[0], read_geotiff(by_bbox.content)[0])

    def test_coveragejson_keeps_unit_and_nodata(self, server: AppClient) -> None:
        answer = coverage(server, f="json", subset=f"E({ORIGIN[0]}:{ORIGIN[0] + 150}),N({ORIGIN[1] - 100}:{ORIGIN[1]})")
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"].startswith("application/prs.coverage+json")
        cj = answer.json()
        axes = cj["domain"]["axes"]
        assert (axes["x"]["num"], axes["y"]["num"]) == (15, 10)
        assert axes["x"]["start"] == ORIGIN[0] + CELL / 2 and axes["y"]["start"] == ORIGIN[1] - CELL / 2
        assert cj["domain"]["referencing"][0]["system"]["id"] == "http://www.opengis.net/def/crs/EPSG/0/3006"
        assert cj["parameters"]["illuminance_lux"]["unit"] == {"symbol": "lx"}
        values = np.array(cj["ranges"]["illuminance_lux"]["values"], dtype=object).reshape(10, 15)
        assert values[0, 0] is None and values[9, 9] is None  # the nodata corner (10 × 10 cells)
        assert values[0, 10] == 10 and values[9, 14] == 9014 and values[5, 12] == 5012

    def test_whole_file_as_published(self, server: AppClient, coverage_settings: Settings) -> None:
        # 1.2 M cells: over the configured GeoTIFF limit, so refused with the sizes.
        whole = coverage(server, f="GTiff")
        assert whole.status_code == 400
        message = whole.json()["description"]
        assert "1000 × 1200" in message and "400,000" in message and "bbox" in message

    def test_size_limits_are_a_clear_400(self, server: AppClient) -> None:
        big_json = coverage(server, f="json", subset="E(390000:394000),N(6632000:6640000)")
        assert big_json.status_code == 400
        assert "CoverageJSON" in big_json.json()["description"] and "20,000" in big_json.json()["description"]
        # The same area fits as GeoTIFF.
        assert coverage(server, f="GTiff", subset="E(390000:394000),N(6632000:6640000)").status_code == 200

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"bbox": "13,59,14,60", "subset": "E(395000:395500)"}, "not both"),
            ({"bbox": "1,1,2,2"}, "does not overlap"),
            ({"subset": "E(395000:395500),Lat(59:60)"}, "not a mix"),
            ({"subset": "Height(1:2)"}, "axis"),
            ({"bbox": "13.1,59.8,13.2,59.9", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/99999"}, "bbox-crs"),
            ({"bbox": "a,b,c,d"}, "bbox"),
            ({"bbox": "13.1,59.8,13.2"}, "bbox"),
            ({"properties": "7"}, ""),
            ({"datetime": "2024-01-01"}, "no time axis"),
        ],
    )
    def test_bad_requests_are_400(self, server: AppClient, params: dict[str, str], message: str) -> None:
        answer = coverage(server, f="GTiff", **params)
        assert answer.status_code == 400, answer.text
        assert message.lower() in answer.json()["description"].lower()

    def test_scale_size_gives_a_crs84_grid(self, server: AppClient) -> None:
        # What GDAL's OGC API driver asks for: a lon/lat box as exactly w × h cells.
        to_lonlat = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True)
        lon, lat = to_lonlat.transform(*CENTRE_3006)
        answer = coverage(server, f="GTiff", bbox=f"{lon - 0.01},{lat - 0.005},{lon + 0.01},{lat + 0.005}",
                          scaleSize="Lat(50),Long(80)")
        assert answer.status_code == 200, answer.text
        values, transform, crs = read_geotiff(answer.content)
        assert values.shape == (50, 80) and crs.to_epsg() == 4326
        assert (transform.c, transform.f) == pytest.approx((lon - 0.01, lat + 0.005))
        # The cell holding the centre has the value of the raster's cell there (nearest, never blended).
        row, col = int((lat + 0.005 - lat) / 0.0002), int((lon - (lon - 0.01)) / 0.00025)
        expected_col = int((CENTRE_3006[0] - ORIGIN[0]) // CELL)
        expected_row = int((ORIGIN[1] - CENTRE_3006[1]) // CELL)
        assert abs(values[row, col] - (expected_col + 1000 * expected_row)) <= 1000 + 1  # at most one cell away
        assert coverage(server, f="GTiff", scaleSize="Lat(5000),Long(5000)").status_code == 400  # over the limit
        assert coverage(server, f="GTiff", scaleSize="Lat(10)").status_code == 400  # one axis only


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gdallocationinfo") is None, reason="GDAL (gdal-bin) is not installed")
def test_gdal_reads_the_coverage_through_ogc_api(coverage_settings: Settings) -> None:
    """GDAL's OGC API driver (what QGIS's GDAL provider uses) opens the collection and reads
    the value at Sunne's centre, the same as the file holds. GDAL is a client of its own: it
    needs a real server."""
    with live_server(coverage_settings.workspace, config_dir=coverage_settings.config_dir,
                     layers_dir=coverage_settings.layers_dir) as (server, _):
        read = _gdal_value_at_centre(server)
    assert read.returncode == 0, read.stderr
    expected_col = int((CENTRE_3006[0] - ORIGIN[0]) // CELL)
    expected_row = int((ORIGIN[1] - CENTRE_3006[1]) // CELL)
    assert float(read.stdout.strip()) == expected_col + 1000 * expected_row


def _gdal_value_at_centre(server: str) -> subprocess.CompletedProcess:
    to_lonlat = pyproj.Transformer.from_crs("EPSG:3006", "OGC:CRS84", always_xy=True)
    lon, lat = to_lonlat.transform(*CENTRE_3006)
    read = subprocess.run(["gdallocationinfo", "-valonly", "-wgs84", f"OGCAPI:{server}/collections/modelled-light",
                           str(lon), str(lat)], capture_output=True, text=True, timeout=120)
    return read
