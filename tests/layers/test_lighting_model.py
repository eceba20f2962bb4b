"""The modelled-light rasters: photometry, the kernel against a brute-force sum, and the COG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from estgeo.layers.cog import average_2x2
from estgeo.layers.illuminance import (
    MODEL_NAME,
    Grid,
    Lamps,
    LightModel,
    lamp_photometry,
    point_illuminance,
    reach_m,
)
from estgeo.layers.lighting import merged_params
from estgeo.layers.lighting.rasters import lamps_grid, write_modelled_light

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

DATA = Path(__file__).resolve().parents[1] / "data"

#: The layer's defaults, with the smallest COG tiles and 2.5 m pixels, so the fixture spans
#: many tiles (some empty) and has overviews.
MODEL = LightModel.from_params({**merged_params({})["model"], **{
    "efficacy_lm_per_w": {"led": 120, "hogtrycksnatrium": 90, "kvicksilver": 50, "metallhalogen": 80, "okand": 80},
    "default_flux_lm": {"led": 4000, "hogtrycksnatrium": 6500, "kvicksilver": 3500, "metallhalogen": 6500, "okand": 4000},
    "tile_size": 128,
    "resolution_m": 2.5,
}})


@pytest.fixture(scope="module")
def lights() -> pd.DataFrame:
    return pd.read_csv(DATA / "lights_small.csv", dtype={"lamp_type": "string", "status": "string"})


@pytest.fixture(scope="module")
def rendered(lights, tmp_path_factory):
    out = tmp_path_factory.mktemp("light")
    photometry = lamp_photometry(lights, MODEL)
    lamps = Lamps.from_photometry(lights["x"], lights["y"], photometry)
    grid = lamps_grid(lamps, MODEL)
    rasters = write_modelled_light(lamps, grid, MODEL, out / "now.tif", out / "repaired.tif", batch_tiles=5)
    return photometry, grid, rasters


def brute_force(lights: pd.DataFrame, photometry: pd.DataFrame, grid: Grid, lit_only: bool) -> np.ndarray:
    """Every lamp × every pixel centre, straight from the formulas of the module docstring."""
    x, y = grid.pixel_centres()
    total = np.zeros((grid.height, grid.width))
    reached = np.zeros((grid.height, grid.width), dtype=bool)
    for lamp, ph in zip(lights.itertuples(), photometry.itertuples(), strict=True):
        intensity = MODEL.light_loss_factor * ph.flux_model_lm / (2 * math.pi)
        h = ph.height_model_m
        d2 = (x[None, :] - lamp.x) ** 2 + (y[:, None] - lamp.y) ** 2
        e = intensity * h / (h * h + d2) ** 1.5
        inside = (e >= MODEL.cutoff_lux) & (d2 <= MODEL.max_reach_m**2)
        reached |= inside
        if lit_only and lamp.status != "tand":
            continue
        total += np.where(inside, e, 0.0)
    return np.where(reached, total, MODEL.nodata)


def test_photometry_fills_gaps_in_the_inventory(lights):
    ph = lamp_photometry(lights, MODEL).set_index(lights["id"])
    assert ph.loc["L001", "flux_source"] == "inventory" and ph.loc["L001", "flux_model_lm"] == 5380
    assert ph.loc["L006", "flux_source"] == "power" and ph.loc["L006", "flux_model_lm"] == 40 * 90  # HPS: 90 lm/W
    assert ph.loc["L007", "flux_source"] == "lamp_type_default" and ph.loc["L007", "flux_model_lm"] == 3500
    assert ph.loc["L008", "height_model_m"] == MODEL.default_height_m
    assert not ph.loc["L003", "lit"] and not ph.loc["L015", "lit"] and ph.loc["L001", "lit"]
    assert ph.loc["L001", "intensity_cd"] == pytest.approx(0.7 * 5380 / (2 * math.pi))


def test_reach_is_where_the_contribution_falls_to_the_cutoff():
    intensity, h = 600.0, 6.0
    r = reach_m(intensity, h, 0.05)
    assert point_illuminance(intensity, h, r) == pytest.approx(0.05, rel=1e-9)
    assert reach_m(intensity, h, 0.05, max_reach_m=20.0) == 20.0
    assert reach_m(0.1, 10.0, 0.05) == -1  # even the foot of the pole gets less than the cut-off


def test_model_conserves_the_light_reaching_the_ground():
    # ∫ E dA over the plane = LLF · flux: the documented point-source model loses no light.
    flux, h = 5000.0, 8.0
    intensity = 0.7 * flux / (2 * math.pi)
    r = np.linspace(0, 20000, 2_000_001)
    ring = point_illuminance(intensity, h, r) * 2 * math.pi * r
    assert np.trapezoid(ring, r) == pytest.approx(0.7 * flux, rel=1e-3)


@pytest.mark.parametrize("band, lit_only", [("current", True), ("repaired", False)])
def test_raster_equals_brute_force_sum(rendered, lights, band, lit_only):
    photometry, grid, rasters = rendered
    with rasterio.open(getattr(rasters, band)) as src:
        raster = src.read(1)
    expected = brute_force(lights, photometry, grid, lit_only)
    assert raster.shape == expected.shape
    np.testing.assert_array_equal(raster == MODEL.nodata, expected == MODEL.nodata)
    valid = expected != MODEL.nodata
    assert np.abs(raster[valid] - expected[valid]).max() < 1e-4
    assert expected[valid].max() > 10  # lux under a pole: the fixture exercises real values


def test_lamps_out_contribute_nothing(rendered, lights):
    _, grid, rasters = rendered
    with rasterio.open(rasters.current) as now, rasterio.open(rasters.repaired) as fixed:
        lamp = lights.set_index("id").loc["L004"]  # out, 9.5 m pole
        row, col = grid.rowcol(lamp["x"], lamp["y"])
        a, b = now.read(1)[row, col], fixed.read(1)[row, col]
        assert b - a > 10  # repairing it brings more than 10 lx at its foot
        assert (now.read(1) <= fixed.read(1) + 1e-6).all()


def test_cog_is_valid_georeferenced_sparse_and_tagged(rendered):
    photometry, grid, rasters = rendered
    for path in (rasters.current, rasters.repaired):
        valid, errors, warnings = cog_validate(path)
        assert valid and not errors, errors
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 3006
            assert src.nodata == MODEL.nodata
            assert src.transform == rasterio.Affine(2.5, 0, grid.west, 0, -2.5, grid.north)
            assert grid.west % 2.5 == 0 and grid.north % 2.5 == 0
            assert src.block_shapes == [(128, 128)]
            assert src.compression.name.lower() == "deflate"
            assert src.overviews(1) == [2, 4, 8]  # halved until one tile holds it all
            tags = src.tags()
            assert tags["MODEL"] == MODEL_NAME
            assert tags["LIGHT_LOSS_FACTOR"] == "0.7" and tags["CUTOFF_LUX"] == "0.05" and tags["RESOLUTION_M"] == "2.5"
            assert "SCENARIO" in tags
            assert src.units == ("lx",)
            # Tiles no lamp reaches are not stored at all (sparse), and read as nodata.
            offsets = [src.get_tag_item(f"BLOCK_OFFSET_{c}_{r}", "TIFF", bidx=1)
                       for r in range(grid.tiles_y) for c in range(grid.tiles_x)]
            assert sum(o is None for o in offsets) > len(offsets) // 2
            middle = src.read(1, window=rasterio.windows.Window(grid.width // 2, grid.height // 2, 8, 8))
            assert (middle == MODEL.nodata).all()
            # Each overview is the nodata-aware 2 × 2 mean of the level below.
            level = src.read(1)
            for factor in src.overviews(1):
                with rasterio.open(path, overview_level=src.overviews(1).index(factor)) as ovr:
                    expected = average_2x2(level, MODEL.nodata)
                    got = ovr.read(1)
                    assert got.shape == expected.shape
                    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
                    level = got


def test_render_covers_only_tiles_with_lamps(rendered):
    _, grid, rasters = rendered
    assert rasters.stats.tiles_written < grid.tiles_x * grid.tiles_y
    assert rasters.stats.lamp_pixel_updates > 0


def test_average_2x2_ignores_nodata():
    nd = -9999.0
    block = np.array([[1, 3, nd], [nd, 2, nd], [4, 4, 5]], dtype=np.float32)
    out = average_2x2(block, nd)
    np.testing.assert_allclose(out, [[2.0, nd], [4.0, 5.0]])


def test_grid_edges_are_multiples_of_the_resolution():
    g = Grid.covering(401003.2, 6630011.9, 401410.1, 6630100.0, 5.0)
    assert (g.west, g.north) == (401000.0, 6630100.0)
    assert g.width == 83 and g.height == 18
