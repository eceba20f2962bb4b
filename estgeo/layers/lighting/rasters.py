"""Product 1: the modelled-light rasters (now and repaired), written as Cloud Optimized GeoTIFFs.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from estgeo.layers.cog import SparseCogWriter, finish_all
from estgeo.layers.illuminance import (
    Grid,
    Lamps,
    LightModel,
    RenderedTile,
    RenderStats,
    render_tiles,
)


@dataclass
class LightRasters:
    current: Path
    repaired: Path
    grid: Grid
    stats: RenderStats
    render_seconds: float = 0.0
    finish_seconds: float = 0.0
    bytes_written: int = 0
    overview_seconds: float = 0.0  # summed over both rasters (they are finished side by side)
    cog_seconds: float = 0.0


def write_modelled_light(
    lamps: Lamps,
    grid: Grid,
    model: LightModel,
    current: Path,
    repaired: Path,
    *,
    compress: str = "DEFLATE",
    batch_tiles: int = 16,
    extra_tags: dict[str, str] | None = None,
    on_tile: Callable[[RenderedTile], None] | None = None,
) -> LightRasters:
    """Render both rasters tile by tile and write them as COGs; `on_tile` sees every tile."""
    tags = {**model.tags(), **(extra_tags or {})}
    stats = RenderStats()
    started = time.perf_counter()
    writers = [
        SparseCogWriter(
            current,
            grid,
            model.nodata,
            {**tags, "SCENARIO": "current: lit lamps only (status tand)"},
            description="modelled illuminance now (lx)",
            units="lx",
            compress=compress,
        ),
        SparseCogWriter(
            repaired,
            grid,
            model.nodata,
            {**tags, "SCENARIO": "repaired: every lamp lit"},
            description="modelled illuminance if every lamp were lit (lx)",
            units="lx",
            compress=compress,
        ),
    ]
    with writers[0] as now, writers[1] as fixed:
        for tile in render_tiles(lamps, grid, model.nodata, batch_tiles, stats):
            now.write_tile(tile.tile_row, tile.tile_col, tile.current)
            fixed.write_tile(tile.tile_row, tile.tile_col, tile.repaired)
            if on_tile is not None:
                on_tile(tile)
        rendered = time.perf_counter()
        finish_all(writers)
    done = time.perf_counter()
    return LightRasters(
        current,
        repaired,
        grid,
        stats,
        rendered - started,
        done - rendered,
        sum(w.bytes_written for w in writers),
        sum(w.overview_seconds for w in writers),
        sum(w.cog_seconds for w in writers),
    )


def lamps_grid(lamps: Lamps, model: LightModel) -> Grid:
    """The grid around the reach of every lamp (edges on whole multiples of the resolution)."""
    return Grid.covering(
        float((lamps.x - lamps.reach).min()),
        float((lamps.y - lamps.reach).min()),
        float((lamps.x + lamps.reach).max()),
        float((lamps.y + lamps.reach).max()),
        model.resolution_m,
        model.tile_size,
    )
