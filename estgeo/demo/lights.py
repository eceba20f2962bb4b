"""Step 2: the lighting inventory, its dark clusters and outages.

Part of the demo municipality (`estgeo.demo`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from estgeo.demo.town import DARK_CLUSTER_RADIUS_M, HOT_SPOTS, LAMPS_OUT_SHARE, Town, zfill

# --- step 2: lighting ------------------------------------------------------------------

LAMP_TYPE_SHARES = {  # per street kind: led, hogtrycksnatrium, kvicksilver, metallhalogen
    "huvudgata": (0.55, 0.38, 0.0, 0.07),
    "lokalgata": (0.72, 0.20, 0.06, 0.02),
    "gcvag": (0.80, 0.12, 0.08, 0.0),
}
LAMP_TYPES = ("led", "hogtrycksnatrium", "kvicksilver", "metallhalogen")
#: Luminous efficacy (lm/W) and the installation years of each technology.
LAMP_EFFICACY = {"led": (100, 140), "hogtrycksnatrium": (85, 95), "kvicksilver": (45, 55), "metallhalogen": (75, 90)}
LAMP_YEARS = {"led": (2012, 2026), "hogtrycksnatrium": (1988, 2015), "kvicksilver": (1968, 1991), "metallhalogen": (1998, 2017)}
#: Conventional lamps come in standard wattages; LED drivers are set freely.
STANDARD_WATTS = {
    "hogtrycksnatrium": (50, 70, 100, 150, 250),
    "kvicksilver": (50, 80, 125, 250),
    "metallhalogen": (35, 70, 100, 150),
}
POLE_HEIGHT = {"huvudgata": (9.0, 12.0), "lokalgata": (5.0, 8.0), "gcvag": (4.0, 5.0)}


def _points_along(lines: np.ndarray, spacing: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points every `spacing` metres along each line (random start), and their line index."""
    length = shapely.length(lines)
    start = rng.uniform(0, spacing)
    counts = np.where(length > start, np.floor((length - start) / spacing).astype(int) + 1, 0)
    which = np.repeat(np.arange(len(lines)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    points = shapely.line_interpolate_point(lines[which], start[which] + k * spacing[which])
    return points, which


def make_lights(streets: gpd.GeoDataFrame, town: Town, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Lighting points along the streets with canonical attributes; all lit for now.

    Main roads are lit on both sides inside the town and on one side on the approaches
    (Trafikverket's roads); local streets every 25–40 m; park paths with low poles.
    Flux follows pole height (higher poles light a wider area) and power follows flux
    through each technology's efficacy, so the modelled-light layer gets sane input.
    """
    kinds = streets["kind"].to_numpy()
    geoms = streets.geometry.to_numpy()
    main = geoms[kinds == "huvudgata"]
    sides = [shapely.offset_curve(main, d) for d in (11.0, -11.0)]
    parts: list[tuple[np.ndarray, str, np.ndarray]] = []
    for side, lines in enumerate(sides):
        pts, which = _points_along(lines, rng.uniform(30, 40, len(lines)), rng)
        dx, dy = shapely.get_x(pts) - town.e, shapely.get_y(pts) - town.n
        outside = np.hypot(dx, dy) > town.built_up_radius(np.arctan2(dy, dx))
        keep = (np.hypot(dx, dy) < 2700) & ~(outside & (side == 1))
        state_road = np.isin(which, (0, 2)) | outside
        parts.append((pts[keep], "huvudgata", state_road[keep]))
    for kind, lo, hi in (("lokalgata", 25, 40), ("gcvag", 25, 32)):
        lines = geoms[kinds == kind]
        pts, _ = _points_along(lines, rng.uniform(lo, hi, len(lines)), rng)
        parts.append((pts, kind, np.zeros(len(pts), bool)))

    points = np.concatenate([p for p, _, _ in parts])
    kinds_of = np.concatenate([np.full(len(p), k) for p, k, _ in parts])
    state_road = np.concatenate([s for _, _, s in parts])
    n = len(points)
    r = np.hypot(shapely.get_x(points) - town.e, shapely.get_y(points) - town.n)

    lamp_type = np.empty(n, dtype=object)
    height = np.empty(n)
    for k, shares in LAMP_TYPE_SHARES.items():
        m = kinds_of == k
        lamp_type[m] = rng.choice(np.asarray(LAMP_TYPES), int(m.sum()), p=shares)
        low, high = POLE_HEIGHT[k]
        height[m] = np.round(rng.uniform(low, high, int(m.sum())) * 2) / 2
    power, flux, year = _lamp_technology(lamp_type, height, rng)

    owner = np.full(n, "kommun", dtype=object)
    owner[state_road] = "trafikverket"
    local = kinds_of == "lokalgata"
    owner[local & (r > 1500) & (rng.random(n) < 0.25)] = "vagforening"
    owner[local & (rng.random(n) < 0.04)] = "privat"

    unknown = rng.random(n) < 0.01  # old records with no lamp type in the asset system
    lamp_type[unknown] = "okand"
    year_col = pd.array(year, dtype="Int64")
    year_col[rng.random(n) < 0.02] = pd.NA

    # Inspected some time between the start of the current inspection round (or half a
    # year after the lamp went up, if later) and the inventory's export date.
    put_up = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + np.timedelta64(180, "D")
    first = np.maximum(np.datetime64("2023-01-09"), put_up)
    span = (np.datetime64("2026-09-30") - first).astype(int)
    inspected = first + (rng.random(n) * span).astype("timedelta64[D]")
    return gpd.GeoDataFrame(
        {
            "id": zfill(np.arange(1, n + 1), 5),
            "kind": kinds_of,
            "pole_height_m": height,
            "lamp_type": lamp_type,
            "power_w": power,
            "flux_lm": flux,
            "owner": owner,
            "status": np.full(n, "tand", dtype=object),
            "installed_year": year_col,
            "last_inspected": np.datetime_as_string(inspected, unit="D"),
        },
        geometry=points,
        crs="EPSG:3006",
    )


def _lamp_technology(
    lamp_type: np.ndarray, height: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power (W), flux (lm) and installation year consistent with type and pole height."""
    n = len(lamp_type)
    wanted_flux = 120 * height**2 * rng.uniform(0.8, 1.2, n)
    power = np.zeros(n)
    flux = np.zeros(n)
    year = np.zeros(n, dtype=int)
    for t in LAMP_TYPES:
        m = lamp_type == t
        efficacy = rng.uniform(*LAMP_EFFICACY[t], m.sum())
        if t in STANDARD_WATTS:
            watts = np.array(STANDARD_WATTS[t], dtype=float)
            pick = np.abs(watts[None, :] - (wanted_flux[m] / efficacy)[:, None]).argmin(axis=1)
            power[m] = watts[pick]
        else:
            power[m] = np.round(wanted_flux[m] / efficacy)
        flux[m] = np.round(power[m] * efficacy, -1)
        year[m] = rng.integers(*LAMP_YEARS[t], m.sum())
    return power, flux, year


def pick_dark_clusters(lights: gpd.GeoDataFrame, town: Town, rng: np.random.Generator, count: int = 5) -> np.ndarray:
    """Centres (E, N) of the areas where lamps are out: residential streets and paths,
    400–1700 m from the square, away from the hot spots and from each other, each with
    enough lamps around it to be a visible dark patch."""
    xy = shapely.get_coordinates(lights.geometry.to_numpy())
    spots = np.array([[town.e + s.de, town.n + s.dn] for s in HOT_SPOTS])
    r = np.hypot(xy[:, 0] - town.e, xy[:, 1] - town.n)
    near_spot = np.hypot(*(xy[:, None, :] - spots[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    tree = shapely.STRtree(lights.geometry.to_numpy())
    pairs = tree.query(lights.geometry.to_numpy(), predicate="dwithin", distance=DARK_CLUSTER_RADIUS_M)
    neighbours = np.bincount(pairs[0], minlength=len(xy))
    candidate = (lights["kind"].to_numpy() != "huvudgata") & (r > 400) & (r < 1700) & (near_spot > 450) & (neighbours >= 15)
    chosen: list[np.ndarray] = []
    for i in rng.permutation(np.flatnonzero(candidate)):
        if all(np.hypot(*(xy[i] - c)) > 600 for c in chosen):
            chosen.append(xy[i])
            if len(chosen) == count:
                break
    return np.array(chosen)


def apply_outages(lights: gpd.GeoDataFrame, clusters: np.ndarray, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Put ~5 % of lamps out: 70 % of those in each dark cluster, the rest scattered."""
    xy = shapely.get_coordinates(lights.geometry.to_numpy())
    d = np.hypot(*(xy[:, None, :] - clusters[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    in_cluster = d < DARK_CLUSTER_RADIUS_M
    n, n_in = len(xy), int(in_cluster.sum())
    p_scattered = max(0.0, (LAMPS_OUT_SHARE * n - 0.7 * n_in) / max(n - n_in, 1))
    out = rng.random(n) < np.where(in_cluster, 0.7, p_scattered)
    fault = out & (rng.random(n) < np.where(in_cluster, 0.2, 0.4))
    lights = lights.copy()
    lights["status"] = np.where(out, np.where(fault, "fel", "slackt"), "tand")
    return lights
