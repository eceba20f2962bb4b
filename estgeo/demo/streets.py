"""Step 1: the street network and the municipality outline.

Part of the demo municipality (`estgeo.demo`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.ops import substring

from estgeo.config import Settings
from estgeo.demo.town import HOT_SPOTS, Town

# --- step 1: streets and outline -------------------------------------------------------


def make_street_network(town: Town, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """A plausible street network over ~6×6 km around the centre (EPSG:3006).

    Main roads radiate from the square; a jittered local grid fills the built-up area,
    warped so blocks are smaller near the centre; gc-vägar (foot and cycle paths) cross
    the park, where the grid is cut out.
    """
    main = _main_roads(town, rng)
    local = _local_grid(town, rng)
    along = substring(shapely.offset_curve(main[1], 25.0), 200, 1400)
    paths = np.concatenate([_park_paths(town, rng), _school_routes(town, rng), [along]])
    kinds = ["huvudgata"] * len(main) + ["lokalgata"] * len(local) + ["gcvag"] * len(paths)
    geoms = np.concatenate([main, local, paths])
    return gpd.GeoDataFrame({"kind": kinds}, geometry=geoms, crs="EPSG:3006")


def _main_roads(town: Town, rng: np.random.Generator) -> np.ndarray:
    """Five gently winding roads from the centre to the edge of the 6×6 km frame."""
    bearings = np.deg2rad(np.array([5, 80, 150, 215, 280]) + rng.uniform(-8, 8, 5))
    heading = bearings[:, None] + np.cumsum(rng.normal(0, 0.04, (5, 80)), axis=1)
    x = np.concatenate([np.zeros((5, 1)), np.cumsum(50 * np.sin(heading), axis=1)], axis=1)
    y = np.concatenate([np.zeros((5, 1)), np.cumsum(50 * np.cos(heading), axis=1)], axis=1)
    lines = shapely.linestrings(np.stack([x + town.e, y + town.n], axis=-1))
    frame = shapely.box(town.e - 3000, town.n - 3000, town.e + 3000, town.n + 3000)
    return shapely.intersection(lines, frame)


def _local_grid(town: Town, rng: np.random.Generator, spacing: float = 80.0) -> np.ndarray:
    """Two-point street segments between the nodes of a warped, jittered grid."""
    idx = np.arange(-32, 33)
    u, v = np.meshgrid(idx * spacing, idx * spacing, indexing="ij")
    r = np.hypot(u, v)
    theta = np.arctan2(v, u) + rng.uniform(-0.3, 0.3)
    # Local scale grows from 0.7 at the centre to 1.25 at 2 km: smaller blocks downtown.
    rw = 0.7 * r + 0.55 / 2000 * r**2 / 2
    x = rw * np.cos(theta) + rng.normal(0, 10, u.shape)
    y = rw * np.sin(theta) + rng.normal(0, 10, u.shape)
    inside = rw < town.built_up_radius(theta)
    nodes = np.stack([x + town.e, y + town.n], axis=-1)
    pairs = []
    for a, b, ok in (
        (nodes[:-1, :], nodes[1:, :], inside[:-1, :] & inside[1:, :]),
        (nodes[:, :-1], nodes[:, 1:], inside[:, :-1] & inside[:, 1:]),
    ):
        pairs.append(np.stack([a[ok], b[ok]], axis=1))
    coords = np.concatenate(pairs)
    coords = coords[rng.random(len(coords)) > 0.12]  # dead ends and missing links
    lines = shapely.linestrings(coords)
    return lines[~shapely.intersects(lines, town.park.buffer(10))]


def _park_paths(town: Town, rng: np.random.Generator, count: int = 4) -> np.ndarray:
    """Curved chords across the park ellipse (quadratic Bézier curves)."""
    c = np.array(town.park.centroid.coords[0])
    t1 = rng.uniform(0, np.pi, count)
    t2 = t1 + np.pi + rng.normal(0, 0.4, count)
    rot = np.deg2rad(30)

    def on_edge(t: np.ndarray) -> np.ndarray:
        p = np.stack([300 * np.cos(t), 200 * np.sin(t)], axis=-1)
        return c + p @ np.array([[np.cos(rot), np.sin(rot)], [-np.sin(rot), np.cos(rot)]])

    a, b = on_edge(t1), on_edge(t2)
    mid = c + rng.normal(0, 50, (count, 2))
    s = np.linspace(0, 1, 16)[None, :, None]
    curve = (1 - s) ** 2 * a[:, None] + 2 * (1 - s) * s * mid[:, None] + s**2 * b[:, None]
    return shapely.linestrings(curve)


#: Gc-vägar between the places children walk to: schools, the park and the station.
SCHOOL_ROUTES = (
    ("Norra skolans skolgård", "Torget"),
    ("Norra skolans skolgård", "Stadsparken"),
    ("Södra skolans skolgård", "Resecentrum"),
    ("Södra skolans skolgård", "Torget"),
)


def _school_routes(town: Town, rng: np.random.Generator) -> np.ndarray:
    """Slightly meandering paths between the planted places (12 jittered vertices each)."""
    where = {s.name: np.array([town.e + s.de, town.n + s.dn]) for s in HOT_SPOTS}
    a = np.array([where[x] for x, _ in SCHOOL_ROUTES])
    b = np.array([where[y] for _, y in SCHOOL_ROUTES])
    s = np.linspace(0, 1, 12)[None, :, None]
    bend = np.sin(np.pi * s) * rng.normal(0, 40, (len(a), 12, 2))
    return shapely.linestrings(a[:, None] + s * (b - a)[:, None] + bend)


def make_municipality_outline(town: Town, settings: Settings, rng: np.random.Generator) -> shapely.Polygon:
    """A wobbly oval around the town, clipped to the configured municipal extent."""
    theta = np.linspace(0, 2 * np.pi, 181)[:-1]
    phases = rng.uniform(0, 2 * np.pi, 3)
    wobble = (
        1 + 0.08 * np.sin(3 * theta + phases[0]) + 0.05 * np.sin(5 * theta + phases[1]) + 0.03 * np.sin(9 * theta + phases[2])
    )
    x = town.e + 20000 * wobble * np.cos(theta)
    y = town.n + 6000 + 32000 * wobble * np.sin(theta)
    minx, miny, maxx, maxy = settings.extent_3006
    frame = shapely.box(minx + 300, miny + 300, maxx - 300, maxy - 300)
    return shapely.intersection(shapely.Polygon(np.column_stack([x, y])), frame)
