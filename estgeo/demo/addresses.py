"""Step 1b: street names and the town's address register (belägenhetsadresser).

Part of the demo municipality (`estgeo.demo`). A municipality keeps one point per street
address; the demo writes the same for its town, so that exports that give an address
instead of coordinates (the housing company's, a school's) can be placed by ingest
(`estgeo.ingest.geocode`), and so that the maps can name the streets.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

#: Street names of a Värmland town, given to the streets in a fixed order (no randomness:
#: the demo's other random streams stay as they were).
STREET_NAMES = [
    "Storgatan", "Kyrkogatan", "Järnvägsgatan", "Skolgatan", "Parkvägen", "Björkvägen", "Östra Ringvägen",
    "Västra Ringvägen", "Fryksdalsgatan", "Älvgatan", "Torggatan", "Hantverkargatan", "Tingsgatan", "Prästgatan",
    "Badhusgatan", "Ekvägen", "Lingonvägen", "Granvägen", "Tallvägen", "Rosengatan", "Sjögatan", "Bergsgatan",
    "Malmgatan", "Smedjegatan", "Industrigatan", "Mejerigatan", "Kvarngatan", "Åsgatan", "Lövvägen", "Häggvägen",
    "Sunnegatan", "Frödingsgatan", "Selma Lagerlöfs väg", "Rottnegatan", "Ängsvägen", "Solvägen", "Månvägen",
    "Stjärnvägen", "Furuvägen", "Hagvägen", "Blåbärsvägen", "Kyrkvägen", "Norra Esplanaden", "Södra Esplanaden",
]
#: Between two address points on one side of a street.
SPACING_M = 30.0
#: From the street's centre line to the door.
SETBACK_M = 12.0
POSTCODE = "686 30"


#: Prefixes that make further names once the plain ones are used ("Lilla Storgatan").
PREFIXES = ["", "Lilla ", "Norra ", "Södra ", "Östra ", "Västra ", "Stora ", "Nya ", "Gamla "]
#: The local grid's spacing: segments this far apart across the street are different streets.
ROW_M = 80.0


def name_streets(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Streets with a `namn`, one name per street: the local grid's segments that lie in
    one row (east–west) or column (north–south) form one street, each main road is one;
    foot and cycle paths (gcvag) stay unnamed, as they are in real registers."""
    geoms = streets.geometry.to_numpy()
    start = shapely.get_point(geoms, 0)
    stop = shapely.get_point(geoms, -1)
    dx = shapely.get_x(stop) - shapely.get_x(start)
    dy = shapely.get_y(stop) - shapely.get_y(start)
    centre = shapely.centroid(geoms)
    across = np.where(np.abs(dx) >= np.abs(dy), shapely.get_y(centre), shapely.get_x(centre))
    keys = [f"main-{i}" if kind == "huvudgata" else "" if kind == "gcvag"
            else f"{'ew' if abs(a) >= abs(b) else 'ns'}-{int(np.round(c / ROW_M))}"
            for i, (kind, a, b, c) in enumerate(zip(streets["kind"], dx, dy, across, strict=True))]
    pool = [prefix + name for prefix in PREFIXES for name in STREET_NAMES]
    names: dict[str, str] = {}
    for key in keys:
        if key and key not in names:
            names[key] = pool[len(names) % len(pool)]
    return streets.assign(namn=[names.get(k, "") for k in keys])


def address_points(streets: gpd.GeoDataFrame, town_name: str) -> gpd.GeoDataFrame:
    """One point per address: odd numbers on the left of each named street, even on the
    right, every SPACING_M, SETBACK_M from the centre line (EPSG:3006). Vectorised over
    each street with shapely's line_interpolate_point."""
    rows: list[dict[str, object]] = []
    geoms = []
    named = streets[streets["namn"] != ""]
    centre = named.geometry.centroid
    order = named.assign(_e=centre.x, _n=centre.y).sort_values(["namn", "_e", "_n"])
    next_number: dict[str, int] = {}
    for name, line in zip(order["namn"], order.geometry, strict=True):
        if line is None or line.length < SPACING_M:
            continue
        distance = np.arange(SPACING_M / 2, line.length, SPACING_M)
        on = shapely.line_interpolate_point(line, distance)
        ahead = shapely.line_interpolate_point(line, np.minimum(distance + 1.0, line.length))
        behind = shapely.line_interpolate_point(line, np.maximum(distance - 1.0, 0.0))
        dx = shapely.get_x(ahead) - shapely.get_x(behind)
        dy = shapely.get_y(ahead) - shapely.get_y(behind)
        norm = np.hypot(dx, dy)
        norm[norm == 0] = 1.0
        left_x, left_y = -dy / norm * SETBACK_M, dx / norm * SETBACK_M
        x0, y0 = shapely.get_x(on), shapely.get_y(on)
        first = next_number.get(name, 0)
        next_number[name] = first + len(distance)
        for side, sign in ((1, 1.0), (2, -1.0)):
            numbers = 2 * (first + np.arange(len(distance))) + side
            geoms.extend(shapely.points(x0 + sign * left_x, y0 + sign * left_y))
            rows.extend({"gatunamn": name, "nummer": str(int(k)), "postnummer": POSTCODE, "ort": town_name}
                        for k in numbers)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:3006")
