"""Builder `density`: incident counts on H3 cells per period, with change, Gi* and hot spots.

For every configured H3 resolution and every period kind (ISO week, lägesbild period,
month, whole range; see `estgeo.layers.periods`) one row per cell and period holds:

* ``id`` (``<h3>-<period_kind>-<yyyymmdd>``), ``h3``, ``resolution``, ``period_kind``,
  ``period`` (a label: 2024-W12, LB 2024-03-18, 2024-03, first/last day),
  ``period_start`` and ``period_end`` (local dates at midnight; the end is exclusive, the
  first day of the next period), ``complete`` (the data reach past the period's end);
* ``count`` and the split by category group (``grp_<group>``), by category
  (``cat_<category>``) and by light condition at the incident's time and place
  (``light_daylight``, ``light_twilight``, ``light_darkness``, ``light_unknown``; see
  `estgeo.layers.sun`);
* ``prev_count``, ``change`` and ``change_pct`` against the previous period of the same
  kind (null for the first period of the data, for ``all``, and wherever either count is
  withheld);
* at the default resolution (or those in the `gi_resolutions` parameter) ``gi_z``,
  ``gi_p``, ``gi_bin``: Getis-Ord Gi* of ``count`` on the cell's k-ring and its
  FDR-corrected significance bin (see `estgeo.layers.hotspots`);
* ``suppressed``: true when any count of the row is withheld (published as null) by
  `estgeo.layers.privacy`.

Rows exist for a cell and period with at least one incident, and for the period right
after a published count when the cell has none then (count 0), so a drop to zero shows
as a change. An incident belongs to the period holding the middle of its time window.
Coarser cells are the H3 parents of the incident's finest cell, so counts nest exactly
across resolutions (as H3 hexagons do not nest exactly, a point near an edge can lie just
outside its coarse cell's polygon).

The ``hotspots`` collection holds, at the default resolution, Gi* for the latest
complete period of each kind and for the whole range, and the emerging hot spot class
over all complete periods of that kind (``n_periods``; null for ``all``), for the cells
with incidents or with a significant or classified pattern.

Nothing about a single incident is published: no points, no free text, no reporter.
`ctx.built["density:incidents"]` keeps, for later builders only (never published), each
incident's id, its cell at the default resolution and its light condition.

A note on Gi* and privacy: Gi* is computed from the published counts, a withheld one
counting as ``min_count / 2``. From the true counts, the z-scores of a period are a
linear system in the withheld counts (13,512 of 14,547 withheld r9 totals of the demo came
back exactly from them); `estgeo.build.audit` recomputes every published z from the
published counts and reports any that differs.

Performance: each point is indexed once, at the finest resolution; coarser cells come
from bit operations on the H3 index (`h3_parent`). Incidents are sorted by cell once;
rows, counts and the coarser resolutions' rows then come from linear compiled passes
(`estgeo.layers.grouping`) into one count matrix, and the relations between rows from
that grouping. Suppression (compiled, it releases the GIL) runs in a second thread beside
the H3 calls for the Gi* neighbourhoods and the cell polygons, each asked once per cell.
No Python loop runs per incident except the H3 indexing itself (h3-py has no array
API); benchmarks/density.py measures the build against that indexing alone.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import h3.api.basic_int as h3i
import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
from h3ronpy.vector import cells_to_wkb_polygons

from estgeo.h3grid import h3_parent
from estgeo.layers import grouping, hotspots, privacy
from estgeo.layers.context import BuildContext
from estgeo.layers.periods import PERIOD_KINDS, PeriodScheme, day_to_datetime
from estgeo.layers.sun import LIGHT_CONDITIONS, light_condition

DEFAULTS: dict[str, Any] = {
    "k_ring": None,  # None: config h3.gi_k_ring
    "light_window_max_hours": 2.0,
    "trend_alpha": 0.05,
    "gi_decimals": 2,
    "gi_resolutions": None,  # None: only h3.default_resolution
    "collection_prefix": "incident-density",
    "hotspots_collection": "hotspots",
}

# H3 helpers ---------------------------------------------------------------------------
def index_points(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    """H3 cell (uint64) of each point. h3-py 4 has no array API, so this is the one
    per-point Python call of the build; the benchmark's baseline times exactly this."""
    to_cell = h3i.latlng_to_cell
    return np.fromiter((to_cell(a, b, res) for a, b in zip(lat.tolist(), lng.tolist(), strict=True)), dtype=np.uint64, count=len(lat))


def to_unix_seconds(moments) -> np.ndarray:
    """Seconds since 1970-01-01 UTC as float64 (NaN for NaT), whatever the datetime unit."""
    index = pd.DatetimeIndex(moments)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    seconds = index.to_numpy().astype("datetime64[ms]").astype(np.int64) / 1000.0
    seconds[np.asarray(index.isna())] = np.nan
    return seconds


def _cell_polygons_of(table: DensityTable, res: int, area: np.ndarray | None, area_polygons: np.ndarray | None) -> np.ndarray:
    """Polygons of the cells with incidents at `res`; taken from the Gi* study area's
    polygons where there is one (it holds those cells), so no cell is drawn twice."""
    if area is None or area_polygons is None:
        return cell_polygons(table.cells[res])
    return area_polygons[np.searchsorted(area, table.cells[res])]


def cell_polygons(cells: np.ndarray) -> np.ndarray:
    """Shapely polygons (lon/lat, closed rings) of H3 cells.

    h3ronpy draws them as WKB for the whole array in Rust, without the GIL: h3-py would
    ask for each cell's boundary in Python, the build's costliest call after indexing.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return np.empty(0, dtype=object)
    wkb = pa.array(cells_to_wkb_polygons(pa.array(cells, type=pa.uint64())))
    return shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))


# Count layout -------------------------------------------------------------------------
@dataclass(frozen=True)
class Columns:
    """The count columns of a row: total, groups, categories, light conditions."""

    groups: tuple[str, ...]
    categories: tuple[str, ...]
    category_group: np.ndarray  # group index of each category

    @classmethod
    def from_settings(cls, settings) -> Columns:
        cats = settings.taxonomy["categories"]
        groups = tuple(settings.taxonomy.get("category_groups") or dict.fromkeys(c["group"] for c in cats.values()))
        return cls(groups, tuple(cats), np.array([groups.index(c["group"]) for c in cats.values()], dtype=np.int64))

    @property
    def names(self) -> list[str]:
        return ["count", *(f"grp_{g}" for g in self.groups), *(f"cat_{c}" for c in self.categories),
                *(f"light_{x}" for x in LIGHT_CONDITIONS)]

    @property
    def group_cols(self) -> np.ndarray:
        return 1 + np.arange(len(self.groups))

    @property
    def category_cols(self) -> np.ndarray:
        return 1 + len(self.groups) + np.arange(len(self.categories))

    @property
    def light_cols(self) -> np.ndarray:
        return 1 + len(self.groups) + len(self.categories) + np.arange(len(LIGHT_CONDITIONS))

    def count(self, row: np.ndarray, n_rows: int, category: np.ndarray, light: np.ndarray,
              out: np.ndarray | None = None) -> np.ndarray:
        """The count matrix (rows × columns) of incidents with the given row, category and
        light code; written into `out` (C-contiguous int32) when given."""
        n_groups, n_categories = len(self.groups), len(self.categories)
        if out is None:
            out = np.empty((n_rows, len(self.names)), dtype=np.int32)
        _count_incidents(np.ascontiguousarray(row, dtype=np.int64), np.ascontiguousarray(category, dtype=np.int64),
                         self.category_group.astype(np.int64), np.ascontiguousarray(light, dtype=np.int64),
                         1, 1 + n_groups, 1 + n_groups + n_categories, out)
        return out


    def key_sums(self, row: np.ndarray, n_rows: int, category: np.ndarray, light: np.ndarray, keys: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
        """The cell keys (`estgeo.audit.cellkey`) of the matrix `count` makes: per entry, the
        sum of the record keys of the incidents counted, modulo 2³². Kept as int32 (two's
        complement wraps exactly as modulo 2³² does, and `grouping.sum_rows` then sums
        coarser rows the same way); read them with ``.view(np.uint32)``."""
        n_groups, n_categories = len(self.groups), len(self.categories)
        if out is None:
            out = np.empty((n_rows, len(self.names)), dtype=np.int32)
        _sum_incident_keys(np.ascontiguousarray(row, dtype=np.int64), np.ascontiguousarray(category, dtype=np.int64),
                           self.category_group.astype(np.int64), np.ascontiguousarray(light, dtype=np.int64),
                           np.ascontiguousarray(keys, dtype=np.uint32).view(np.int32), 1, 1 + n_groups,
                           1 + n_groups + n_categories, out)
        return out


@numba.njit(nogil=True, cache=True)
def _sum_incident_keys(row, category, category_group, light, key, group0, category0, light0, out):  # pragma: no cover
    """`_count_incidents` with each incident adding its key (int32, wrapping) instead of 1."""
    out[:] = 0
    for i in range(row.size):
        r = row[i]
        c = category[i]
        k = key[i]
        out[r, 0] += k
        out[r, group0 + category_group[c]] += k
        out[r, category0 + c] += k
        out[r, light0 + light[i]] += k


@numba.njit(nogil=True, cache=True)
def _count_incidents(row, category, category_group, light, group0, category0, light0, out):  # pragma: no cover
    """One pass over the incidents: each adds 1 to its row's total, group, category and light column."""
    out[:] = 0
    for i in range(row.size):
        r = row[i]
        c = category[i]
        out[r, 0] += 1
        out[r, group0 + category_group[c]] += 1
        out[r, category0 + c] += 1
        out[r, light0 + light[i]] += 1


# The table of counts ------------------------------------------------------------------
@dataclass
class Block:
    """Rows of one resolution and period kind, sorted by (cell index, period index)."""

    res: int
    kind: str
    cell: np.ndarray  # index into DensityTable.cells[res]
    period: np.ndarray  # index into DensityTable.periods[kind]
    counts: np.ndarray  # rows × columns, int32
    n_periods: int = 1
    keys: np.ndarray | None = None  # rows × columns: cell keys (int32 view of uint32), with cell-key
    offset: int = 0  # first row in the whole table
    parent_row: np.ndarray | None = None  # local row of each row's parent cell in the next coarser block

    @property
    def key(self) -> np.ndarray:
        return self.cell.astype(np.int64) * self.n_periods + self.period

    def find(self, cell: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Local row of each (cell, period), −1 when the block has no such row."""
        key = self.key
        want = np.asarray(cell, dtype=np.int64) * self.n_periods + period
        pos = np.minimum(np.searchsorted(key, want), max(key.size - 1, 0))
        return np.where((key.size > 0) & (key[pos] == want), pos, -1)


@dataclass
class DensityTable:
    """Counts for every resolution × period kind, plus what the relations need."""

    resolutions: list[int]
    columns: Columns
    scheme: PeriodScheme
    cells: dict[int, np.ndarray]  # sorted unique H3 cells per resolution
    coarser: dict[int, np.ndarray]  # cell index at res → cell index at the next coarser res
    periods: dict[str, np.ndarray]  # period start days per kind
    first_day: int
    last_day: int
    as_of_day: int
    blocks: dict[tuple[int, str], Block]
    all_counts: np.ndarray | None = None
    #: Cell keys of all_counts (int32, read as uint32), when the table was counted with record keys.
    all_keys: np.ndarray | None = None
    #: Per resolution, which of `cells` hold at least one incident (all of them in a sparse table).
    occupied: dict[int, np.ndarray] = field(default_factory=dict)
    #: True when every cell of `cells` has a row for every period (see `count_table`).
    grid: bool = False

    def occupied_cells(self, res: int) -> np.ndarray:
        occ = self.occupied.get(res)
        return self.cells[res] if occ is None else self.cells[res][occ]

    @property
    def all_end(self) -> int:
        return self.last_day + 1

    def ordered_blocks(self) -> list[Block]:
        return [self.blocks[(r, k)] for r in self.resolutions for k in PERIOD_KINDS]

    @property
    def n_rows(self) -> int:
        return sum(b.counts.shape[0] for b in self.blocks.values())

    def allocate(self, keys: bool = False) -> None:
        """One matrix for the whole table, to be filled in place: the blocks become views into it."""
        offset = 0
        for block in self.ordered_blocks():
            block.offset = offset
            offset += block.cell.size
        self.all_counts = np.empty((offset, len(self.columns.names)), dtype=np.int32)
        if keys:
            self.all_keys = np.empty_like(self.all_counts)
        for block in self.ordered_blocks():
            block.counts = self.all_counts[block.offset: block.offset + block.cell.size]
            if self.all_keys is not None:
                block.keys = self.all_keys[block.offset: block.offset + block.cell.size]

    def cell_keys(self) -> np.ndarray:
        """All rows × count columns: the cell key of each count (uint32)."""
        if self.all_keys is None:
            raise ValueError("the table was counted without record keys")
        return self.all_keys.view(np.uint32)

    def drop_keys(self) -> None:
        """Let the cell keys go once the counts are perturbed: nothing after needs them,
        and they are 4 bytes a count (2.4 GB at 10 million incidents)."""
        self.all_keys = None
        for block in self.blocks.values():
            block.keys = None

    def counts(self) -> np.ndarray:
        """All rows (blocks in `ordered_blocks` order) × count columns."""
        if self.all_counts is None:
            self.all_counts = np.concatenate([b.counts for b in self.ordered_blocks()])
        return self.all_counts


def _sorted_unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique values and the index of each value among them; without sorting when the
    values are sorted already (the case here)."""
    if values.size > 1 and (values[1:] < values[:-1]).any():
        return np.unique(values, return_inverse=True)
    new = np.empty(values.size, dtype=bool)
    new[:1] = True
    np.not_equal(values[1:], values[:-1], out=new[1:])
    return values[new], np.cumsum(new) - 1


def count_table(cell_finest: np.ndarray, category: np.ndarray, light: np.ndarray, day: np.ndarray,
                as_of_day: int, resolutions: list[int], columns: Columns, scheme: PeriodScheme,
                grid: bool = False, keys: np.ndarray | None = None) -> DensityTable:
    """Aggregate incidents (finest cell, category code, light code, local day) to all blocks.

    Sparse (the default): a row per (cell, period) with at least one incident. With
    `grid`, the rows a reader sees tell nothing by their existence: at the coarsest
    resolution the cells with incidents, at each finer one every child of a coarser cell
    with incidents, and each of these cells with a row for every period of every kind
    (count 0 where it had none). Otherwise a published row says "at least 1", and that
    bound, chained through the sums the layers publish, pins withheld counts (the
    privacy audit found 31,377 withheld counts known exactly on the demo that way).

    With `keys` (one record key per incident, cell-key method; sparse tables only) the
    table also holds the cell key of every count (`DensityTable.cell_keys`).
    """
    resolutions = sorted(resolutions)
    if grid and keys is not None:
        raise ValueError("privacy.rows grid is a suppression option; with cell-key the tables are sparse")
    if grid:
        return _grid_table(cell_finest, category, light, day, as_of_day, resolutions, columns, scheme)
    finest = resolutions[-1]
    pairs = list(reversed(list(itertools.pairwise(resolutions))))  # (coarse, fine), finest first
    cells = {}
    # Incidents sorted by cell once: every grouping below then reads memory in order.
    order = np.argsort(cell_finest)
    cells[finest], cell_idx = _sorted_unique(cell_finest[order])
    category, light, day = category[order], light[order], day[order]
    keys = keys[order] if keys is not None else None
    coarser: dict[int, np.ndarray] = {}
    for coarse, fine in pairs:
        # Parents of sorted cells are sorted (an H3 parent is a prefix of the index).
        cells[coarse], coarser[fine] = _sorted_unique(h3_parent(cells[fine], coarse))
    first_day = int(day.min()) if day.size else as_of_day
    last_day = max(int(day.max()) if day.size else as_of_day, as_of_day)
    periods = {kind: scheme.sequence(kind, first_day, last_day) for kind in PERIOD_KINDS}
    blocks: dict[tuple[int, str], Block] = {}
    incident_rows = {}
    unfilled = np.zeros((0, len(columns.names)), dtype=np.int32)  # counts come once all row counts are known
    for kind in PERIOD_KINDS:
        n_periods = periods[kind].size
        period = np.searchsorted(periods[kind], scheme.start(kind, day, first_day))
        incident_rows[kind], row_cell, row_period = grouping.group_by_segment(cell_idx, period, n_periods)
        blocks[(finest, kind)] = Block(finest, kind, row_cell, row_period, unfilled, n_periods=n_periods)
        for coarse, fine in pairs:
            child = blocks[(fine, kind)]
            child.parent_row, row_cell, row_period = grouping.group_by_segment(coarser[fine][child.cell], child.period, n_periods)
            blocks[(coarse, kind)] = Block(coarse, kind, row_cell, row_period, unfilled, n_periods=n_periods)
    table = DensityTable(resolutions, columns, scheme, cells, coarser, periods, first_day, last_day, as_of_day, blocks)
    table.allocate(keys=keys is not None)
    for kind in PERIOD_KINDS:
        finest_block = blocks[(finest, kind)]
        columns.count(incident_rows[kind], finest_block.cell.size, category, light, out=finest_block.counts)
        if keys is not None:
            columns.key_sums(incident_rows[kind], finest_block.cell.size, category, light, keys, out=finest_block.keys)
        for coarse, fine in pairs:
            child = blocks[(fine, kind)]
            assert child.parent_row is not None, "a finer block knows its parent rows"
            grouping.sum_rows(child.counts, child.parent_row, out=blocks[(coarse, kind)].counts)
            if keys is not None:
                assert child.keys is not None and blocks[(coarse, kind)].keys is not None
                grouping.sum_rows(child.keys, child.parent_row, out=blocks[(coarse, kind)].keys)
    return table


def _grid_table(cell_finest: np.ndarray, category: np.ndarray, light: np.ndarray, day: np.ndarray,
                as_of_day: int, resolutions: list[int], columns: Columns, scheme: PeriodScheme) -> DensityTable:
    """`count_table` with `grid`: rows for every period of every cell of the support."""
    finest = resolutions[-1]
    occupied_cells = {finest: grouping.unique(np.asarray(cell_finest, dtype=np.uint64))}
    for res in reversed(resolutions[:-1]):
        occupied_cells[res] = grouping.unique(h3_parent(occupied_cells[finest], res))
    cells = {resolutions[0]: occupied_cells[resolutions[0]]}
    for coarse, fine in itertools.pairwise(resolutions):
        children = h3_children(occupied_cells[coarse], fine)
        cells[fine] = grouping.unique(np.concatenate([children, occupied_cells[fine]]))
    occupied = {res: np.isin(cells[res], occupied_cells[res]) for res in resolutions}
    coarser = {fine: np.searchsorted(cells[coarse], h3_parent(cells[fine], coarse))
               for coarse, fine in itertools.pairwise(resolutions)}
    first_day = int(day.min()) if day.size else as_of_day
    last_day = max(int(day.max()) if day.size else as_of_day, as_of_day)
    periods = {kind: scheme.sequence(kind, first_day, last_day) for kind in PERIOD_KINDS}
    blocks: dict[tuple[int, str], Block] = {}
    unfilled = np.zeros((0, len(columns.names)), dtype=np.int32)
    for res in resolutions:
        n_cells = cells[res].size
        for kind in PERIOD_KINDS:
            n_periods = periods[kind].size
            blocks[(res, kind)] = Block(res, kind, np.repeat(np.arange(n_cells, dtype=np.int64), n_periods),
                                        np.tile(np.arange(n_periods, dtype=np.int64), n_cells), unfilled, n_periods=n_periods)
    table = DensityTable(resolutions, columns, scheme, cells, coarser, periods, first_day, last_day, as_of_day, blocks,
                         occupied=occupied, grid=True)
    table.allocate()
    cell_idx = np.searchsorted(cells[finest], cell_finest)
    pairs = list(reversed(list(itertools.pairwise(resolutions))))
    for kind in PERIOD_KINDS:
        n_periods = periods[kind].size
        period = np.searchsorted(periods[kind], scheme.start(kind, day, first_day))
        fine_block = blocks[(finest, kind)]
        columns.count(cell_idx * n_periods + period, fine_block.cell.size, category, light, out=fine_block.counts)
        for coarse, fine in pairs:
            child = blocks[(fine, kind)]
            child.parent_row = coarser[fine][child.cell] * n_periods + child.period
            grouping.sum_rows(child.counts, child.parent_row, out=blocks[(coarse, kind)].counts)
    return table


def gi_cells(table: DensityTable, res: int) -> np.ndarray:
    """The cells the Gi* study area is built around: those with incidents where a reader
    can see which they are (a grid's cells with child rows), else every cell with a row."""
    if table.grid and res == table.resolutions[-1]:
        return table.cells[res]
    return table.occupied_cells(res)


def h3_children(cells: np.ndarray, res: int) -> np.ndarray:
    """Every child at `res` of each H3 cell (7 per hexagon, 6 per pentagon), sorted unique."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return cells
    out = np.fromiter(itertools.chain.from_iterable(h3i.cell_to_children(int(c), res) for c in cells.tolist()), dtype=np.uint64)
    return grouping.unique(out)


def lower_bounds(table: DensityTable) -> np.ndarray:
    """Per table row, what its existence tells a reader about its total (0 or 1).

    In a grid table (`count_table`) every period row may be 0, and so may a cell's
    whole-range row at the finest resolution; a whole-range row at a coarser resolution
    has child rows only when it holds an incident, and the coarsest cells are the ones
    with incidents, so those are at least 1. In a sparse table every row is at least 1.
    """
    lower = np.ones(table.n_rows, dtype=np.int8)
    if not table.grid:
        return lower
    finest = table.resolutions[-1]
    for block in table.ordered_blocks():
        rows = slice(block.offset, block.offset + block.cell.size)
        if block.kind != "all" or block.res == finest:
            lower[rows] = 0
        else:
            lower[rows] = table.occupied[block.res][block.cell]
    return lower


def known_zero_rows(table: DensityTable) -> np.ndarray:
    """Rows a reader knows to be 0: in a grid, a cell without incidents at a resolution
    finer ones are published for has no child rows, so its counts are sums of nothing."""
    known = np.zeros(table.n_rows, dtype=bool)
    if not table.grid:
        return known
    for block in table.ordered_blocks():
        if block.res != table.resolutions[-1]:
            known[block.offset: block.offset + block.cell.size] = ~table.occupied[block.res][block.cell]
    return known


def column_relations(columns: Columns) -> list[privacy.ColumnRelation]:
    """Within a row: groups → total, categories → their group, light conditions → total."""
    out = [privacy.ColumnRelation("category groups → total", 0, columns.group_cols)]
    for g, group in enumerate(columns.groups):
        out.append(privacy.ColumnRelation(f"categories → {group}", 1 + g, columns.category_cols[columns.category_group == g]))
    out.append(privacy.ColumnRelation("light conditions → total", 0, columns.light_cols))
    return out


def row_relations(table: DensityTable, totals: np.ndarray | None = None, min_count: int = 0) -> list[privacy.RowRelation]:
    """Between rows: child cells → parent cell; periods → the periods they make up.

    With `totals`, relations under a parent row whose total is below `min_count` are left
    out: everything non-zero in them is suppressed anyway, so they cannot break.
    """
    out = []
    for name, parent in _row_relations(table, table.n_rows):
        if totals is not None:
            _drop_small_parents(parent, totals, min_count)
        out.append(privacy.RowRelation(name, parent))
    return out


@numba.njit(nogil=True, cache=True)
def _drop_small_parents(parent, totals, min_count):  # pragma: no cover - compiled
    """Cut the link to a parent row whose total is below `min_count`, in place."""
    for r in range(parent.size):
        if parent[r] >= 0 and totals[parent[r]] < min_count:
            parent[r] = -1


def _row_of_cell(whole: Block, cell: np.ndarray) -> np.ndarray:
    """Row of each cell in a block of the whole range. That block has one row per cell
    with incidents, in cell order, so the row is the cell index itself when the block
    covers every cell; otherwise (a hand-made table) it is looked up."""
    if whole.cell.size and whole.cell[-1] == whole.cell.size - 1:
        return np.asarray(cell, dtype=np.int64)
    return whole.find(cell, np.zeros_like(cell))


def _row_relations(table: DensityTable, n_rows: int):
    res = table.resolutions
    space = np.full(n_rows, -1, dtype=np.int64)
    for coarse, fine in reversed(list(itertools.pairwise(res))):
        for kind in PERIOD_KINDS:
            child, parent = table.blocks[(fine, kind)], table.blocks[(coarse, kind)]
            rows = slice(child.offset, child.offset + child.counts.shape[0])
            space[rows] = parent.offset + (child.parent_row if child.parent_row is not None
                                           else parent.find(table.coarser[fine][child.cell], child.period))
    yield "cell→parent cell", space
    for kind in ("week", "month", "lagesbild"):
        to_all = np.full(n_rows, -1, dtype=np.int64)
        for r in res:
            block, whole = table.blocks[(r, kind)], table.blocks[(r, "all")]
            to_all[block.offset: block.offset + block.counts.shape[0]] = whole.offset + _row_of_cell(whole, block.cell)
        yield f"{kind}→all", to_all
    if table.scheme.lagesbild_nests_weeks:
        to_lb = np.full(n_rows, -1, dtype=np.int64)
        weeks, lbs = table.periods["week"], table.periods["lagesbild"]
        lb_of_week = np.searchsorted(lbs, table.scheme.start("lagesbild", weeks))
        for r in res:
            block, lb = table.blocks[(r, "week")], table.blocks[(r, "lagesbild")]
            to_lb[block.offset: block.offset + block.counts.shape[0]] = lb.offset + lb.find(block.cell, lb_of_week[block.period])
        yield "week→lagesbild", to_lb


def suppression_mask(table: DensityTable, min_count: int, audit: bool | None = None,
                     stats: dict[str, Any] | None = None) -> np.ndarray:
    """Rows × columns mask of the counts to withhold: primary and secondary suppression by
    the rules of `estgeo.layers.privacy`, then, with `audit`, the complements the attacker's
    audit asks for (`estgeo.audit.density.protect`) until no withheld count is exposed."""
    counts = table.counts()
    rows = row_relations(table, counts[:, 0], min_count)
    cols = column_relations(table.columns)
    lower = lower_bounds(table)

    def rules(initial: np.ndarray | None = None) -> np.ndarray:
        return privacy.suppress_small_counts(counts, rows, cols, min_count, total_column=0, initial=initial, lower=lower)

    start = None
    if table.grid:
        # In a grid every row may be 0, so a zero is withheld like a small count: a
        # published 0 would tell that the withheld rows beside it hold at least 1.
        start = np.zeros(counts.shape, dtype=bool)
        start[:, 0] = counts[:, 0] == 0
    mask = rules(start)
    if audit is None:
        audit = table.grid
    if audit and min_count > 1:
        from estgeo.audit.density import protect

        mask, result = protect(counts, mask, list(_row_relations(table, table.n_rows)), cols, min_count, rules,
                               lower=lower, known_zero=known_zero_rows(table))
        if stats is not None:
            stats["protect"] = result
    return mask


def perturb_table(table: DensityTable, disclosure, min_count: int, stats: dict[str, Any] | None = None,
                  max_values: int | None = None, spill: Path | None = None) -> np.ndarray:
    """Cell-key method: replace the table's counts by their perturbed values, in place, and
    return the mask of the few the audit still finds exposed (`estgeo.audit.density.
    protect_perturbed`), to be published as withheld. `spill`: a folder where the proof
    for the audit of the files waits, mapped (`Proof.spill`), instead of in memory."""
    from estgeo.audit.density import Proof, protect_perturbed, table_index

    counts = table.counts()
    truth = counts.copy()
    # In place (CellKey.publish is this perturbation and withholds nothing): its temporaries
    # made the build's peak, 8.7 GB at a million incidents (`PerturbationTable.perturb`).
    disclosure.table.perturb(counts, table.cell_keys(), out=counts)
    table.drop_keys()
    # The audit rounds propagate on the table as it is (estgeo.audit.structured, 8 bytes a
    # count); above `max_values` (privacy.audit_max_values) without the LP/ILP stage.
    relations, col_relations, lower = list(_row_relations(table, table.n_rows)), column_relations(table.columns), lower_bounds(table)
    mask, result = protect_perturbed(truth, counts, relations, col_relations, min_count, disclosure.table, lower,
                                     lp_max_unknowns=max_values if max_values is not None else 20_000_000)
    bounds, result.bounds = result.bounds, None
    if stats is not None:
        stats["protect"] = result
        if bounds is not None:
            # For the audit of the files this build writes (`estgeo.audit.density.reuse`).
            started = time.perf_counter()
            proof = Proof(table_index(table), list(table.columns.names), counts, mask, lower, relations,
                          col_relations, truth, *bounds)
            del bounds, truth  # the proof holds them now, and `spill` lets them go
            if spill is not None:
                proof.spill(spill)
            stats["proof"] = proof
            # Kept for the audit, so counted with it (benchmarks/privacy.py).
            result.seconds += time.perf_counter() - started
    # Counts withheld are published as nothing: what the rest of the build shows of them
    # (Gi*, change) uses `privacy.stand_in`, as with suppression.
    return mask


# Build ---------------------------------------------------------------------------------
def build(ctx: BuildContext, params: dict[str, Any]) -> dict[str, gpd.GeoDataFrame]:
    opts = {**DEFAULTS, **(params or {})}
    settings = ctx.settings
    h3cfg = settings.project.get("h3", {})
    resolutions = sorted(int(r) for r in (opts.get("resolutions") or settings.h3_resolutions))
    default_res = int(opts.get("default_resolution") or h3cfg.get("default_resolution", resolutions[-1]))
    if default_res not in resolutions:
        raise ValueError(f"h3.default_resolution {default_res} is not among h3.resolutions {resolutions}")
    k_ring = int(opts["k_ring"] if opts["k_ring"] is not None else h3cfg.get("gi_k_ring", 1))
    # A layer may protect more than config/estgeo.yml asks, never less.
    min_count = max(int(opts.get("min_count") or 0), settings.privacy_min_count)
    scheme = PeriodScheme.from_settings(settings)
    columns = Columns.from_settings(settings)

    incidents = ctx.read("incidents")
    ctx.progress(f"density: {len(incidents):,} incidents")
    prepared = prepare_incidents(incidents, resolutions[-1], columns, scheme, float(opts["light_window_max_hours"]) * 3600.0)
    ctx.progress("density: counting per cell and period")
    # privacy.rows: "grid" publishes rows whose existence tells nothing (see count_table)
    # and audits the suppression until no withheld count is exposed; "sparse" (default)
    # publishes rows with incidents only.
    # privacy.method cell-key (default): every count perturbed by its cell key, nothing
    # withheld (estgeo.layers.disclosure); the rows are sparse, a row's existence says
    # "at least 1" and the perturbation table is wide enough for that (estgeo.audit.cellkey).
    disclosure = ctx.disclosure
    keys = disclosure.keys(incidents["id"]) if min_count > 1 else None
    grid = (keys is None and str((settings.project.get("privacy") or {}).get("rows", "sparse")) == "grid"
            and min_count > 1)
    table = count_table(prepared.cell, prepared.category, prepared.light, prepared.day, prepared.as_of_day,
                        resolutions, columns, scheme, grid=grid, keys=keys)
    perturbed_mask = None
    if keys is not None:
        ctx.progress(f"density: perturbing {table.counts().size:,} counts by their cell keys")
        perturbed_mask = perturb_table(table, disclosure, min_count, ctx.built.setdefault("density:privacy", {}),
                                       int((settings.project.get("privacy") or {}).get("audit_max_values", 20_000_000)),
                                       spill=ctx.out_dir)
    decimals = int(opts["gi_decimals"])
    prefix = opts["collection_prefix"]
    gi_resolutions = [r for r in resolutions if r in {int(g) for g in (opts.get("gi_resolutions") or [])} | {default_res}]
    ctx.progress(f"density: suppressing counts below {min_count} ({table.n_rows:,} rows) beside Gi* and cell polygons")
    # Suppression is compiled and whole-array numpy work that releases the GIL; Gi* and
    # the polygons are mostly H3 calls that hold it. Side by side they use two cores.
    # The H3 calls (disks, polygons) stay in this thread; the whole-array work goes to the other.
    with ThreadPoolExecutor(max_workers=1) as pool:
        suppressing = (pool.submit(suppression_mask, table, min_count) if perturbed_mask is None
                       else pool.submit(lambda: perturbed_mask))
        neighbourhoods = {res: hotspots.study_area_weights(gi_cells(table, res), k_ring) for res in gi_resolutions}
        area_polygons = {res: cell_polygons(neighbourhoods[res][0]) for res in gi_resolutions}
        geometry_cache = {res: _cell_polygons_of(table, res, neighbourhoods.get(res, (None,))[0], area_polygons.get(res))
                          for res in resolutions}
        mask = suppressing.result()
        # Gi* from the published counts only (a withheld count counts as min_count / 2):
        # from the true counts, the published z-scores of a period are a linear system
        # that gave 13,512 of 14,547 withheld r9 totals of the demo back exactly.
        computing = {res: pool.submit(gi_for_resolution, table, res, k_ring, float(opts["trend_alpha"]), res == default_res,
                                      neighbourhoods[res], mask, privacy.stand_in(min_count)) for res in gi_resolutions}
        gis = {res: done.result() for res, done in computing.items()}
    ctx.progress(f"density: frames for resolutions {', '.join(map(str, resolutions))}")
    # A frame is gathers in compiled code and Arrow kernels, which release the GIL: two
    # at a time, the finest (largest) first.
    with ThreadPoolExecutor(max_workers=2) as pool:
        making = {f"{prefix}-r{res}": pool.submit(density_frame, table, res, mask, gis.get(res), geometry_cache, decimals,
                                                  keys is None)
                  for res in reversed(resolutions)}
        making[opts["hotspots_collection"]] = pool.submit(hotspot_frame, table, default_res, mask, gis[default_res],
                                                          decimals, area_polygons[default_res])
        made = {name: future.result() for name, future in making.items()}
    frames: dict[str, gpd.GeoDataFrame] = {}
    for res in resolutions:
        frames[f"{prefix}-r{res}"] = made[f"{prefix}-r{res}"]
        if res == default_res:
            frames[opts["hotspots_collection"]] = made[opts["hotspots_collection"]]
    frames[prefix] = frames[f"{prefix}-r{default_res}"]
    frames[f"{prefix}-lagesbild"] = latest_lagesbild(frames[prefix])
    default_cell = h3_parent(prepared.cell, default_res)
    ctx.built.update(frames)
    ctx.built["density:incidents"] = pd.DataFrame({
        "id": incidents["id"].to_numpy(),
        "h3": default_cell,
        "light_condition": pd.Categorical.from_codes(prepared.light, categories=list(LIGHT_CONDITIONS)),
    })
    return frames


def latest_lagesbild(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The rows of the latest complete lägesbild period (the latest one when none is
    complete yet): the picture the EST group opens every two weeks, as its own collection.

    Why a collection and not a filter: QGIS 3.22's OAPIF provider filters a layer on the
    client, after downloading the whole collection (the demo's density: 60,000 rows in 6
    pages for the 308 of one period, 34 s for the first render; measured against a
    server log with the query strings). A collection of one period is one small page for
    every client, and follows each build. Every row is a row of the density, unchanged:
    the privacy audit holds it to that (`estgeo.build.audit._audit_copies`).
    """
    kind = frame["period_kind"].astype(str).to_numpy()
    lagesbild = kind == "lagesbild"
    if not lagesbild.any():
        return frame.iloc[0:0].copy()
    complete = lagesbild & frame["complete"].to_numpy(dtype=bool)
    pool = complete if complete.any() else lagesbild
    starts = frame["period_start"].to_numpy()
    latest = starts[pool].max()
    return frame[pool & (starts == latest)].reset_index(drop=True)


@dataclass
class PreparedIncidents:
    cell: np.ndarray  # finest-resolution H3 cell, uint64
    category: np.ndarray  # category index
    light: np.ndarray  # light condition code
    day: np.ndarray  # local day number of the window's middle
    as_of_day: int  # last local day the data covers


def prepare_incidents(incidents: pd.DataFrame, finest_res: int, columns: Columns, scheme: PeriodScheme,
                      light_window_max_s: float) -> PreparedIncidents:
    """Per-incident codes: finest H3 cell, category, light condition and local day."""
    to_wgs84 = pyproj.Transformer.from_crs("EPSG:3006", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(incidents["x"].to_numpy(dtype=np.float64), incidents["y"].to_numpy(dtype=np.float64))
    start = to_unix_seconds(incidents["occurred_from"])
    end = to_unix_seconds(incidents["occurred_to"])
    end = np.where(np.isnan(end), start, end)
    # The light condition is whole-array numpy, which releases the GIL: a second thread
    # computes it while this one indexes (h3-py holds the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        lighting = pool.submit(light_condition, start, end, lat, lon, max_window_s=light_window_max_s)
        cell = index_points(lat, lon, finest_res)
        light = lighting.result()
    middle = pd.to_datetime(((start + end) / 2.0 * 1000.0).astype(np.int64), unit="ms", utc=True)
    day = scheme.local_day(middle)
    category = pd.Categorical(incidents["category"], categories=list(columns.categories)).codes.astype(np.int64)
    if (category < 0).any():
        unknown = sorted(set(incidents.loc[category < 0, "category"].astype(str)))
        raise ValueError(f"incidents: categories not in config/taxonomy.yml: {', '.join(unknown)}")
    last = [end.max() if end.size else np.nan]
    if "reported_at" in incidents:
        reported = to_unix_seconds(incidents["reported_at"])
        if np.isfinite(reported).any():
            last.append(np.nanmax(reported))
    last_moment = np.nanmax(last) if np.isfinite(last).any() else 0.0
    as_of_day = int(scheme.local_day(pd.to_datetime([int(last_moment * 1000)], unit="ms", utc=True))[0])
    return PreparedIncidents(cell, category, light, day, as_of_day)


# Gi* ----------------------------------------------------------------------------------
@dataclass
class GiResult:
    cells: np.ndarray  # study-area cells (sorted uint64)
    z: dict[str, np.ndarray]  # kind → cells × periods
    bins: dict[str, np.ndarray]
    emerging: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)  # kind → (latest complete period, class)


def gi_for_resolution(table: DensityTable, res: int, k_ring: int, trend_alpha: float, emerging: bool,
                      neighbourhood: tuple[np.ndarray, Any] | None = None, mask: np.ndarray | None = None,
                      withheld_value: float = 0.0) -> GiResult:
    """Gi* of every period kind at `res`; `neighbourhood` is the study area and its
    weights when already at hand (`hotspots.study_area_weights`). With `mask`, a count
    withheld there enters as `withheld_value`, so the z-scores tell nothing a reader
    could not compute from the published counts."""
    cells = table.cells[res]
    area, weights = neighbourhood or hotspots.study_area_weights(gi_cells(table, res), k_ring)
    pos_of_cell = np.minimum(np.searchsorted(area, cells), max(area.size - 1, 0))
    in_area = (area[pos_of_cell] == cells) if area.size else np.zeros(cells.size, dtype=bool)
    result = GiResult(area, {}, {})
    for kind in PERIOD_KINDS:
        block = table.blocks[(res, kind)]
        x = np.zeros((area.size, block.n_periods), dtype=np.float64)
        counts = block.counts[:, 0].astype(np.float64)
        if mask is not None:
            counts = np.where(mask[block.offset: block.offset + block.cell.size, 0], withheld_value, counts)
        keep = in_area[block.cell]
        x[pos_of_cell[block.cell[keep]], block.period[keep]] = counts[keep]
        z = hotspots.gi_star(x, weights)
        result.z[kind] = z
        result.bins[kind] = hotspots.fdr_bins(z)
        if emerging and kind != "all":
            complete = np.flatnonzero(table.scheme.next_start(kind, table.periods[kind]) <= table.as_of_day)
            if complete.size:
                last = int(complete[-1])
                classes = hotspots.emerging_hotspots(z[:, : last + 1], result.bins[kind][:, : last + 1], trend_alpha)
                result.emerging[kind] = (last, classes)
    return result


# Frames --------------------------------------------------------------------------------
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def h3_strings(cells: np.ndarray) -> pa.Array:
    """H3 cells as their usual 15-digit hex strings, vectorised (same as h3.int_to_str)."""
    cells = np.asarray(cells, dtype=np.uint64)
    shifts = np.arange(14, -1, -1, dtype=np.uint64) * np.uint64(4)
    digits = _HEX_DIGITS[((cells[:, None] >> shifts) & np.uint64(0xF)).astype(np.intp)]
    offsets = np.arange(0, 15 * cells.size + 1, 15, dtype=np.int32)
    return pa.StringArray.from_buffers(cells.size, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits)))


def _strings(values) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(pa.chunked_array([values]) if isinstance(values, pa.Array) else values)


def _iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


@dataclass
class _PeriodIndex:
    """Every period of every kind in one list, so rows of all kinds share one lookup."""

    kind: np.ndarray  # kind code per period
    start: np.ndarray  # day numbers
    end: np.ndarray
    label: pa.Array
    key: pa.Array  # "week-20240318", used in ids
    offset: dict[str, int]

    @classmethod
    def of(cls, table: DensityTable) -> _PeriodIndex:
        kinds: list[np.ndarray] = []
        starts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        offset: dict[str, int] = {}
        for code, kind in enumerate(PERIOD_KINDS):
            offset[kind] = sum(len(s) for s in starts)
            seq = table.periods[kind]
            starts.append(seq)
            ends.append(table.scheme.next_start(kind, seq, table.all_end))
            kinds.append(np.full(seq.size, code, dtype=np.int8))
            labels.append(table.scheme.label(kind, seq) if kind != "all"
                          else np.array([f"{_iso(table.first_day)}/{_iso(table.last_day)}"], dtype=object))
        start = np.concatenate(starts)
        codes = np.concatenate(kinds)
        days = pd.to_datetime(start.astype("datetime64[D]")).strftime("%Y%m%d").to_numpy()
        key = np.asarray(PERIOD_KINDS, dtype=object)[codes] + "-" + days.astype(object)
        return cls(codes, start, np.concatenate(ends), pa.array(np.concatenate(labels).astype(str)), pa.array(key.astype(str)), offset)


def _columns_for(table: DensityTable, periods: _PeriodIndex, res: int, cell: np.ndarray, pcode: np.ndarray) -> dict[str, Any]:
    """Identification and period columns of rows given as (cell index, period code)."""
    hex_all = h3_strings(table.cells[res])
    hexes = pc.take(hex_all, pa.array(cell))
    ids = pc.binary_join_element_wise(hexes, pc.take(periods.key, pa.array(pcode)), "-")
    kind = periods.kind[pcode]
    return {
        "id": _strings(ids),
        "h3": _strings(hexes),
        "resolution": np.full(cell.size, res, dtype=np.int8),
        "period_kind": pd.Categorical.from_codes(kind, categories=list(PERIOD_KINDS)),
        "period": _strings(pc.take(periods.label, pa.array(pcode))),
        "period_start": day_to_datetime(periods.start)[pcode],
        "period_end": day_to_datetime(periods.end)[pcode],
        "complete": (periods.end <= table.as_of_day)[pcode],
    }


def _columns_of_rows(counts: np.ndarray, mask: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and mask of the given table rows (−1: a row of zeros, not withheld), column
    by column (columns × rows), as the frame's columns want them; one compiled pass
    instead of gathering rows and transposing (a strided copy numpy does slowly)."""
    return _gather_transposed(np.ascontiguousarray(counts), np.ascontiguousarray(mask), np.ascontiguousarray(source, dtype=np.int64))


@numba.njit(nogil=True, cache=True)
def _gather_transposed(counts, mask, source):  # pragma: no cover - compiled
    """In blocks of rows small enough to stay in cache, so that each output column is
    written in order while the block's table rows are read once from memory."""
    width = counts.shape[1]
    n = source.size
    counts_t = np.empty((width, n), dtype=np.int32)
    hidden_t = np.empty((width, n), dtype=np.bool_)
    for lo in range(0, n, 1024):
        hi = min(lo + 1024, n)
        for j in range(width):
            for i in range(lo, hi):
                r = source[i]
                if r >= 0:
                    counts_t[j, i] = counts[r, j]
                    hidden_t[j, i] = mask[r, j]
                else:
                    counts_t[j, i] = 0
                    hidden_t[j, i] = False
    return counts_t, hidden_t


def density_frame(table: DensityTable, res: int, mask: np.ndarray, gi: GiResult | None,
                  geometry_cache: dict[int, np.ndarray], gi_decimals: int, zero_rows: bool = True) -> gpd.GeoDataFrame:
    """All period kinds of one resolution as one GeoDataFrame (EPSG:4326 lon/lat).

    Besides the rows with incidents, with `zero_rows` a row with count 0 follows a row
    whose published count has no successor in the next period, so the drop shows as a
    change; after a suppressed count such a row would say nothing (its change is
    withheld) and is left out. With cell-key perturbation there are no such rows: a
    perturbed count can be 0 too, and a reader who cannot tell the two apart learns less
    than the audit would assume — every row then holds at least one incident, as the
    audit models it.
    """
    periods = _PeriodIndex.of(table)
    cells, pcodes, sources, prev_counts, prev_unknown = [], [], [], [], []
    for kind in PERIOD_KINDS:
        block = table.blocks[(res, kind)]
        cell, period = block.cell, block.period
        source = block.offset + np.arange(cell.size)  # the row's place in the table; −1: a zero row
        if kind != "all":
            following = block.find(cell, period + 1)
            extra = np.flatnonzero((following < 0) & (period + 1 < block.n_periods) & ~mask[source, 0] & zero_rows)
            cell = np.concatenate([cell, cell[extra]])
            period = np.concatenate([period, period[extra] + 1])
            source = np.concatenate([source, np.full(extra.size, -1)])
            prev = block.find(cell, period - 1)
            has_prev = prev >= 0
            prev_counts.append(np.where(has_prev, block.counts[np.maximum(prev, 0), 0], 0).astype(np.int32))
            prev_unknown.append((period == 0) | (has_prev & mask[block.offset + np.maximum(prev, 0), 0]))
        else:
            prev_counts.append(np.zeros(cell.size, dtype=np.int32))
            prev_unknown.append(np.ones(cell.size, dtype=bool))
        cells.append(cell)
        pcodes.append(periods.offset[kind] + period)
        sources.append(source)
    cell, pcode = np.concatenate(cells), np.concatenate(pcodes)
    counts_t, hidden_t = _columns_of_rows(table.counts(), mask, np.concatenate(sources))
    prev_count, unknown_prev = np.concatenate(prev_counts), np.concatenate(prev_unknown)
    data = _columns_for(table, periods, res, cell, pcode)
    for j, name in enumerate(table.columns.names):
        data[name] = pd.arrays.IntegerArray(counts_t[j], hidden_t[j])
    change = counts_t[0] - prev_count
    no_change = unknown_prev | hidden_t[0]
    data["prev_count"] = pd.arrays.IntegerArray(prev_count, unknown_prev)
    data["change"] = pd.arrays.IntegerArray(change, no_change)
    with np.errstate(divide="ignore", invalid="ignore"):
        data["change_pct"] = np.round(np.where(~no_change & (prev_count > 0), 100.0 * change / np.maximum(prev_count, 1), np.nan), 1)
    if gi is not None:
        area_pos = np.searchsorted(gi.cells, table.cells[res])[cell]
        kind = periods.kind[pcode]
        period = pcode - np.asarray([periods.offset[k] for k in PERIOD_KINDS])[kind]
        z = np.empty(cell.size)
        bins = np.empty(cell.size, dtype=np.int8)
        for code, name in enumerate(PERIOD_KINDS):
            rows = kind == code
            z[rows] = gi.z[name][area_pos[rows], period[rows]]
            bins[rows] = gi.bins[name][area_pos[rows], period[rows]]
        data["gi_z"] = np.round(z, gi_decimals)
        data["gi_p"] = np.round(hotspots.p_value(z), 4)
        data["gi_bin"] = bins
    data["suppressed"] = hidden_t.any(axis=0)
    if res not in geometry_cache:
        geometry_cache[res] = cell_polygons(table.cells[res])
    frame = pd.DataFrame(data, copy=False)
    return gpd.GeoDataFrame(frame, geometry=geometry_cache[res][cell], crs="OGC:CRS84", copy=False)


def hotspot_frame(table: DensityTable, res: int, mask: np.ndarray, gi: GiResult, gi_decimals: int,
                  area_polygons: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """Gi* of the latest complete period of each kind and of the whole range, with the
    emerging hot spot class, for the cells with incidents or a pattern (default resolution)."""
    periods = _PeriodIndex.of(table)
    has_incidents = np.isin(gi.cells, table.occupied_cells(res))
    parts = []
    for kind in PERIOD_KINDS:
        if kind == "all":
            last, classes = 0, None
        elif kind in gi.emerging:
            last, classes = gi.emerging[kind]
        else:
            continue
        z, bins = gi.z[kind][:, last], gi.bins[kind][:, last]
        block = table.blocks[(res, kind)]
        in_period = np.flatnonzero(block.period == last)
        period_cells = table.cells[res][block.cell[in_period]]
        pos = np.minimum(np.searchsorted(gi.cells, period_cells), max(gi.cells.size - 1, 0))
        inside = gi.cells[pos] == period_cells if gi.cells.size else np.zeros(pos.size, dtype=bool)
        in_period, pos = in_period[inside], pos[inside]
        counts = np.zeros(gi.cells.size, dtype=np.int32)
        hidden = np.zeros(gi.cells.size, dtype=bool)
        counts[pos] = block.counts[in_period, 0]
        hidden[pos] = mask[block.offset + in_period, 0]
        cls = classes if classes is not None else np.zeros(gi.cells.size, dtype=np.int8)
        keep = np.flatnonzero(has_incidents | (bins != 0) | (cls != 0))
        parts.append((kind, last, keep, counts[keep], hidden[keep], z[keep], bins[keep],
                      cls[keep] if classes is not None else None))
    area_rows = np.concatenate([p[2] for p in parts])
    # Rows are cells of the study area, which may have no incident: index them by their own list.
    used = grouping.unique(area_rows)
    sub_table = DensityTable(table.resolutions, table.columns, table.scheme, {res: gi.cells[used]}, {}, table.periods,
                             table.first_day, table.last_day, table.as_of_day, {})
    pcode = np.concatenate([np.full(p[2].size, periods.offset[p[0]] + p[1]) for p in parts])
    data = _columns_for(sub_table, periods, res, np.searchsorted(used, area_rows), pcode)
    hidden = np.concatenate([p[4] for p in parts])
    data["count"] = pd.arrays.IntegerArray(np.concatenate([p[3] for p in parts]), hidden)
    z = np.concatenate([p[5] for p in parts])
    data["gi_z"] = np.round(z, gi_decimals)
    data["gi_p"] = np.round(hotspots.p_value(z), 4)
    data["gi_bin"] = np.concatenate([p[6] for p in parts])
    codes = np.concatenate([p[7] if p[7] is not None else np.full(p[2].size, -1, dtype=np.int8) for p in parts])
    data["hotspot_class"] = pd.Categorical.from_codes(codes, categories=list(hotspots.EMERGING_CLASSES))
    data["n_periods"] = np.concatenate([np.full(p[2].size, p[1] + 1, dtype=np.int32) for p in parts])
    data["suppressed"] = hidden
    polygons = area_polygons[used] if area_polygons is not None else cell_polygons(gi.cells[used])
    geometry = polygons[np.searchsorted(used, area_rows)]
    return gpd.GeoDataFrame(pd.DataFrame(data, copy=False), geometry=geometry, crs="OGC:CRS84", copy=False)
