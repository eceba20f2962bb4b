"""The planted town: where it sits, its hot spots, sources and profiles, and the result type.

Part of the demo municipality (`estgeo.demo`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely import affinity

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


def zfill(numbers: np.ndarray, width: int) -> np.ndarray:
    """Integers as zero-padded text (numpy's zfill fails on an empty array)."""
    text = np.asarray(numbers).astype(str)
    return np.strings.zfill(text, width) if text.size else text
