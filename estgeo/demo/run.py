"""The whole demo: every step in order, the basemap files and the planted truth.

Part of the demo municipality (`estgeo.demo`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from estgeo.config import Settings
from estgeo.demo.addresses import address_points, name_streets
from estgeo.demo.incidents import IncidentModel
from estgeo.demo.lights import apply_outages, make_lights, pick_dark_clusters
from estgeo.demo.sources import IncidentWriter, source_columns, source_labels, write_geojson
from estgeo.demo.streets import make_municipality_outline, make_street_network
from estgeo.demo.town import (
    CHUNK_ROWS,
    DARK_CLUSTER_RADIUS_M,
    DARK_SHARE,
    END_DATE,
    GEOJSON_MAX_INCIDENTS,
    HOT_SPOTS,
    SOURCES,
    DemoResult,
    ProgressCallback,
    Town,
    make_town,
    to_wgs84,
)
from estgeo.demo.walks import (
    HOT_SPOT_INTERVENTIONS,
    hot_spot_cell,
    make_interventions,
    make_walks,
    walks_to_labels,
    write_interventions,
)
from estgeo.layers import disclosure

# --- the whole demo --------------------------------------------------------------------


def _progress_callback(progress: Any) -> ProgressCallback:
    """Accept None, a `rich.progress.Progress` (a task of total 100 is added to it) or a
    callable `progress(description, advance)` where the advances of one run sum to 1.0."""
    if progress is None:
        return lambda description, advance: None
    if hasattr(progress, "add_task"):
        task = progress.add_task("Demokommun", total=100)
        return lambda description, advance: progress.update(task, description=description, advance=100 * advance)
    return progress


def _write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write a GeoPackage with a fixed timestamp, so the same seed gives the same bytes."""
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": f"{END_DATE.isoformat()}T00:00:00.000Z"})
    try:
        path.unlink(missing_ok=True)
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def _write_lights(lights: gpd.GeoDataFrame, settings: Settings, path: Path) -> None:
    """The asset system's GeoPackage: its own field names and Swedish labels."""
    cols = source_columns(settings, "belysning")
    kommunkod = str(settings.municipality.get("kommunkod", "0000"))
    out = lights.drop(columns=["kind"]).copy()
    out["id"] = [f"{kommunkod}-L{i}" for i in lights["id"]]
    out["lamp_type"] = source_labels(settings, "lamp_types", lights["lamp_type"].to_numpy())
    out["owner"] = source_labels(settings, "lamp_owners", lights["owner"].to_numpy())
    out["status"] = source_labels(settings, "lamp_statuses", lights["status"].to_numpy())
    out["power_w"] = out["power_w"].astype(int)
    out["flux_lm"] = out["flux_lm"].astype(int)
    _write_gpkg(out.rename(columns=cols)[[*cols.values(), "geometry"]], path, "belysning")


def _point_truth(name: str, e: float, n: float, **extra: Any) -> dict[str, Any]:
    lon, lat = to_wgs84(np.array([e]), np.array([n]))
    return {
        "name": name,
        "E": round(float(e), 1),
        "N": round(float(n), 1),
        "lon": round(float(lon[0]), 6),
        "lat": round(float(lat[0]), 6),
        **extra,
    }


def generate_demo(
    settings: Settings,
    n_incidents: int = 20_000,
    seed: int = 7,
    progress: ProgressCallback | Any | None = None,
) -> DemoResult:
    """Write a synthetic Sunne-sized municipality: source files into `settings.inbox`, and
    basemap layers (streets, municipality outline) with the planted truth
    (`demo-truth.json`: hot spots, dark clusters, intervention effects) into
    `settings.workspace / "basemap"`.

    Inbox files: belysning_2026.gpkg, polisen_utdrag.csv, bostadsbolaget_arenden.csv,
    est-app_export.geojson (est-app_export.csv above GEOJSON_MAX_INCIDENTS incidents),
    trygghetsvandring_2026.geojson and atgarder.csv, each in its source's own format.

    `progress` is None, a `rich.progress.Progress` (a task is added to it) or a callable
    `progress(description, advance)`; the advances of one run sum to 1.0.
    """
    tick = _progress_callback(progress)
    # One independent stream per step, so the town, lamps and walks are the same for a
    # seed whatever the number of incidents (benchmarks and demo share one truth).
    town_rng, light_rng, incident_rng, walk_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    inbox = settings.inbox
    basemap = settings.workspace / "basemap"
    inbox.mkdir(parents=True, exist_ok=True)
    basemap.mkdir(parents=True, exist_ok=True)

    # The demo's cell-key secret follows from its seed, so a demo builds the same
    # perturbed layers every time (tests rely on it); a real installation's is random.
    digest = hashlib.sha256(f"estgeo-demo-{seed}".encode()).hexdigest()
    disclosure.write_secret(settings, digest[:16])
    town = make_town(settings, town_rng)
    streets = name_streets(make_street_network(town, town_rng))
    outline = make_municipality_outline(town, settings, town_rng)
    _write_gpkg(streets, basemap / "streets.gpkg", "streets")
    register = settings.workspace / "reference" / "adresser.gpkg"
    register.parent.mkdir(parents=True, exist_ok=True)
    _write_gpkg(address_points(streets, str(settings.municipality.get("name", ""))), register, "adresser")
    municipality = gpd.GeoDataFrame(
        {"namn": [settings.municipality.get("name", "")], "kommunkod": [settings.municipality.get("kommunkod", "")]},
        geometry=[outline],
        crs="EPSG:3006",
    )
    _write_gpkg(municipality, basemap / "municipality.gpkg", "municipality")
    tick("Gatunät", 0.03)

    lights = make_lights(streets, town, light_rng)
    clusters = pick_dark_clusters(lights, town, light_rng)
    lights = apply_outages(lights, clusters, light_rng)
    lights_path = inbox / "belysning_2026.gpkg"
    _write_lights(lights, settings, lights_path)
    tick("Belysning", 0.05)

    effects: dict[str, list[tuple[date, date, float]]] = {}
    for p in HOT_SPOT_INTERVENTIONS:
        effects.setdefault(p.place, []).append((p.start, p.end, p.keep))
    model = IncidentModel.build(settings, town, streets, clusters, effects)
    writer = IncidentWriter(model, settings, app_as_csv=n_incidents > GEOJSON_MAX_INCIDENTS)
    n_chunks = max(1, -(-n_incidents // CHUNK_ROWS))
    for i in range(n_chunks):
        size = min(CHUNK_ROWS, n_incidents - i * CHUNK_ROWS)
        writer.write(model.sample(incident_rng, size))
        tick(f"Händelser {min((i + 1) * CHUNK_ROWS, n_incidents):,}/{n_incidents:,}", 0.85 / n_chunks)
    incident_files = writer.close()

    walks = make_walks(lights, clusters, town, walk_rng)
    walks_path = inbox / "trygghetsvandring_2026.geojson"
    write_geojson(walks_to_labels(walks, settings), walks_path)
    interventions = make_interventions(walks, town, settings, walk_rng)
    interventions_path = inbox / "atgarder.csv"
    write_interventions(interventions, settings, interventions_path)

    counts = {
        "streets": len(streets),
        "lights": len(lights),
        "lights_out": int((lights["status"] != "tand").sum()),
        "incidents": n_incidents,
        **{f"incidents_{s}": writer.counts[s] for s in SOURCES},
        "walk_observations": len(walks),
        "interventions": len(interventions),
    }
    truth = _truth(settings, town, lights, clusters, interventions, counts, seed, model.first_day)
    (basemap / "demo-truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2), encoding="utf-8")
    tick("Klar", 0.07)
    return DemoResult(
        files=[lights_path, *incident_files, walks_path, interventions_path],
        basemap_files=[basemap / "streets.gpkg", basemap / "municipality.gpkg", basemap / "demo-truth.json"],
        counts=counts,
        truth=truth,
    )


def _truth(
    settings: Settings,
    town: Town,
    lights: gpd.GeoDataFrame,
    clusters: np.ndarray,
    interventions: pd.DataFrame,
    counts: dict[str, int],
    seed: int,
    first_day: date,
) -> dict[str, Any]:
    """What was planted, for tests and for checking that the analysis finds it."""
    xy = shapely.get_coordinates(lights.geometry.to_numpy())
    out = lights["status"].to_numpy() != "tand"
    dark = []
    for i, (e, n) in enumerate(clusters):
        near = np.hypot(xy[:, 0] - e, xy[:, 1] - n) < DARK_CLUSTER_RADIUS_M
        dark.append(
            _point_truth(
                f"Mörkt område {i + 1}",
                e,
                n,
                radius_m=DARK_CLUSTER_RADIUS_M,
                lamps=int(near.sum()),
                lamps_out=int((near & out).sum()),
            )
        )
    spots = []
    for s in HOT_SPOTS:
        p = _point_truth(s.name, town.e + s.de, town.n + s.dn, place_type=s.place_type, sigma_m=s.sigma_m, share=s.share)
        p["h3_res9"] = hot_spot_cell(town, s.name)
        spots.append(p)
    keep = {(hot_spot_cell(town, p.place), p.type): p.keep for p in HOT_SPOT_INTERVENTIONS}
    prefix = next(s for s in settings.sources if s["name"] == "atgarder").get("id_prefix", "")
    return {
        "seed": seed,
        "crs": "EPSG:3006",
        "period": {"start": first_day.isoformat(), "end": END_DATE.isoformat()},
        "centre": _point_truth("Centrum", town.e, town.n),
        "hot_spots": spots,
        "dark_share_of_incidents": DARK_SHARE,
        "dark_clusters": dark,
        "interventions": [
            {
                "nr": r.id,
                "id": prefix + r.id,
                "target": r.target,
                "type": r.type,
                "start": r.start.isoformat(),
                "end": r.end.isoformat() if r.end else None,
                "incident_keep_share": keep.get((r.target, r.type)),
            }
            for r in interventions.itertuples()
        ],
        "counts": counts,
    }
