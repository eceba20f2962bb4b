"""The lighting builder: inputs, rasters with their tile analysis, then the three vector products.

Part of the lighting builder (`estgeo.layers.lighting`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from estgeo.layers.cellsums import density_frame
from estgeo.layers.context import BuildContext
from estgeo.layers.illuminance import (
    Lamps,
    LightModel,
    lamp_photometry,
)
from estgeo.layers.lighting.counts import AreaCounts
from estgeo.layers.lighting.gaps import dark_gaps
from estgeo.layers.lighting.inputs import gather_evidence, read_streets
from estgeo.layers.lighting.insecurity import lighting_insecurity
from estgeo.layers.lighting.lamps_out import lamps_out_list, work_list_reach
from estgeo.layers.lighting.params import LIGHT_FILE, REPAIRED_FILE, merged_params
from estgeo.layers.lighting.rasters import lamps_grid, write_modelled_light
from estgeo.layers.lighting.tiles import GapPiece, TileAnalysis
from estgeo.layers.street_lights import as_of_date


def build(ctx: BuildContext, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    opts = merged_params(params)
    settings = ctx.settings
    names = opts["collections"]
    model = LightModel.from_params(opts["model"])
    min_count = int(opts["min_count"] or settings.privacy_min_count)
    h3cfg = settings.project.get("h3", {})
    res = int(opts["index"]["resolution"] or h3cfg.get("default_resolution", 9))
    as_of = as_of_date(opts.get("as_of"), settings.time_zone)

    lights = ctx.read("lights").reset_index(drop=True)
    photometry = lamp_photometry(lights, model)
    # A layer may protect more than config/estgeo.yml asks (params.min_count), never less.
    disclosure = ctx.disclosure.at_least(min_count)
    evidence = gather_evidence(ctx.read("incidents"), ctx.read("walks"), settings, opts, disclosure.keys)
    lamps = Lamps.from_photometry(lights["x"], lights["y"], photometry)
    ctx.progress(
        f"lighting: {len(lights):,} lamps, {int((~photometry['lit']).sum()):,} out or faulty, "
        f"{int(evidence.incident_dark.sum()):,} incidents in darkness, {int(evidence.report_open.sum()):,} open lighting reports"
    )

    rasters = None
    street_px = pd.DataFrame({"x": [], "y": [], "now": [], "repaired": []}, dtype=np.float64)
    pieces: list[GapPiece] = []
    streets = read_streets(settings, opts)
    if len(lamps):
        grid = lamps_grid(lamps, model)
        if streets is not None:
            street_shapes = np.asarray(shapely.buffer(streets.to_numpy(), float(opts["street_buffer_m"]), quad_segs=2))
        else:
            street_shapes = np.asarray(
                shapely.buffer(
                    shapely.points(lights[["x", "y"]].to_numpy(dtype=np.float64)), float(opts["lamp_buffer_m"]), quad_segs=4
                )
            )
        evidence_points = np.concatenate([evidence.dark_xy, evidence.open_report_xy])
        evidence_shapes = (
            np.asarray(shapely.buffer(shapely.points(evidence_points), float(opts["gaps"]["evidence_radius_m"]), quad_segs=4))
            if len(evidence_points)
            else np.empty(0, dtype=object)
        )
        analysis = TileAnalysis(
            grid, model.nodata, float(opts["dark_threshold_lux"]), street_shapes, evidence_shapes, evidence.dark_xy
        )
        ctx.progress(f"lighting: modelled light, {grid.width:,} × {grid.height:,} pixels of {model.resolution_m:g} m")
        rasters = write_modelled_light(
            lamps,
            grid,
            model,
            ctx.out_dir / LIGHT_FILE,
            ctx.out_dir / REPAIRED_FILE,
            compress=str(opts["compress"]),
            batch_tiles=int(opts["batch_tiles"]),
            extra_tags={
                "LAMPS": str(len(lamps)),
                "LAMPS_OUT": str(int((~lamps.lit).sum())),
                "MUNICIPALITY": str(settings.municipality.get("name", "")),
            },
            on_tile=analysis.add,
        )
        ctx.built["modelled_light"] = rasters.current
        ctx.built["modelled_light_repaired"] = rasters.repaired
        street_px = analysis.street_pixels()
        pieces = analysis.pieces
        evidence.dark_lux_now = analysis.probe_lux

    ctx.progress("lighting: dark gaps, lamps-out list, lighting insecurity per cell")
    reach = work_list_reach(photometry, opts) if len(lights) else np.zeros(0)
    out_mask = ~photometry["lit"].to_numpy(dtype=bool)
    out_lamps = gpd.GeoDataFrame(
        {"id": lights["id"].astype(str).to_numpy()[out_mask], "reach_m": reach[out_mask]},
        geometry=shapely.points(lights[["x", "y"]].to_numpy(dtype=np.float64).reshape(-1, 2)[out_mask]),
        crs="EPSG:3006",
    )
    # Counts around gaps and lamps from the density's published cells (estgeo.layers.cellsums).
    count_res = int(opts["area_counts_resolution"] or max(settings.h3_resolutions))
    counts = AreaCounts(disclosure, density_frame(ctx.built, count_res), count_res,
                        [f"light_{c}" for c in opts["dark_conditions"]])
    gaps = dark_gaps(pieces, evidence, out_lamps, streets, opts, disclosure, model.resolution_m, counts)
    work = lamps_out_list(lights, photometry, evidence, gaps, rasters, opts, disclosure, as_of, counts)
    cells = (
        lighting_insecurity(
            ctx,
            street_px,
            lights,
            photometry,
            evidence,
            opts,
            disclosure,
            res,
            model.resolution_m,
            cross_check_density=not opts["incident_window_days"],
        )
        if len(lights)
        else _empty_cells()
    )
    ctx.built["lighting:gaps"] = gaps
    return {
        names["insecurity"]: cells,
        names["gaps"]: gaps.to_crs("OGC:CRS84"),
        names["lamps_out"]: work.to_crs("OGC:CRS84"),
    }


def _empty_cells() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"h3": [], "index": [], "rank": []}, geometry=[], crs="OGC:CRS84")
