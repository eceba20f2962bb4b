"""Counts over areas — a lamp's reach, a dark gap, the circle round an unsafe place —
taken from the density layer's *published* counts of the H3 cells the area touches.

Why not count the incidents inside the area itself: counted afresh over its own circle
or polygon, an area's count is a second look at the same incidents through another
window, and the differences between overlapping areas and cells localise and pin the
counts the density withholds (issue "Privacy: no withheld count recoverable…", channel
4: 1–4 incidents pinned to 692 m² beside a published zero of lamps-out; withheld
dark-gaps counts narrowed to [1, 3] against the density cells). A sum of published
numbers tells an attacker nothing they could not add up themselves, under either
method: with suppression the sum is withheld when one of its terms is, with cell-key it
is the sum of the perturbed values. `estgeo.build.audit` recomputes every such count
from the published collections with `touched_cells` and `published_sums` and counts
any that differ as exposed.

What it costs: the support of a count is the cells its area touches (resolution 10:
hexagons of 0.015 km², edge 66 m) rather than the circle — the collections' descriptions
say so — and, with suppression, a sum is blank wherever one of its cells is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyproj
import shapely

from estgeo.audit.density import h3_ints

_TO_WGS84 = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)


def as_published(geoms: Sequence[shapely.Geometry] | np.ndarray) -> np.ndarray:
    """Geometries in EPSG:3006 as the collection publishes them (OGC:CRS84, the coordinates
    the audit reads back): what `touched_cells` takes, so build and audit agree to the bit."""
    return gpd.GeoSeries(np.asarray(geoms, dtype=object), crs="EPSG:3006").to_crs("OGC:CRS84").to_numpy()


def touched_cells(geoms: Sequence[shapely.Geometry] | np.ndarray, distance: float | np.ndarray, res: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The H3 cells of resolution `res` each published geometry (OGC:CRS84, `as_published`),
    grown by `distance` metres in EPSG:3006, overlaps: (index of the geometry, cell as
    int) pairs, each pair once.

    A function of what is published only (the geometry, its reach or the configured
    radius), so the audit finds the same cells as the build. One call of h3's polygon
    fill per area: areas are lamps out, gaps and places — hundreds to a few thousand per
    municipality, whatever the number of incidents."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    local = gpd.GeoSeries(geoms, crs="OGC:CRS84").to_crs("EPSG:3006").to_numpy()
    grown = shapely.buffer(local, distance, quad_segs=8)

    def to_wgs84(xy: np.ndarray) -> np.ndarray:
        lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    grown = shapely.transform(grown, to_wgs84)
    anchors = shapely.point_on_surface(geoms)
    which: list[np.ndarray] = []
    cells: list[np.ndarray] = []
    for i, (area, anchor) in enumerate(zip(grown, anchors, strict=True)):
        found = {h3.latlng_to_cell(shapely.get_y(anchor), shapely.get_x(anchor), res)}
        if area is not None and not shapely.is_empty(area):
            shape = h3.geo_to_h3shape(shapely.geometry.mapping(area))
            found.update(h3.h3shape_to_cells_experimental(shape, res, contain="overlap"))
        ints = np.array(sorted(h3.str_to_int(c) for c in found), dtype=np.int64)
        which.append(np.full(len(ints), i, dtype=np.int64))
        cells.append(ints)
    return np.concatenate(which), np.concatenate(cells)


def published_sums(pairs: tuple[np.ndarray, np.ndarray], n: int, density: pd.DataFrame, columns: Sequence[str],
                   period_kind: str = "all", since: object | None = None, until: object | None = None
                   ) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
    """Per area, the sum of the density's published `columns` over the cells it touches
    and the rows of `period_kind` (starting on or after `since` and before `until`, dates,
    when given): nullable integers and the mask of the blank ones — blank where a term is
    withheld. A cell without a row has no incidents in the period and adds 0, as the
    density's own readers take it."""
    rows = density[density["period_kind"].astype(str) == period_kind]
    if since is not None or until is not None:
        starts = pd.to_datetime(rows["period_start"]).dt.date
        keep = np.ones(len(rows), dtype=bool)
        if since is not None:
            keep &= (starts >= pd.Timestamp(since).date()).to_numpy()
        if until is not None:
            keep &= (starts < pd.Timestamp(until).date()).to_numpy()
        rows = rows[keep]
    hexes = h3_ints(rows["h3"].astype(str).to_numpy()).astype(np.int64)
    values = np.zeros(len(rows), dtype=np.int64)
    blank = np.zeros(len(rows), dtype=bool)
    for column in columns:
        v = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=np.float64)
        blank |= np.isnan(v)
        values += np.nan_to_num(v).astype(np.int64)
    # The cells' totals and blanks over the selected periods, then the areas' over their cells.
    cell_ids, at = np.unique(hexes, return_inverse=True)
    cell_sum = np.bincount(at, weights=values, minlength=len(cell_ids)).astype(np.int64)
    cell_blank = np.bincount(at, weights=blank, minlength=len(cell_ids)) > 0
    which, cells = pairs
    pos = np.searchsorted(cell_ids, cells)
    hit = (pos < len(cell_ids)) & (cell_ids[np.minimum(pos, max(len(cell_ids) - 1, 0))] == cells) if len(cell_ids) else \
        np.zeros(len(cells), dtype=bool)
    total = np.bincount(which[hit], weights=cell_sum[pos[hit]], minlength=n).astype(np.int64)
    hidden = np.bincount(which[hit], weights=cell_blank[pos[hit]], minlength=n) > 0
    return pd.arrays.IntegerArray(total, hidden.copy()), hidden


def target_cells(targets: Sequence[str], areas: Sequence[shapely.Geometry | None], res: int
                 ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The cells an intervention's counts are summed over: its target cell when the
    target is an H3 cell (only that cell: its hexagon touches the neighbours' edges), else
    the cells of resolution `res` its published area (OGC:CRS84, a circle round the
    place) touches. Also each target's resolution (−1 for an area), which picks the
    density collection."""
    which: list[int] = []
    cells: list[int] = []
    resolution = np.full(len(targets), -1, dtype=np.int64)
    shaped = [i for i, t in enumerate(targets) if not h3.is_valid_cell(str(t)) and areas[i] is not None]
    for i, target in enumerate(targets):
        if h3.is_valid_cell(str(target)):
            which.append(i)
            cells.append(h3.str_to_int(str(target)))
            resolution[i] = h3.get_resolution(str(target))
    if shaped:
        w, c = touched_cells([areas[i] for i in shaped], 0.0, res)
        which.extend(np.asarray(shaped, dtype=np.int64)[w].tolist())
        cells.extend(c.tolist())
    return (np.asarray(which, dtype=np.int64), np.asarray(cells, dtype=np.int64)), resolution


def week_windows(pivot: pd.Series, weeks: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The follow-up windows in whole ISO weeks, as the density publishes them: the
    `weeks` weeks before the week of the pivot (a local date), and the `weeks` weeks after
    it; the pivot's own week, half before and half after, is left out. Returns the
    Mondays starting the before-window, the after-window, and the Monday after it."""
    day = pd.to_datetime(pivot).dt.normalize()
    monday = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    span = pd.Timedelta(weeks=int(weeks))
    return monday - span, monday + pd.Timedelta(weeks=1), monday + pd.Timedelta(weeks=1) + span


def follow_up_sums(targets: Sequence[str], areas: Sequence[shapely.Geometry | None], before_from: pd.Series,
                   after_from: pd.Series, weeks: int, density: Callable[[int], pd.DataFrame | None], res: int
                   ) -> tuple[tuple[pd.arrays.IntegerArray, np.ndarray], tuple[pd.arrays.IntegerArray, np.ndarray]] | None:
    """Each intervention's before and after counts as published: the density's week
    counts (`density(resolution)`) of its `target_cells`, summed over the `weeks` weeks
    from `before_from` and from `after_from` (`week_windows`); with the blank masks. None
    when a density collection it needs is not there."""
    pairs, resolution = target_cells(targets, areas, res)
    frames = {r: density(r) for r in {res, *resolution[resolution >= 0].tolist()}}
    if any(f is None for f in frames.values()):
        return None
    # The week rows once per collection, not once per intervention and window.
    frames = {r: f[f["period_kind"].astype(str) == "week"] for r, f in frames.items() if f is not None}
    n = len(targets)
    span = pd.Timedelta(weeks=int(weeks))
    out = []
    for since, until in ((pd.to_datetime(before_from), pd.to_datetime(before_from) + span),
                         (pd.to_datetime(after_from), pd.to_datetime(after_from) + span)):
        total = np.zeros(n, dtype=np.int64)
        hidden = np.zeros(n, dtype=bool)
        for i in range(n):
            mine = pairs[0] == i
            if not mine.any() or pd.isna(since.iloc[i]):
                continue
            r = int(resolution[i]) if resolution[i] >= 0 else res
            value, blank = published_sums((np.zeros(int(mine.sum()), dtype=np.int64), pairs[1][mine]), 1, frames[r], ["count"],
                                          "week", since.iloc[i], until.iloc[i])
            hidden[i] = bool(blank[0])
            total[i] = 0 if blank[0] else int(value[0])
        out.append((pd.arrays.IntegerArray(total, hidden.copy()), hidden))
    return out[0], out[1]


def density_frame(built, res: int) -> pd.DataFrame | None:
    """The density collection of resolution `res` this build made (or carried), if any."""
    frame = built.get(f"incident-density-r{res}")
    if frame is None or not {"h3", "period_kind", "period_start", "count"}.issubset(frame.columns):
        return None
    return frame
