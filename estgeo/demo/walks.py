"""Steps 4 and 5: trygghetsvandringar and åtgärder.

Part of the demo municipality (`estgeo.demo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from estgeo.config import Settings
from estgeo.demo.sources import source_columns, source_labels
from estgeo.demo.town import DARK_CLUSTER_RADIUS_M, END_DATE, HOT_SPOTS, Town, to_wgs84

# --- steps 4 and 5: trygghetsvandringar and åtgärder -----------------------------------------


@dataclass(frozen=True)
class Walk:
    """One trygghetsvandring: when, in what light, and where its observations fall."""

    key: str
    name: str
    day: date
    light: str
    clusters: tuple[int, ...]
    areas: tuple[str, ...]
    lighting_share: float
    status_p: tuple[float, float, float, float]  # ny, planerad, atgardad, avslagen


WALKS = (
    Walk(
        key="V1",
        name="Centrum dagtid",
        day=date(2025, 5, 20),
        light="dagsljus",
        clusters=(),
        areas=("Torget", "Resecentrum"),
        lighting_share=0.0,
        status_p=(0.15, 0.2, 0.5, 0.15),
    ),
    Walk(
        key="V2",
        name="Centrum och bostadsområdena kvällstid",
        day=date(2025, 11, 18),
        light="morker",
        clusters=(0, 1, 2),
        areas=("Torget",),
        lighting_share=0.55,
        status_p=(0.2, 0.35, 0.35, 0.1),
    ),
    Walk(
        key="V3",
        name="Skolorna och parken kvällstid",
        day=date(2026, 2, 10),
        light="morker",
        clusters=(3, 4),
        areas=("Stadsparken", "Norra skolans skolgård", "Södra skolans skolgård"),
        lighting_share=0.55,
        status_p=(0.3, 0.35, 0.25, 0.1),
    ),
    Walk(
        key="V4",
        name="Stationsområdet i skymningen",
        day=date(2026, 9, 15),
        light="skymning",
        clusters=(0, 2, 4),
        areas=("Resecentrum",),
        lighting_share=0.3,
        status_p=(0.65, 0.25, 0.05, 0.05),
    ),
)
OTHER_PROBLEMS = (
    "skymd_sikt",
    "vegetation",
    "gangtunnel",
    "odslig_plats",
    "klotter",
    "nedskrapning",
    "trasig_utrustning",
    "dalig_orienterbarhet",
)
PROPOSALS = {
    "belysning_saknas": ("Laga släckta armaturer", "Sätt upp belysning längs gångvägen"),
    "belysning_dalig": ("Byt till LED med bättre ljusfördelning", "Komplettera med fler ljuspunkter"),
    "skymd_sikt": ("Öppna upp siktlinjerna", "Flytta skymmande förråd"),
    "vegetation": ("Beskär buskar och träd", "Röj sly längs gångvägen"),
    "gangtunnel": ("Ljusare färg och belysning i tunneln",),
    "odslig_plats": ("Skapa aktivitet på platsen", "Leda gångstråket närmare bebyggelse"),
    "klotter": ("Sanera klotter inom 24 timmar",),
    "nedskrapning": ("Fler papperskorgar och tätare tömning",),
    "trasig_utrustning": ("Reparera bänkar och lekutrustning",),
    "dalig_orienterbarhet": ("Bättre skyltning mot centrum och stationen",),
}
RESPONSIBLE = {
    "belysning_saknas": "Gatukontoret",
    "belysning_dalig": "Gatukontoret",
    "gangtunnel": "Gatukontoret",
    "nedskrapning": "Gatukontoret",
    "klotter": "Bostadsbolaget",
    "skymd_sikt": "Parkförvaltningen",
    "vegetation": "Parkförvaltningen",
    "trasig_utrustning": "Parkförvaltningen",
    "odslig_plats": "Samhällsbyggnadsförvaltningen",
    "dalig_orienterbarhet": "Samhällsbyggnadsförvaltningen",
}
WALK_STATUSES = ("ny", "planerad", "atgardad", "avslagen")


def make_walks(lights: gpd.GeoDataFrame, clusters: np.ndarray, town: Town, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Observations of four walks (40–80 in all), in the walk file's own property names.

    Lighting problems are noted next to lamps that are out — in the dark clusters the
    walk passes — because that is what walkers see after dark; other problems fall around
    the walk's areas. Lighting items stay open, as the inventory still has the lamps out.
    """
    lamps_xy = shapely.get_coordinates(lights.geometry.to_numpy())
    status = lights["status"].to_numpy()
    d_cluster = np.hypot(*(lamps_xy[:, None, :] - clusters[None, :, :]).transpose(2, 0, 1))
    spot_xy = {s.name: (town.e + s.de, town.n + s.dn) for s in HOT_SPOTS}
    rows: list[dict[str, Any]] = []
    for walk in WALKS:
        n_obs = int(rng.integers(10, 21))
        participants = int(rng.integers(8, 21))
        n_light = int(round(walk.lighting_share * n_obs))
        out_here: np.ndarray | list[int] = (
            np.flatnonzero((status != "tand") & (d_cluster[:, list(walk.clusters)].min(axis=1) < DARK_CLUSTER_RADIUS_M))
            if walk.clusters
            else []
        )
        for k in range(n_obs):
            if k < n_light and len(out_here):
                lamp = out_here[rng.integers(len(out_here))]
                x, y = lamps_xy[lamp] + rng.normal(0, 12, 2)
                problems = ["belysning_saknas" if status[lamp] == "slackt" else "belysning_dalig"]
                if rng.random() < 0.4:
                    problems.append(str(rng.choice(["odslig_plats", "skymd_sikt", "vegetation", "gangtunnel"])))
                state = str(rng.choice(["ny", "planerad"], p=[0.3, 0.7]))
            else:
                x, y = np.array(spot_xy[walk.areas[k % len(walk.areas)]]) + rng.normal(0, 180, 2)
                problems = list(rng.choice(OTHER_PROBLEMS, int(rng.integers(1, 3)), replace=False))
                state = str(rng.choice(WALK_STATUSES, p=walk.status_p))
            rows.append(_walk_row(walk, k, participants, float(x), float(y), problems, state, rng))
    frame = pd.DataFrame(rows)
    return gpd.GeoDataFrame(frame.drop(columns=["e", "n"]), geometry=shapely.points(frame["e"], frame["n"]), crs="EPSG:3006")


def _walk_row(
    walk: Walk,
    k: int,
    participants: int,
    x: float,
    y: float,
    problems: list[str],
    state: str,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """One observation with proposal, responsible, target date and (when resolved) a date."""
    target = walk.day + timedelta(days=int(rng.choice([90, 180])))
    resolved = None
    if state == "atgardad":
        resolved = min(walk.day + timedelta(days=int(rng.integers(14, 150))), END_DATE).isoformat()
    lighting = [p for p in problems if p.startswith("belysning")]
    scores = (
        (int(rng.integers(0, 2)), int(rng.integers(0, 2))) if lighting else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    )
    return {
        "observation_id": f"{walk.key}-{k + 1:02d}",
        "vandring": f"{walk.key} {walk.name} {walk.day.year}",
        "datum": walk.day.isoformat(),
        "ljusforhallande": walk.light,
        "deltagare": participants,
        "problem": problems,
        "score_lighting": scores[0],
        "score_feeling": scores[1],
        "forslag": str(rng.choice(PROPOSALS[problems[0]])),
        "ansvarig": RESPONSIBLE[problems[0]],
        "klart_senast": target.isoformat(),
        "status": state,
        "atgardad_datum": resolved,
        "e": x,
        "n": y,
    }


def walks_to_labels(walks: gpd.GeoDataFrame, settings: Settings) -> gpd.GeoDataFrame:
    """The walk app writes Swedish labels, problems as one comma-separated string."""
    out = walks.copy()
    problems = settings.code_lists["walk_problems"]
    out["problem"] = [", ".join(problems.label(p) for p in ps) for ps in walks["problem"]]
    out["ljusforhallande"] = source_labels(settings, "walk_light_conditions", walks["ljusforhallande"].to_numpy())
    out["status"] = source_labels(settings, "walk_statuses", walks["status"].to_numpy())
    return out.to_crs("EPSG:4326")


@dataclass(frozen=True)
class PlannedIntervention:
    """An åtgärd at a hot spot, planned before the incidents are drawn so that its effect
    can be planted: during it, only `keep` of the place's incidents happen."""

    place: str
    type: str
    decided_by: str
    org: str
    start: date
    end: date
    outcome: str
    keep: float


HOT_SPOT_INTERVENTIONS = (
    PlannedIntervention(
        place="Norra skolans skolgård",
        type="klottersanering",
        decided_by="operativ",
        org="Gatukontoret",
        start=date(2025, 3, 10),
        end=date(2025, 6, 30),
        outcome="Klotter sanerat inom 24 timmar; färre nya taggar",
        keep=0.6,
    ),
    PlannedIntervention(
        place="Resecentrum",
        type="vaktare",
        decided_by="strategisk",
        org="Kommunen (väktarbolag)",
        start=date(2025, 9, 1),
        end=date(2026, 3, 31),
        outcome="Väktarrond fredag och lördag kl. 20–02",
        keep=0.6,
    ),
    PlannedIntervention(
        place="Torget",
        type="polispatrull",
        decided_by="operativ",
        org="Polisen",
        start=date(2025, 12, 1),
        end=date(2026, 2, 28),
        outcome="Ökad närvaro kvällstid",
        keep=0.7,
    ),
    PlannedIntervention(
        place="Stadsparken",
        type="dialog",
        decided_by="operativ",
        org="Fritidsgården",
        start=date(2026, 5, 15),
        end=date(2026, 8, 31),
        outcome="Fältare i parken kvällstid",
        keep=0.8,
    ),
)


def hot_spot_cell(town: Town, name: str, resolution: int = 9) -> str:
    """The H3 cell of a planted hot spot's centre: how åtgärder name their target area."""
    spot = next(s for s in HOT_SPOTS if s.name == name)
    lon, lat = to_wgs84(np.array([town.e + spot.de]), np.array([town.n + spot.dn]))
    return str(h3.latlng_to_cell(float(lat[0]), float(lon[0]), resolution))


def make_interventions(walks: gpd.GeoDataFrame, town: Town, settings: Settings, rng: np.random.Generator) -> pd.DataFrame:
    """Six åtgärder in canonical fields: four at hot-spot H3 cells (res 9), one pruning
    after the daylight walk and one lighting repair after the darkness walk, the latter
    still running (the lamps are still out in the inventory)."""
    walk_prefix = next(s for s in settings.sources if s["name"] == "trygghetsvandring").get("id_prefix", "")
    rows: list[tuple[str, str, str, str, date, date | None, str]] = [
        (hot_spot_cell(town, p.place), p.decided_by, p.org, p.type, p.start, p.end, p.outcome) for p in HOT_SPOT_INTERVENTIONS
    ]
    walk = walks["observation_id"].str.split("-").str[0]
    veg = walks[(walk == "V1") & walks["problem"].map(lambda ps: "vegetation" in ps)]
    light = walks[(walk == "V2") & walks["problem"].map(lambda ps: ps[0].startswith("belysning"))]
    if len(veg):
        obs = veg.iloc[int(rng.integers(len(veg)))]
        start = WALKS[0].day + timedelta(days=40)
        rows.append(
            (
                walk_prefix + obs["observation_id"],
                "operativ",
                "Parkförvaltningen",
                "beskarning",
                start,
                start + timedelta(days=14),
                "Buskar beskurna, bättre sikt",
            )
        )
    if len(light):
        obs = light.iloc[int(rng.integers(len(light)))]
        rows.append(
            (
                walk_prefix + obs["observation_id"],
                "strategisk",
                "Gatukontoret",
                "belysning",
                date(2026, 9, 1),
                None,
                "Pågår: byte till LED och lagning av släckta armaturer",
            )
        )
    rows.sort(key=lambda r: r[4])
    frame = pd.DataFrame(rows, columns=["target", "decided_by", "org", "type", "start", "end", "outcome"])
    # Numbered per year, as the operative group's list is: 2025-01, 2025-02, 2026-01, …
    year = pd.Series([d.year for d in frame["start"]])
    frame.insert(0, "id", year.astype(str) + "-" + (year.groupby(year).cumcount() + 1).astype(str).str.zfill(2))
    return frame


def write_interventions(frame: pd.DataFrame, settings: Settings, path: Path) -> None:
    """The operative group's spreadsheet: Swedish labels, semicolons, UTF-8 with BOM."""
    cols = source_columns(settings, "atgarder")
    out = frame.copy()
    out["decided_by"] = source_labels(settings, "decision_levels", frame["decided_by"].to_numpy())
    out["type"] = source_labels(settings, "intervention_types", frame["type"].to_numpy())
    out["start"] = [d.isoformat() for d in frame["start"]]
    out["end"] = [d.isoformat() if d else "" for d in frame["end"]]
    out.rename(columns=cols)[list(cols.values())].to_csv(path, sep=";", index=False, encoding="utf-8-sig")
