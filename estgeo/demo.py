"""The demo municipality: synthetic source files for a Sunne-sized town.

Real EST data is confidential, yet estgeo must be shown, tested and benchmarked end to
end. This module plants a town with known structure — a street network, a lighting
inventory with a few dark clusters, incident hot spots, safety walks and interventions —
and writes it into the inbox *in the organisations' own formats* (police extract in
Windows-1252 with X = northing, the housing company's CSV with BOM and decimal comma, the
EST app's GeoJSON, the asset system's GeoPackage). The real ingest then has to do all of
its work, and the analysis can be checked against the planted truth (`demo-truth.json`).

Everything is drawn from one `numpy.random.default_rng(seed)`, so a seed gives the same
bytes every time, and incidents are generated and written in chunks of whole arrays, so
ten million rows fit in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.ops import substring

from estgeo.config import Settings

#: Last day of the generated period. Fixed (not "today") so a seed always gives the same files.
END_DATE = date(2026, 10, 31)
#: Length of the generated period in days (two years).
PERIOD_DAYS = 730
#: Incidents are generated and written this many at a time, which bounds memory.
CHUNK_ROWS = 1_000_000
#: Above this many incidents the app share is written as CSV: GeoJSON is too slow to write.
GEOJSON_MAX_INCIDENTS = 200_000
#: Radius around a dark-cluster centre within which most lamps are out.
DARK_CLUSTER_RADIUS_M = 150.0
#: Share of all lamps that are out or faulty.
LAMPS_OUT_SHARE = 0.05
#: Sun altitude (degrees) below which a moment counts as "after dark" for the generator.
DARK_SUN_ALTITUDE = -3.0

ProgressCallback = Callable[[str, float], None]

# --- the planted town ------------------------------------------------------------------


@dataclass(frozen=True)
class HotSpot:
    """A planted incident hot spot: a Gaussian blob around a place people gather.

    `category_boost` and `hour_boost` (ranges of local hours with a factor) make each
    place look like its kind: graffiti and youth groups on school yards in the evening,
    disorder and threats around the station at night.
    """

    name: str
    place_type: str
    de: float
    dn: float
    sigma_m: float
    share: float
    category_boost: dict[str, float]
    hour_boost: tuple[tuple[int, int, float], ...]
    source_weights: tuple[float, float, float]


#: The three incident files; `source_weights` below are shares in this order (≈ 35/25/40 % overall).
SOURCES = ("polisen", "bostadsbolaget", "est-app")

HOT_SPOTS: tuple[HotSpot, ...] = (
    HotSpot(
        name="Torget",
        place_type="centrum",
        de=0,
        dn=0,
        sigma_m=110,
        share=0.10,
        category_boost={"stold_inbrott": 2.0, "ordningsstorning": 1.8, "hot_vald": 1.5, "arrangemang": 3.0},
        hour_boost=((11, 18, 1.3), (22, 3, 1.5)),
        source_weights=(0.40, 0.15, 0.45),
    ),
    HotSpot(
        name="Resecentrum",
        place_type="hallplats",
        de=650,
        dn=-250,
        sigma_m=70,
        share=0.07,
        category_boost={"ordningsstorning": 2.0, "hot_vald": 2.0, "narkotika": 2.0, "stork_folksamling": 1.5},
        hour_boost=((20, 2, 1.8),),
        source_weights=(0.45, 0.10, 0.45),
    ),
    HotSpot(
        name="Norra skolans skolgård",
        place_type="skolgard",
        de=-350,
        dn=950,
        sigma_m=60,
        share=0.05,
        category_boost={"klotter": 3.0, "skadegorelse": 2.5, "stork_folksamling": 2.5, "brand": 1.5, "rykte": 2.0},
        hour_boost=((18, 23, 3.0), (8, 15, 0.5)),
        source_weights=(0.25, 0.05, 0.70),
    ),
    HotSpot(
        name="Södra skolans skolgård",
        place_type="skolgard",
        de=900,
        dn=-1000,
        sigma_m=65,
        share=0.04,
        category_boost={"klotter": 3.0, "skadegorelse": 2.5, "stork_folksamling": 2.5, "buskorning": 2.0},
        hour_boost=((18, 23, 3.0), (8, 15, 0.5)),
        source_weights=(0.25, 0.05, 0.70),
    ),
    HotSpot(
        name="Stadsparken",
        place_type="park",
        de=500,
        dn=650,
        sigma_m=140,
        share=0.09,
        category_boost={"narkotika": 2.5, "stork_folksamling": 2.0, "nedskrapning": 2.0, "ordningsstorning": 1.5},
        hour_boost=((19, 1, 2.0),),
        source_weights=(0.35, 0.10, 0.55),
    ),
)
#: Share of incidents near the dark clusters (mostly after dark).
DARK_SHARE = 0.12
DARK_SOURCE_WEIGHTS = (0.35, 0.25, 0.40)
BACKGROUND_SOURCE_WEIGHTS = (0.35, 0.35, 0.30)
BACKGROUND_PLACES = {
    "bostadsomrade": 0.45,
    "gata": 0.25,
    "parkering": 0.12,
    "trapphus": 0.1,
    "hallplats": 0.04,
    "ovrigt": 0.04,
}
#: Where the housing company's own reports (outside the hot spots) happen.
BOSTAD_PLACES = {"trapphus": 0.35, "bostadsomrade": 0.45, "parkering": 0.12, "ovrigt": 0.08}

#: Per category: how often each source reports it (polisen, bostadsbolaget, est-app), the
#: usual assessment (1–5), the share reported as a time window (overnight damage is found
#: in the morning) and the share of app reports also made to the police.
# fmt: off
CATEGORY_PROFILES: dict[str, tuple[tuple[float, float, float], int, float, float]] = {
    #                     weights          assessment  window  police
    "skadegorelse":      ((14, 20, 10),    3,          0.45,   0.4),
    "klotter":           ((3, 18, 10),     2,          0.55,   0.1),
    "brand":             ((3, 6, 4),       4,          0.15,   0.5),
    "ordningsstorning":  ((14, 12, 8),     3,          0.10,   0.1),
    "stork_folksamling": ((5, 10, 10),     3,          0.10,   0.1),
    "buskorning":        ((8, 1, 5),       3,          0.10,   0.1),
    "nedskrapning":      ((0.5, 14, 8),    2,          0.10,   0.1),
    "stold_inbrott":     ((22, 8, 5),      3,          0.55,   0.7),
    "narkotika":         ((10, 3, 4),      4,          0.10,   0.3),
    "hot_vald":          ((14, 3, 4),      4,          0.10,   0.6),
    "larm":              ((1, 2, 8),       2,          0.10,   0.1),
    "otrygg_plats":      ((0.5, 1, 8),     4,          0.10,   0.1),
    "rykte":             ((0.2, 0.5, 4),   2,          0.10,   0.1),
    "arrangemang":       ((0.5, 0.5, 3),   1,          0.10,   0.1),
    "ovrigt":            ((4, 4, 5),       2,          0.10,   0.1),
}
# fmt: on
#: For a category added to the taxonomy but not to the table above.
CATEGORY_PROFILE_DEFAULT = ((1.0, 1.0, 1.0), 3, 0.10, 0.1)
DARK_CATEGORY_BOOST = {
    "otrygg_plats": 5.0,
    "hot_vald": 1.5,
    "stold_inbrott": 1.5,
    "skadegorelse": 1.3,
    "narkotika": 1.5,
}

#: Which app organisation reports what (kommun, skola, vaktare, raddningstjanst, naringsliv).
APP_ORGS = ("kommun", "skola", "vaktare", "raddningstjanst", "naringsliv")
APP_ORG_WEIGHTS: dict[str, tuple[float, ...]] = {
    "larm": (5, 5, 70, 10, 10),
    "brand": (15, 5, 10, 65, 5),
    "klotter": (50, 25, 10, 0, 15),
    "rykte": (40, 50, 0, 0, 10),
    "arrangemang": (60, 10, 10, 5, 15),
    "stold_inbrott": (20, 10, 30, 0, 40),
    "otrygg_plats": (60, 20, 15, 0, 5),
}
APP_ORG_DEFAULT = (40, 20, 20, 5, 15)

#: Reports per local hour: low before dawn, rising through the day, peaking in the evening.
BASE_HOURS = np.array(
    [4, 3, 2.5, 1.8, 1.2, 1, 1.2, 1.8, 2.5, 3, 3.3, 3.6, 3.8, 4, 4.2, 4.6, 5, 5.5, 6.2, 7, 7.5, 7.5, 7, 5.5],
    dtype=float,
)
GROUP_HOUR_BOOST: dict[str, tuple[tuple[int, int, float], ...]] = {
    "ordning": ((21, 3, 1.8),),
    "brott": ((22, 5, 1.4),),
    "larm": ((22, 6, 1.8),),
    "otrygghet": ((17, 23, 1.5),),
    "ovrigt": ((9, 20, 1.8),),
}
DARK_HOUR_BOOST = ((17, 23, 1.5),)

#: Share of reports with a date but no time, per source.
DATE_ONLY_SHARE = {"polisen": 0.04, "bostadsbolaget": 0.10, "est-app": 0.05}
#: Median and spread (log) of the reporting delay in minutes, per source.
REPORT_DELAY = {"polisen": (180.0, 1.3), "bostadsbolaget": (600.0, 1.0), "est-app": (40.0, 1.2)}

#: Further spellings the housing company's system uses; all are taxonomy aliases.
BOSTAD_LABEL_VARIANTS = {
    "brand": ("Containerbrand", "Bilbrand"),
    "stold_inbrott": ("Inbrott", "Stöld"),
    "klotter": ("Klottring",),
    "stork_folksamling": ("Folksamling",),
    "ordningsstorning": ("Störning",),
}

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "skadegorelse": ("Krossad ruta", "Sönderslagen busskur", "Skadegörelse på bil", "Trasig armatur"),
    "klotter": ("Klotter på fasad", "Taggar på elskåp", "Klotter i gångtunnel"),
    "brand": ("Brand i container", "Bilbrand", "Anlagd brand i papperskorg"),
    "ordningsstorning": ("Berusade personer som stör", "Högljudd grupp", "Bråk utanför restaurang"),
    "stork_folksamling": ("Ungdomsgrupp samlas på kvällarna", "Större grupp, stökigt", "Folksamling med mopeder"),
    "buskorning": ("A-traktorer kör fort", "Mopedåkning på gångväg", "Buskörning på parkering"),
    "nedskrapning": ("Mycket skräp efter helgen", "Glassplitter och burkar", "Nedskräpning vid bänkar"),
    "stold_inbrott": ("Inbrott i förråd", "Cykelstöld", "Stöld ur bil", "Inbrott i källare"),
    "narkotika": ("Misstänkt langning", "Sprutor hittade", "Misstänkt försäljning av narkotika"),
    "hot_vald": ("Hot mot personal", "Misshandel", "Personal hotad vid stängning"),
    "larm": ("Inbrottslarm, ingen åtgärd", "Brandlarm, falsklarm", "Larm utlöst, rond gjord"),
    "otrygg_plats": ("Mörkt och otryggt", "Boende upplever platsen otrygg", "Belysningen fungerar inte"),
    "rykte": ("Rykte i sociala medier om slagsmål", "Uppgifter på sociala medier om hot"),
    "arrangemang": ("Marknad på torget", "Skolavslutning", "Konsert i parken"),
    "ovrigt": ("Övrig iakttagelse", "Övergivet fordon"),
}

# --- results ---------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What `generate_demo` wrote: inbox files, basemap files, counts and the planted truth."""

    files: list[Path]
    basemap_files: list[Path]
    counts: dict[str, int]
    truth: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Town:
    """Where the demo town sits: its centre in EPSG:3006 and WGS 84, its park, its edge.

    The built-up edge is a wobbly circle (phases from the seed) so the town is not a disc.
    """

    e: float
    n: float
    lon: float
    lat: float
    park: shapely.Polygon
    edge_phases: tuple[float, float]

    def built_up_radius(self, theta: np.ndarray) -> np.ndarray:
        """Distance from the centre to the edge of the built-up area at compass angle `theta`."""
        p1, p2 = self.edge_phases
        return 2050 + 250 * np.sin(2 * theta + p1) + 150 * np.sin(3 * theta + p2)


@cache
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_wgs84(e: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SWEREF 99 TM easting/northing → WGS 84 lon/lat."""
    return _transformer(3006, 4326).transform(e, n)


def make_town(settings: Settings, rng: np.random.Generator) -> Town:
    """Place the town at the configured centre, with a park north-east of the square."""
    centre = settings.municipality["centre_wgs84"]
    lon, lat = float(centre["lon"]), float(centre["lat"])
    e, n = _transformer(4326, 3006).transform(lon, lat)
    park_spot = next(s for s in HOT_SPOTS if s.place_type == "park")
    park = affinity.rotate(
        affinity.scale(shapely.Point(e + park_spot.de, n + park_spot.dn).buffer(1.0, 32), 280, 180),
        30,
    )
    return Town(float(e), float(n), lon, lat, park, tuple(rng.uniform(0, 2 * np.pi, 2)))


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
            "id": _zfill(np.arange(1, n + 1), 5),
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


# --- step 3: incidents -----------------------------------------------------------------


def sun_altitude_deg(utc_minutes: np.ndarray, lon: float, lat: float) -> np.ndarray:
    """Approximate solar altitude (degrees) at Unix-epoch minutes (UTC); good to ~1°.

    The generator needs "is it dark?" for millions of candidate times, so this is the
    short low-precision almanac formula on whole arrays rather than a full ephemeris.
    """
    d = (utc_minutes / 1440.0) - 10957.5  # days since J2000.0 (2000-01-01 12:00 UTC)
    g = np.deg2rad(357.529 + 0.98560028 * d)
    q = 280.459 + 0.98564736 * d
    ecl_lon = np.deg2rad(q + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
    eps = np.deg2rad(23.439 - 0.00000036 * d)
    ra = np.arctan2(np.cos(eps) * np.sin(ecl_lon), np.cos(ecl_lon))
    dec = np.arcsin(np.sin(eps) * np.sin(ecl_lon))
    gmst_deg = (18.697374558 + 24.06570982441908 * d) * 15.0
    hour_angle = np.deg2rad(gmst_deg + lon) - ra
    phi = np.deg2rad(lat)
    alt = np.arcsin(np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.cos(hour_angle))
    return np.rad2deg(alt)


class _Clock:
    """Local-time conversion and fast text formatting for epoch minutes.

    Formatting a million timestamps with strftime takes seconds; looking dates and
    "HH:MM" up in small tables indexed by day and minute takes milliseconds.
    """

    def __init__(self, tz: str, first_day: date, n_days: int):
        self.tz = tz
        self.day0 = (first_day - date(1970, 1, 1)).days
        self.n_days = n_days
        days = [first_day + timedelta(days=i) for i in range(n_days)]
        self.dates = np.array([d.isoformat() for d in days], dtype="U10")
        self.hms = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)], dtype="U5")

    def to_utc(self, local_minutes: np.ndarray) -> np.ndarray:
        """Local wall-clock minutes → UTC minutes (gaps shifted forward, folds as summer time)."""
        idx = pd.DatetimeIndex((local_minutes * 60).astype("datetime64[s]"))
        utc = idx.tz_localize(self.tz, ambiguous=np.ones(len(idx), bool), nonexistent="shift_forward")
        return utc.as_unit("s").asi8 // 60

    def to_local(self, utc_minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UTC minutes → (local wall-clock minutes, UTC offset in minutes)."""
        idx = pd.DatetimeIndex((utc_minutes * 60).astype("datetime64[s]")).tz_localize("UTC")
        wall = idx.tz_convert(self.tz).tz_localize(None).as_unit("s").asi8 // 60
        return wall, wall - utc_minutes

    def date(self, wall: np.ndarray) -> np.ndarray:
        return self.dates[np.clip(wall // 1440 - self.day0, 0, self.n_days - 1)]

    def hm(self, wall: np.ndarray) -> np.ndarray:
        return self.hms[wall % 1440]


def _hour_profile(*boosts: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    """BASE_HOURS multiplied by factors over ranges of local hours (ranges may wrap midnight)."""
    w = BASE_HOURS.copy()
    hours = np.arange(24)
    for ranges in boosts:
        for start, end, factor in ranges:
            inside = (hours >= start) & (hours < end) if start < end else (hours >= start) | (hours < end)
            w[inside] *= factor
    return w / w.sum()


@dataclass
class _Component:
    """One source of incidents in space: a hot spot, the dark clusters or the background."""

    name: str
    share: float
    source_weights: tuple[float, float, float]
    category_boost: dict[str, float]
    hour_boost: tuple[tuple[int, int, float], ...]
    place_types: dict[str, float]
    light_accept: float
    effects: list[tuple[int, int, float]] = field(default_factory=list)


@dataclass
class IncidentChunk:
    """A batch of incidents as whole arrays; codes are indices into the model's lists.

    Times are Unix-epoch minutes in UTC; `occurred_to` is -1 when there is no window and
    `assessment` 0 when the reporter gave none.
    """

    component: np.ndarray
    source: np.ndarray
    category: np.ndarray
    place_type: np.ndarray
    e: np.ndarray
    n: np.ndarray
    occurred_from: np.ndarray
    occurred_to: np.ndarray
    date_only: np.ndarray
    reported_at: np.ndarray
    assessment: np.ndarray
    police_reported: np.ndarray
    app_org: np.ndarray
    description: np.ndarray
    label_variant: np.ndarray
    precision_m: np.ndarray

    def __len__(self) -> int:
        return len(self.source)

    def take(self, index: np.ndarray) -> IncidentChunk:
        return IncidentChunk(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass
class IncidentModel:
    """Everything needed to draw incidents chunk by chunk with one random generator."""

    town: Town
    clusters: np.ndarray
    categories: list[str]
    place_types: list[str]
    groups: np.ndarray
    components: list[_Component]
    segments: np.ndarray
    segment_p: np.ndarray
    day_p: dict[str, np.ndarray]
    clock: _Clock
    first_day: date

    @classmethod
    def build(
        cls,
        settings: Settings,
        town: Town,
        streets: gpd.GeoDataFrame,
        clusters: np.ndarray,
        effects: dict[str, list[tuple[date, date, float]]],
    ) -> IncidentModel:
        """Prepare components, street segments and day weights for `sample`."""
        categories = list(settings.taxonomy["categories"])
        groups = np.array([settings.taxonomy["categories"][c]["group"] for c in categories])
        first_day = END_DATE - timedelta(days=PERIOD_DAYS - 1)
        clock = _Clock(settings.time_zone, first_day - timedelta(days=5), PERIOD_DAYS + 70)

        def minutes(d: date) -> int:
            return int(clock.to_utc(np.array([(d - date(1970, 1, 1)).days * 1440]))[0])

        components = [
            _Component(
                s.name,
                s.share,
                s.source_weights,
                s.category_boost,
                s.hour_boost,
                {s.place_type: 0.75, "gata": 0.1, "parkering": 0.1, "ovrigt": 0.05}
                if s.place_type != "hallplats"
                else {"hallplats": 0.8, "parkering": 0.15, "gata": 0.05},
                0.65,
                [(minutes(a), minutes(b + timedelta(days=1)), keep) for a, b, keep in effects.get(s.name, [])],
            )
            for s in HOT_SPOTS
        ]
        components.append(
            _Component(
                "dark",
                DARK_SHARE,
                DARK_SOURCE_WEIGHTS,
                DARK_CATEGORY_BOOST,
                DARK_HOUR_BOOST,
                {"gata": 0.4, "bostadsomrade": 0.3, "gc-tunnel": 0.15, "parkering": 0.15},
                0.12,
            )
        )
        components.append(
            _Component(
                "background",
                1 - DARK_SHARE - sum(s.share for s in HOT_SPOTS),
                BACKGROUND_SOURCE_WEIGHTS,
                {},
                (),
                BACKGROUND_PLACES,
                0.65,
            )
        )

        segments = _street_segments(streets)
        mid = (segments[:, :2] + segments[:, 2:]) / 2
        r = np.hypot(mid[:, 0] - town.e, mid[:, 1] - town.n)
        length = np.hypot(*(segments[:, 2:] - segments[:, :2]).T)
        weight = length * np.exp(-r / 1100.0)  # busier streets near the centre
        days = pd.date_range(first_day, periods=PERIOD_DAYS, freq="D")
        day_p = {g: _day_weights(days, g) for g in sorted(set(groups))}
        return cls(
            town,
            clusters,
            categories,
            list(settings.taxonomy["place_types"]),
            groups,
            components,
            segments,
            weight / weight.sum(),
            day_p,
            clock,
            first_day,
        )

    @staticmethod
    def _profile(category: str) -> tuple[tuple[float, float, float], int, float, float]:
        return CATEGORY_PROFILES.get(category, CATEGORY_PROFILE_DEFAULT)

    def sample(self, rng: np.random.Generator, n: int) -> IncidentChunk:
        """Draw `n` incidents — where, who reports, what, when — sorted by report time,
        as a case system would list them."""
        comp = rng.choice(len(self.components), n, p=[c.share for c in self.components])
        e, nn = self._locations(rng, comp)
        source, category, place = self._what(rng, comp)
        true_time = self._times(rng, comp, category)
        start, end, date_only, reported = self._when_reported(rng, source, category, true_time)
        chunk = IncidentChunk(
            component=comp,
            source=source,
            category=category,
            place_type=place,
            e=e,
            n=nn,
            occurred_from=start,
            occurred_to=end,
            date_only=date_only,
            reported_at=reported,
            **self._details(rng, comp, source, category),
        )
        noise = np.choose(source, [chunk.precision_m / 3, np.full(n, 8.0), np.full(n, 5.0)])
        chunk.e += rng.normal(0, 1, n) * noise
        chunk.n += rng.normal(0, 1, n) * noise
        return chunk.take(np.argsort(reported, kind="stable"))

    def _what(self, rng: np.random.Generator, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reporting source and place type by component; category by component and source."""
        n = len(comp)
        source = np.empty(n, dtype=np.int8)
        category = np.empty(n, dtype=np.int16)
        place = np.empty(n, dtype=np.int16)
        place_index = {p: i for i, p in enumerate(self.place_types)}
        for ci, c in enumerate(self.components):
            m = comp == ci
            source[m] = rng.choice(3, m.sum(), p=c.source_weights)
            codes = [place_index[p] for p in c.place_types]
            place[m] = rng.choice(codes, m.sum(), p=list(c.place_types.values()))
            for si in range(len(SOURCES)):
                ms = m & (source == si)
                w = np.array([self._profile(k)[0][si] * c.category_boost.get(k, 1.0) for k in self.categories])
                category[ms] = rng.choice(len(w), ms.sum(), p=w / w.sum())
        # The housing company's own background reports are about its buildings and yards.
        mine = (source == 1) & (comp == len(self.components) - 1)
        codes = [place_index[p] for p in BOSTAD_PLACES]
        place[mine] = rng.choice(codes, mine.sum(), p=list(BOSTAD_PLACES.values()))
        return source, category, place

    def _locations(self, rng: np.random.Generator, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = np.empty(len(comp))
        n = np.empty(len(comp))
        for ci, c in enumerate(self.components):
            m = comp == ci
            k = int(m.sum())
            if c.name == "dark":
                centre = self.clusters[rng.integers(0, len(self.clusters), k)]
                e[m], n[m] = (centre + rng.normal(0, 60, (k, 2))).T
            elif c.name == "background":
                seg = self.segments[rng.choice(len(self.segments), k, p=self.segment_p)]
                t = rng.random(k)[:, None]
                p = seg[:, :2] + t * (seg[:, 2:] - seg[:, :2]) + rng.normal(0, 12, (k, 2))
                e[m], n[m] = p.T
            else:
                spot = HOT_SPOTS[ci]
                e[m] = self.town.e + spot.de + rng.normal(0, spot.sigma_m, k)
                n[m] = self.town.n + spot.dn + rng.normal(0, spot.sigma_m, k)
        return e, n

    def _times(self, rng: np.random.Generator, comp: np.ndarray, category: np.ndarray) -> np.ndarray:
        """True moments (UTC minutes) by category group and place; more after dark."""
        out = np.empty(len(comp), dtype=np.int64)
        cat_group = self.groups[category]
        for ci, c in enumerate(self.components):
            for g in self.day_p:
                m = (comp == ci) & (cat_group == g)
                if m.any():
                    hour_p = _hour_profile(GROUP_HOUR_BOOST.get(g, ()), c.hour_boost)
                    accept = 1.0 if g == "ovrigt" else c.light_accept
                    out[m] = self._sample_times(rng, int(m.sum()), self.day_p[g], hour_p, accept, c.effects)
        return out

    def _sample_times(
        self,
        rng: np.random.Generator,
        n: int,
        day_p: np.ndarray,
        hour_p: np.ndarray,
        light_accept: float,
        effects: list[tuple[int, int, float]],
    ) -> np.ndarray:
        """Rejection sampling: daylight candidates survive with `light_accept`, and incidents
        during an intervention in this place with its keep share (the planted effect)."""
        out = np.empty(n, dtype=np.int64)
        filled = 0
        base = (self.first_day - date(1970, 1, 1)).days * 1440
        while filled < n:
            m = max(64, int((n - filled) * 2.5))
            local = base + rng.choice(len(day_p), m, p=day_p) * 1440 + rng.choice(24, m, p=hour_p) * 60 + rng.integers(0, 60, m)
            utc = self.clock.to_utc(local)
            alt = sun_altitude_deg(utc, self.town.lon, self.town.lat)
            accept = np.where(alt < DARK_SUN_ALTITUDE, 1.0, light_accept)
            for start, end, keep in effects:
                accept = accept * np.where((utc >= start) & (utc < end), keep, 1.0)
            take = utc[rng.random(m) < accept][: n - filled]
            out[filled : filled + len(take)] = take
            filled += len(take)
        return out

    def _when_reported(
        self, rng: np.random.Generator, source: np.ndarray, category: np.ndarray, true_time: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Turn the true moment into what reporters write: an exact time, a window
        (overnight vandalism is found in the morning) or only a date; then a report time."""
        n = len(source)
        window_p = np.array([self._profile(c)[2] for c in self.categories])
        window = rng.random(n) < window_p[category]
        date_only_p = np.array([DATE_ONLY_SHARE[s] for s in SOURCES])
        date_only = ~window & (rng.random(n) < date_only_p[source])
        width = np.clip(rng.lognormal(np.log(360), 0.7, n), 30, 3600)
        before = rng.random(n) * width
        start = np.where(window, (true_time - before) // 15 * 15, true_time).astype(np.int64)
        end = np.where(window, -(-(true_time - before + width) // 15) * 15, -1).astype(np.int64)
        median = np.array([REPORT_DELAY[s][0] for s in SOURCES])[source]
        sigma = np.array([REPORT_DELAY[s][1] for s in SOURCES])[source]
        delay = np.clip(np.round(median * np.exp(sigma * rng.standard_normal(n))), 5, 45 * 1440)
        reported = np.where(window, end, true_time) + delay.astype(np.int64)
        return start, end, date_only, reported

    def _details(
        self, rng: np.random.Generator, comp: np.ndarray, source: np.ndarray, category: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Assessment, police_reported, app organisation, precision, label and description."""
        n = len(comp)
        base = np.array([self._profile(c)[1] for c in self.categories])[category]
        assessment = np.clip(base + rng.integers(-1, 2, n), 1, 5).astype(np.int8)
        # The housing company's log leaves the assessment empty now and then.
        assessment[(source == 1) & (rng.random(n) < 0.08)] = 0
        police_p = np.array([self._profile(c)[3] for c in self.categories])
        org = np.empty(n, dtype=np.int8)
        desc = np.empty(n, dtype=object)
        variant = np.full(n, None, dtype=object)
        for ci, code in enumerate(self.categories):
            m = category == ci
            w = np.array(APP_ORG_WEIGHTS.get(code, APP_ORG_DEFAULT), float)
            org[m] = rng.choice(len(APP_ORGS), m.sum(), p=w / w.sum())
            desc[m] = rng.choice(DESCRIPTIONS.get(code, ("",)), m.sum())
            if code in BOSTAD_LABEL_VARIANTS:
                mv = m & (rng.random(n) < 0.25)
                variant[mv] = rng.choice(BOSTAD_LABEL_VARIANTS[code], mv.sum())
        schools = [i for i, s in enumerate(HOT_SPOTS) if s.place_type == "skolgard"]
        org[np.isin(comp, schools) & (rng.random(n) < 0.5)] = APP_ORGS.index("skola")
        return {
            "assessment": assessment,
            "police_reported": rng.random(n) < police_p[category],
            "app_org": org,
            "description": desc,
            "label_variant": variant,
            "precision_m": rng.choice([7.5, 12.5, 25.0, 50.0, 100.0, 250.0], n, p=[0.2, 0.2, 0.3, 0.15, 0.1, 0.05]),
        }


def _street_segments(streets: gpd.GeoDataFrame) -> np.ndarray:
    """Every street as straight pieces (x0, y0, x1, y1), for sampling points along streets."""
    coords, index = shapely.get_coordinates(streets.geometry.to_numpy(), return_index=True)
    same = index[1:] == index[:-1]
    return np.hstack([coords[:-1][same], coords[1:][same]])


def _day_weights(days: pd.DatetimeIndex, group: str) -> np.ndarray:
    """Relative incident rate per day: dark half of the year, Friday/Saturday, and group
    rhythms (public disorder in summer evenings, fires at New Year and Valborg)."""
    doy = days.day_of_year.to_numpy()
    w = 1 + 0.35 * np.cos(2 * np.pi * (doy - 330) / 365.25)
    if group == "ordning":
        w = 1 + 0.15 * np.cos(2 * np.pi * (doy - 330) / 365.25) + 0.7 * np.exp(-(((doy - 195) / 30) ** 2))
    if group == "skadegorelse":
        md = days.strftime("%m-%d")
        w = w * np.where(np.isin(md, ["12-31", "01-01", "04-30"]), 4.0, 1.0)
    w = w * np.array([0.9, 0.9, 0.9, 0.95, 1.2, 1.35, 1.05])[days.day_of_week.to_numpy()]
    w = w * (1 + 0.08 * np.arange(len(days)) / len(days))
    return w / w.sum()


# --- writing incidents in the sources' own formats ----------------------------------------


def _source_columns(settings: Settings, name: str) -> dict[str, Any]:
    """canonical field → the source's column name (or [date, time] pair), from config/sources."""
    return next(s for s in settings.sources if s["name"] == name)["columns"]


def _labels(settings: Settings, code_list: str, codes: list[str] | np.ndarray) -> np.ndarray:
    """Codes → Swedish labels, as people's exports contain them."""
    cl = settings.code_lists[code_list]
    return np.array([cl.label(str(c)) for c in codes], dtype=object) if len(codes) else np.array([], object)


def _join(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise string concatenation (C-level, via numpy.strings)."""
    out = np.asarray(parts[0])
    for p in parts[1:]:
        out = np.strings.add(out, p)
    return out


def _zfill(numbers: np.ndarray, width: int) -> np.ndarray:
    """Integers as zero-padded text (numpy's zfill fails on an empty array)."""
    text = np.asarray(numbers).astype(str)
    return np.strings.zfill(text, width) if text.size else text


def _decimal(values: np.ndarray, decimals: int, mark: str = ".") -> np.ndarray:
    """Fixed-point text with the given decimal mark; integer arithmetic, as '%.6f' with a
    decimal comma per value is the slowest part of writing a million rows."""
    scale = 10**decimals
    scaled = np.round(np.abs(values) * scale).astype(np.int64)
    whole = (scaled // scale).astype(str)
    frac = _zfill(scaled % scale, decimals)
    return _join(np.where(values < 0, "-", ""), whole, mark, frac)


def _csv_text(columns: dict[str, np.ndarray], sep: str, header: bool, newline: str = "\n") -> str:
    """Rows of text columns joined by `sep`, quoted where a value holds `sep` or a quote.

    Joining with `str.join` over zipped column lists runs in C and beats both
    `DataFrame.to_csv` and numpy string concatenation (which pads every row to the widest).
    """

    def quoted(col: np.ndarray) -> list[str]:
        col = np.asarray(col)
        if col.dtype.kind != "U":
            col = col.astype(str)
        if col.size and col.dtype.itemsize // 4 > 0:
            needs = (np.strings.find(col, sep) >= 0) | (np.strings.find(col, '"') >= 0)
            if needs.any():
                col = np.where(needs, _join('"', np.strings.replace(col, '"', '""'), '"'), col)
        return col.tolist()

    lines = [sep.join(quoted(np.array(list(columns), dtype=str)))] if header else []
    lines.extend(map(sep.join, zip(*(quoted(c) for c in columns.values()), strict=True)))
    return newline.join(lines) + (newline if lines else "")


class _IncidentWriter:
    """Appends incident chunks to the three source files in their own formats."""

    def __init__(self, model: IncidentModel, settings: Settings, app_as_csv: bool):
        self.model = model
        self.settings = settings
        self.clock = model.clock
        self.app_as_csv = app_as_csv
        inbox = settings.inbox
        self.paths = {
            "polisen": inbox / "polisen_utdrag.csv",
            "bostadsbolaget": inbox / "bostadsbolaget_arenden.csv",
            "est-app": inbox / ("est-app_export.csv" if app_as_csv else "est-app_export.geojson"),
        }
        # Swedish Excel: Windows-1252 with CRLF; the case system: UTF-8 with a BOM.
        self.handles: dict[str, IO[str]] = {
            "polisen": self.paths["polisen"].open("w", encoding="cp1252", newline=""),
            "bostadsbolaget": self.paths["bostadsbolaget"].open("w", encoding="utf-8-sig", newline=""),
        }
        if app_as_csv:
            self.handles["est-app"] = self.paths["est-app"].open("w", encoding="utf-8", newline="")
        self.app_frames: list[gpd.GeoDataFrame] = []
        self.counts = dict.fromkeys(SOURCES, 0)
        self.category_labels = _labels(settings, "categories", model.categories)
        self.place_labels = _labels(settings, "place_types", model.place_types)

    def write(self, chunk: IncidentChunk) -> None:
        for si, (source, writer) in enumerate(
            (("polisen", self._polisen), ("bostadsbolaget", self._bostad), ("est-app", self._app))
        ):
            part = chunk.take(np.flatnonzero(chunk.source == si))
            seq = np.arange(self.counts[source] + 1, self.counts[source] + 1 + len(part))
            writer(part, seq, header=self.counts[source] == 0)
            self.counts[source] += len(part)

    def close(self) -> list[Path]:
        for h in self.handles.values():
            h.close()
        if not self.app_as_csv:
            frames = [f for f in self.app_frames if len(f)]
            frame = pd.concat(frames, ignore_index=True) if frames else self.app_frames[0]
            _write_geojson(frame, self.paths["est-app"])
        return list(self.paths.values())

    def _times(self, utc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(date text, HH:MM text, UTC offset in minutes) of UTC minutes, in local time."""
        wall, offset = self.clock.to_local(utc)
        return self.clock.date(wall), self.clock.hm(wall), offset

    def _polisen(self, f: IncidentChunk, seq: np.ndarray, header: bool) -> None:
        """Police extract: date and time in separate columns, X = northing, Y = easting."""
        cols = _source_columns(self.settings, "polisen")
        from_d, from_t, _ = self._times(f.occurred_from)
        to_d, to_t, _ = self._times(f.occurred_to)
        rep_d, rep_t, _ = self._times(f.reported_at)
        has_to = f.occurred_to >= 0
        out = {
            cols["id"]: _join("5000-K", _zfill(seq, 7), "-", np.strings.slice(rep_d, 2, 4)),
            cols["category"]: self.category_labels[f.category],
            cols["occurred_from"][0]: from_d,
            cols["occurred_from"][1]: np.where(f.date_only, "", from_t),
            cols["occurred_to"][0]: np.where(has_to, to_d, ""),
            cols["occurred_to"][1]: np.where(has_to, to_t, ""),
            cols["reported_at"]: _join(rep_d, " ", rep_t),
            cols["x"]: np.round(f.n).astype(np.int64),
            cols["y"]: np.round(f.e).astype(np.int64),
            cols["precision_m"]: _decimal(f.precision_m, 1, ","),
            cols["place_type"]: self.place_labels[f.place_type],
            cols["description"]: f.description,
        }
        self.handles["polisen"].write(_csv_text(out, ";", header, "\r\n"))

    def _bostad(self, f: IncidentChunk, seq: np.ndarray, header: bool) -> None:
        """Housing company: ISO local times without offset, Lat/Long with decimal comma."""
        cols = _source_columns(self.settings, "bostadsbolaget")
        from_d, from_t, _ = self._times(f.occurred_from)
        to_d, to_t, _ = self._times(f.occurred_to)
        rep_d, rep_t, _ = self._times(f.reported_at)
        lon, lat = to_wgs84(f.e, f.n)
        out = {
            cols["id"]: _join("FJ-", _zfill(seq, 7)),
            cols["category"]: np.where(pd.isna(f.label_variant), self.category_labels[f.category], f.label_variant),
            cols["occurred_from"]: np.where(f.date_only, from_d, _join(from_d, "T", from_t)),
            cols["occurred_to"]: np.where(f.occurred_to >= 0, _join(to_d, "T", to_t), ""),
            cols["reported_at"]: _join(rep_d, "T", rep_t),
            cols["x"]: _decimal(lat, 6, ","),
            cols["y"]: _decimal(lon, 6, ","),
            cols["place_type"]: self.place_labels[f.place_type],
            cols["assessment"]: np.where(f.assessment > 0, f.assessment.astype(str), ""),
            cols["description"]: f.description,
        }
        self.handles["bostadsbolaget"].write(_csv_text(out, ";", header))

    def _app(self, f: IncidentChunk, seq: np.ndarray, header: bool) -> None:
        """EST app: canonical names and codes, ISO 8601 times with offset, WGS 84."""

        def iso(utc: np.ndarray) -> np.ndarray:
            d, t, offset = self._times(utc)
            return _join(d, "T", t, ":00", np.where(offset == 120, "+02:00", "+01:00"))

        has_to = f.occurred_to >= 0
        lon, lat = to_wgs84(f.e, f.n)
        out = {
            "id": _join("EST-", _zfill(seq, 8)),
            "source_org": np.array(APP_ORGS)[f.app_org],
            "category": np.array(self.model.categories)[f.category],
            "occurred_from": np.where(f.date_only, self._times(f.occurred_from)[0], iso(f.occurred_from)),
            "occurred_to": np.where(has_to, iso(f.occurred_to), ""),
            "reported_at": iso(f.reported_at),
            "place_type": np.array(self.model.place_types)[f.place_type],
            "assessment": f.assessment,
            "police_reported": f.police_reported,
            "description": f.description,
        }
        if self.app_as_csv:
            out["police_reported"] = np.where(f.police_reported, "true", "false")
            out["lon"], out["lat"] = _decimal(lon, 6), _decimal(lat, 6)
            self.handles["est-app"].write(_csv_text(out, ",", header))
        else:
            frame = pd.DataFrame(out)
            frame["occurred_to"] = frame["occurred_to"].where(has_to, None)
            self.app_frames.append(gpd.GeoDataFrame(frame, geometry=shapely.points(lon, lat), crs="EPSG:4326"))


def _write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    """RFC 7946 GeoJSON (lon/lat, no crs member) with six decimals (~0.1 m)."""
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, path, driver="GeoJSON", layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": 6})


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


def _walks_to_labels(walks: gpd.GeoDataFrame, settings: Settings) -> gpd.GeoDataFrame:
    """The walk app writes Swedish labels, problems as one comma-separated string."""
    out = walks.copy()
    problems = settings.code_lists["walk_problems"]
    out["problem"] = [", ".join(problems.label(p) for p in ps) for ps in walks["problem"]]
    out["ljusforhallande"] = _labels(settings, "walk_light_conditions", walks["ljusforhallande"].to_numpy())
    out["status"] = _labels(settings, "walk_statuses", walks["status"].to_numpy())
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


def _write_interventions(frame: pd.DataFrame, settings: Settings, path: Path) -> None:
    """The operative group's spreadsheet: Swedish labels, semicolons, UTF-8 with BOM."""
    cols = _source_columns(settings, "atgarder")
    out = frame.copy()
    out["decided_by"] = _labels(settings, "decision_levels", frame["decided_by"].to_numpy())
    out["type"] = _labels(settings, "intervention_types", frame["type"].to_numpy())
    out["start"] = [d.isoformat() for d in frame["start"]]
    out["end"] = [d.isoformat() if d else "" for d in frame["end"]]
    out.rename(columns=cols)[list(cols.values())].to_csv(path, sep=";", index=False, encoding="utf-8-sig")


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
    cols = _source_columns(settings, "belysning")
    kommunkod = str(settings.municipality.get("kommunkod", "0000"))
    out = lights.drop(columns=["kind"]).copy()
    out["id"] = [f"{kommunkod}-L{i}" for i in lights["id"]]
    out["lamp_type"] = _labels(settings, "lamp_types", lights["lamp_type"].to_numpy())
    out["owner"] = _labels(settings, "lamp_owners", lights["owner"].to_numpy())
    out["status"] = _labels(settings, "lamp_statuses", lights["status"].to_numpy())
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

    town = make_town(settings, town_rng)
    streets = make_street_network(town, town_rng)
    outline = make_municipality_outline(town, settings, town_rng)
    _write_gpkg(streets, basemap / "streets.gpkg", "streets")
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
    writer = _IncidentWriter(model, settings, app_as_csv=n_incidents > GEOJSON_MAX_INCIDENTS)
    n_chunks = max(1, -(-n_incidents // CHUNK_ROWS))
    for i in range(n_chunks):
        size = min(CHUNK_ROWS, n_incidents - i * CHUNK_ROWS)
        writer.write(model.sample(incident_rng, size))
        tick(f"Händelser {min((i + 1) * CHUNK_ROWS, n_incidents):,}/{n_incidents:,}", 0.85 / n_chunks)
    incident_files = writer.close()

    walks = make_walks(lights, clusters, town, walk_rng)
    walks_path = inbox / "trygghetsvandring_2026.geojson"
    _write_geojson(_walks_to_labels(walks, settings), walks_path)
    interventions = make_interventions(walks, town, settings, walk_rng)
    interventions_path = inbox / "atgarder.csv"
    _write_interventions(interventions, settings, interventions_path)

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
