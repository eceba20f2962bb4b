"""The density layers as the attacker sees them, and the repair that makes them safe.

Two ways into the same `tables.CountTable`:

* `internal_table` — from the build's own `DensityTable` and suppression mask (true values
  at hand), for `protect`, the audit-driven secondary suppression the density builder
  runs: audit, withhold a complement next to every exposed value, re-apply the rules of
  `estgeo.layers.privacy`, audit again, until nothing is exposed.
* `published_table` — from the published collections alone (`incident-density-r*`,
  what a reader downloads), for `estgeo privacy audit` and the build's last check. The
  relations are rebuilt from the ids a reader sees: H3 parents, period starts and ends.

Both see the same relations, bounds and facts, so a build that `protect` passed is one
the published audit passes (a test holds them to that).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from estgeo.audit import structured, tables
from estgeo.h3grid import h3_parent

COUNT = "count"


@dataclass
class ProtectStats:
    rounds: int = 0
    added: int = 0  # complements the audit asked for, before the rules added theirs
    exposed_first: int = 0  # exposed values the rules alone left
    seconds_audit: float = 0.0  # the audits of the rounds
    seconds: float = 0.0  # the whole protect step: audits, tables and what to withhold
    history: list[int] = field(default_factory=list)
    not_exact: str = ""  # why the exact stage (LP/ILP) did not run, if it did not
    #: The last round's bounds (`structured.propagate_table`'s), when the rounds ran without
    #: the exact stage: the fixed point of the table as published (`Proof`).
    bounds: tuple[np.ndarray, np.ndarray] | None = None


def internal_table(values: np.ndarray, mask: np.ndarray, row_relations, column_relations,
                   lower: np.ndarray | None = None, known_zero: np.ndarray | None = None) -> tables.CountTable:
    """`row_relations`: (name, parent array) pairs; `column_relations`: privacy.ColumnRelation;
    `lower`: per row, the lower bound its existence gives its total (default 1: a sparse
    table's rows exist only with an incident); `known_zero`: rows a reader knows are 0."""
    bounds = np.zeros(values.shape, dtype=np.float64)
    bounds[:, 0] = 1.0 if lower is None else lower
    table = tables.CountTable(
        values=values, withheld=mask,
        column_sums=[tables.ColumnSum(r.name, int(r.parent), np.asarray(r.children)) for r in column_relations],
        row_sums=[tables.RowSum(name, parent) for name, parent in row_relations],
        lower=bounds)
    if known_zero is not None and known_zero.any():
        cells = np.flatnonzero((mask & known_zero[:, None]).ravel())
        table.equal_cells, table.equal_values = cells, np.zeros(cells.size)
    return table


def protect(values: np.ndarray, mask: np.ndarray, row_relations, column_relations, min_count: int,
            resuppress: Callable[[np.ndarray], np.ndarray], lp_max_vars: int = 60, ilp_max_vars: int = 12,
            max_rounds: int = 60, lower: np.ndarray | None = None,
            known_zero: np.ndarray | None = None,
            lp_max_unknowns: int = tables.LP_MAX_UNKNOWNS) -> tuple[np.ndarray, ProtectStats]:
    """Withhold more until the audit finds no exposed value (see the module docstring)."""
    started = time.perf_counter()
    stats = ProtectStats()
    previous = np.zeros(0, dtype=np.int64)
    for stats.rounds in range(1, max_rounds + 1):  # noqa: B007
        table = internal_table(values, mask, row_relations, column_relations, lower, known_zero)
        cells, bad = _audit_round(table, values, min_count, lp_max_vars, ilp_max_vars, stats, lp_max_unknowns)
        if not bad.any():
            stats.seconds = time.perf_counter() - started
            return mask, stats
        exposed_cells = cells[bad]
        add = tables.complements(table, exposed_cells, twice=np.intersect1d(exposed_cells, previous))
        previous = exposed_cells
        if add.size == 0:
            raise RuntimeError(f"privacy: {int(bad.sum())} withheld counts stay exposed and no published count is left to withhold beside them")
        stats.added += int(add.size)
        mask = mask.copy()
        mask.ravel()[add] = True
        mask = resuppress(mask)
    raise RuntimeError(f"privacy: still {stats.history[-1]} exposed withheld counts after {max_rounds} rounds of complementary suppression")


def _audit_round(table: tables.CountTable, truth: np.ndarray, min_count: int, lp_max_vars: int, ilp_max_vars: int,
                 stats: ProtectStats, lp_max_unknowns: int = tables.LP_MAX_UNKNOWNS) -> tuple[np.ndarray, np.ndarray]:
    """One audit of a protect loop: the flat cells of the table's unknowns, and which are exposed."""
    started = time.perf_counter()
    audited = tables.audit_intervals(table, lp_max_vars, ilp_max_vars, lp_max_unknowns)
    if audited.not_exact:
        stats.not_exact = audited.not_exact
    found = audited.found
    bad = tables.exposed(found, min_count, truth=truth.ravel()[audited.cells])
    stats.seconds_audit += time.perf_counter() - started
    stats.history.append(int(bad.sum()))
    if stats.rounds == 1:
        stats.exposed_first = int(bad.sum())
    return audited.cells, bad


# The published view ----------------------------------------------------------------------
@dataclass
class PublishedDensity:
    table: tables.CountTable
    rows: pd.DataFrame  # one per table row: collection, cell (H3, uint64), resolution, period_kind, period_start, period_end
    columns: list[str]
    existence: np.ndarray | None = None  # per row: the lower bound its existence gives its total
    index: RowIndex | None = None  # the rows by (cell, kind, start)


def count_columns(frame: pd.DataFrame, taxonomy: dict) -> list[str]:
    groups = [c for c in frame.columns if c.startswith("grp_")]
    cats = [c for c in frame.columns if c.startswith("cat_")]
    lights = [c for c in frame.columns if c.startswith("light_")]
    return [COUNT, *groups, *cats, *lights]


def published_table(frames: dict[str, pd.DataFrame], taxonomy: dict, lagesbild_nests_weeks: bool,
                    cell_key: bool = False, consume: bool = False) -> PublishedDensity:
    """The density collections (one per resolution) as one CountTable, relations rebuilt from ids.

    Built column by column into arrays allocated once, with period kinds as codes and no
    loop over rows: 9.5 s → 3 s for the 1.46 million rows of 200,000 incidents.
    `cell_key`: for `perturbed`, which bounds every count by its support and the row's
    existence (`existence`) and has no facts (a count repeated is the same perturbed
    value): neither the facts nor a rows × columns table of lower bounds is made (at a
    million incidents 3.1 s and 0.5 GB).
    `consume`: each frame's count columns are dropped once copied (`frames` then holds
    the rest): the table holds them, and at 10 million incidents the frames' copies were
    3.8 GB beside it."""
    columns = count_columns(next(iter(frames.values())), taxonomy) if frames else [COUNT]
    n = sum(len(f) for f in frames.values())
    w = len(columns)
    values = np.empty((n, w), dtype=np.float64)
    withheld = np.empty((n, w), dtype=np.bool_)
    prev_pub = np.full(n, np.nan)
    change_pub = np.full(n, np.nan)
    # The rows' description, column by column over the frames, then one frame: a frame per
    # collection and pd.concat, with the kinds and collection names as Python strings, took
    # 1 s at a million incidents.
    meta: dict[str, list[np.ndarray]] = {k: [] for k in ("cell", "resolution", "kind_code", "period_start", "period_end")}
    kind_names: list[np.ndarray | None] = []
    at0 = 0
    for name, frame in frames.items():
        if count_columns(frame, taxonomy) != columns:
            raise ValueError(f"{name}: its count columns differ from the other density collections'")
        m = len(frame)
        code = kind_codes(frame["period_kind"])
        # The cell as an integer (`h3_cell` when the reader parsed it off Arrow).
        meta["cell"].append(frame["h3_cell"].to_numpy(dtype=np.uint64) if "h3_cell" in frame
                            else h3_ints(frame["h3"].astype(str).to_numpy()))
        meta["resolution"].append(frame["resolution"].astype(int).to_numpy())
        meta["kind_code"].append(code)
        meta["period_start"].append(_days(frame["period_start"]))
        meta["period_end"].append(_days(frame["period_end"]))
        # A kind that is none of KINDS keeps its own name (and finds no relation).
        kind_names.append(None if (code >= 0).all() else frame["period_kind"].astype(str).to_numpy())
        # Compiled, in blocks of rows that stay in cache: a column at a time wrote the whole
        # table 26 times with a stride (2.4 s at a million incidents), pandas' own
        # frame-to-array over its mixed integer and float blocks took 4.3 s, and numpy
        # block by block 2.1 s (and a pass each for the nulls): now 0.4 s, nulls included.
        # Float columns (nulls are NaN) and integer ones (no nulls) as they are.
        _fill_counts(values, withheld, at0, m, *_count_arrays(frame, columns))
        for extra, out in (("prev_count", prev_pub), ("change", change_pub)):
            if extra in frame:
                out[at0:at0 + m] = pd.to_numeric(frame[extra], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        at0 += m
        if consume:
            frames[name] = frame.drop(columns=columns)
            del frame
    if frames:
        arrays = {k: np.concatenate(v) for k, v in meta.items()}
        names = list(frames)
        collection = pd.Categorical.from_codes(np.repeat(np.arange(len(names)), [len(f) for f in frames.values()]),
                                               categories=names)
        if all(k is None for k in kind_names):
            period_kind = pd.Categorical.from_codes(arrays["kind_code"], categories=list(KINDS))
        else:
            period_kind = pd.Categorical(np.concatenate([np.array(KINDS, dtype=object)[c] if k is None else k
                                                         for c, k in zip(meta["kind_code"], kind_names, strict=True)]))
        # copy=False: the arrays as they are, not stacked into one block per dtype (0.45 s).
        rows = pd.DataFrame({"collection": collection, "cell": arrays["cell"], "resolution": arrays["resolution"],
                             "period_kind": period_kind, "kind_code": arrays["kind_code"],
                             "period_start": arrays["period_start"], "period_end": arrays["period_end"],
                             "prev_count": prev_pub, "change": change_pub}, copy=False)
    else:
        rows = pd.DataFrame(columns=["collection", "cell", "resolution", "period_kind", "kind_code", "period_start",
                                     "period_end", "prev_count", "change"])
    cell = rows["cell"].to_numpy(dtype=np.uint64)
    res = rows["resolution"].to_numpy()
    kind = rows["kind_code"].to_numpy()
    start = rows["period_start"].to_numpy()
    end = rows["period_end"].to_numpy()
    lookup = RowIndex(cell, kind, start)
    find = lookup.find
    week, lagesbild, month, whole = (KINDS.index(k) for k in ("week", "lagesbild", "month", "all"))

    row_sums = []
    # Cell → parent cell, same period.
    parent = np.full(n, -1, dtype=np.int64)
    resolutions = sorted(pd.unique(res).tolist())  # hashed: np.unique sorts 4.9 million rows (0.17 s)
    for fine_i in range(1, len(resolutions)):
        fine, coarse = resolutions[fine_i], resolutions[fine_i - 1]
        at = np.flatnonzero(res == fine)
        parent[at] = find(h3_parent(cell[at], coarse), kind[at], start[at])
    row_sums.append(tables.RowSum("cell→parent cell", parent))
    # Periods → the whole range, per cell.
    all_start = np.full(max(resolutions, default=0) + 1, -1, dtype=np.int64)
    for r in resolutions:
        s = start[(res == r) & (kind == whole)]
        if s.size:
            all_start[r] = int(s.min())
    for k in (week, month, lagesbild):
        p = np.full(n, -1, dtype=np.int64)
        at = np.flatnonzero((kind == k) & (all_start[res] >= 0))
        if at.size:
            p[at] = find(cell[at], np.full(at.size, whole), all_start[res[at]])
        row_sums.append(tables.RowSum(f"{KINDS[k]}→all", p))
    if lagesbild_nests_weeks:
        p = np.full(n, -1, dtype=np.int64)
        lb = np.flatnonzero(kind == lagesbild)
        weeks = np.flatnonzero(kind == week)
        if lb.size and weeks.size:
            lb_starts = np.unique(np.concatenate([start[lb], end[lb]]))
            # The lägesbild period holding each week: the last start at or before the week's.
            k_of = lb_starts[np.searchsorted(lb_starts, start[weeks], side="right") - 1]
            p[weeks] = find(cell[weeks], np.full(weeks.size, lagesbild), k_of)
        row_sums.append(tables.RowSum("week→lagesbild", p))
    column_sums = _column_sums(columns, taxonomy)
    total_lb, childless = _existence(cell, res, kind, start, row_sums[0].parent, resolutions)
    existence = total_lb.astype(np.int32)
    if cell_key:
        table = tables.CountTable(values, withheld, column_sums, row_sums, None, None, columns)
        return PublishedDensity(table, rows, columns, existence, lookup)
    lower = np.zeros(values.shape, dtype=np.int32)  # 4 bytes a count: existence bounds are small integers
    lower[:, 0] = total_lb
    # prev_count and change: the previous period's count, and count − previous count.
    prev_row = RowIndex(cell, kind, end).find(cell, kind, start)
    has_prev = prev_row >= 0
    prev_hidden = np.zeros(n, dtype=bool)
    prev_hidden[has_prev] = withheld[prev_row[has_prev], 0]
    # A published prev_count of a withheld previous count is that count.
    repeat = np.isfinite(prev_pub) & has_prev & (kind != whole) & prev_hidden
    equal_cells = [prev_row[repeat] * w]
    equal_values = [prev_pub[repeat]]
    # A published change beside a withheld count (its own or the previous one) is a fact.
    facts = []
    for r in np.flatnonzero(np.isfinite(change_pub) & (withheld[:, 0] | prev_hidden)).tolist():
        if prev_row[r] >= 0:
            facts.append((np.array([r * w, prev_row[r] * w]), np.array([1.0, -1.0]), float(change_pub[r])))
        else:
            facts.append((np.array([r * w]), np.array([1.0]), float(change_pub[r])))
    # A row with no child rows at a finer published resolution is a sum of nothing: 0.
    zero_cells = np.flatnonzero((withheld & childless[:, None]).ravel())
    equal_cells.append(zero_cells)
    equal_values.append(np.zeros(zero_cells.size))
    table = tables.CountTable(values, withheld, column_sums, row_sums, lower, None, columns, facts,
                              np.concatenate(equal_cells).astype(np.int64), np.concatenate(equal_values).astype(np.float64))
    return PublishedDensity(table, rows, columns, existence, lookup)


KINDS = ("week", "lagesbild", "month", "all")


def h3_ints(hexes) -> np.ndarray:
    """H3 cells from their 15-digit hex strings, vectorised."""
    raw = np.asarray(hexes).astype("S15")
    return _hex_cells(np.frombuffer(raw.tobytes(), dtype=np.uint8).reshape(-1, 15)) if raw.size else np.zeros(0, dtype=np.uint64)


def h3_ints_arrow(column) -> np.ndarray:
    """`h3_ints` of an Arrow string column, off its data buffer: every id is 15 digits, so
    the buffer is the digits row after row and no Python string is made (reading the
    density of a million incidents made 4.9 million, 2.4 s, and parsing them took 2 s a
    time, five times over; this is 0.1 s). Any other layout goes the string way."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    if not pa.types.is_string(arr.type) or arr.null_count:
        return h3_ints(np.asarray(arr.to_pylist(), dtype=object))
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint64)
    if not (np.diff(offsets) == 15).all():
        return h3_ints(np.asarray(arr.to_pylist(), dtype=object))
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return _hex_cells(data.reshape(-1, 15))


@numba.njit(cache=True, nogil=True)
def _hex_cells(digits: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Rows of 15 hex digits (ASCII, lower case) as integers: one pass, where whole-array
    digit tables made 8-byte temporaries of every digit (1.2 s for 4.9 million ids)."""
    out = np.empty(digits.shape[0], dtype=np.uint64)
    for i in range(digits.shape[0]):
        v = np.uint64(0)
        for j in range(digits.shape[1]):
            d = digits[i, j]
            v = (v << np.uint64(4)) | np.uint64(d - 87 if d >= 97 else d - 48)
        out[i] = v
    return out


def kind_codes(kind) -> np.ndarray:
    """Period kinds as their index in `KINDS` (−1: none of them), by one hashed lookup per
    distinct kind, not a Categorical over every row (2.6 s per 14 calls at 1.5 million rows)."""
    if isinstance(kind, pd.Series):
        kind = kind.array
    if isinstance(kind, pd.Categorical):
        # Read as a dictionary (`estgeo.build.audit._read`): the codes are there already
        # (np.unique over 4.9 million strings took 2.8 s).
        lookup = np.array([KINDS.index(k) if k in KINDS else -1 for k in map(str, kind.categories)] + [-1], dtype=np.int64)
        return lookup[kind.codes]
    kind = np.asarray(kind)
    if kind.size == 0:
        return np.zeros(0, dtype=np.int64)
    uniq, inverse = np.unique(kind.astype(str), return_inverse=True)
    lookup = np.array([KINDS.index(k) if k in KINDS else -1 for k in uniq.tolist()], dtype=np.int64)
    return lookup[inverse.reshape(-1)]


class RowIndex:
    """Rows by (H3 cell, period kind, day) as one sorted integer key: lookups are searches
    in a sorted array, not hashes of Python tuples (which took seconds per million rows).

    The keys and the searches are compiled passes, in parallel (`_row_keys`,
    `_find_rows`): with numpy's searchsorted and the whole-array temporaries around it,
    the index and its 9 searches (up to 4.9 million rows each) took 3.4 s of the audit of
    a million incidents' files; compiled, 1.6 s (cProfile, the same files)."""

    def __init__(self, cell: np.ndarray, kind: np.ndarray, day: np.ndarray):
        self.cells = np.unique(cell)
        self.day0 = int(day.min()) if day.size else 0
        self.span = (int(day.max()) - self.day0 + 2) if day.size else 1
        key = self._key(cell, kind, day)
        self.order = np.argsort(key, kind="stable")
        self.sorted = key[self.order]
        # Duplicates sit side by side once sorted (a second np.unique was 0.1 s a call).
        if self.sorted.size > 1 and (self.sorted[1:] == self.sorted[:-1]).any():
            raise ValueError("published density: a (cell, period) appears twice")

    def _key(self, cell, kind, day) -> np.ndarray:
        kind = np.asarray(kind)
        code = kind if kind.dtype.kind in "iu" else kind_codes(kind)  # codes already (`kind_codes`)
        cell = np.ascontiguousarray(cell, dtype=np.uint64)
        out = np.empty(cell.size, dtype=np.int64)
        _row_keys(self.cells, cell, np.ascontiguousarray(code, dtype=np.int64),
                  np.ascontiguousarray(day, dtype=np.int64), self.day0, self.span, len(KINDS), out)
        return out

    def find(self, cell, kind, day) -> np.ndarray:
        """Row of each (cell, kind, day); −1 where there is none."""
        key = self._key(cell, kind, day)
        _find_rows(self.sorted, self.order, key, key)
        return key


@numba.njit(cache=True, nogil=True, parallel=True)
def _row_keys(cells, cell, code, day, day0, span, kinds, out):  # pragma: no cover - compiled
    """`RowIndex`'s key of each (cell, kind code, day); −1 when the cell is not one of
    `cells` or the kind or day is out of range."""
    m = cell.size
    for b in numba.prange((m + 65535) // 65536):
        for i in range(b * 65536, min(b * 65536 + 65536, m)):
            ci = np.searchsorted(cells, cell[i])
            d = day[i] - day0
            if ci < cells.size and cells[ci] == cell[i] and 0 <= code[i] < kinds and 0 <= d < span:
                out[i] = (ci * kinds + code[i]) * span + d
            else:
                out[i] = -1


@numba.njit(cache=True, nogil=True, parallel=True)
def _find_rows(sorted_keys, order, key, out):  # pragma: no cover - compiled
    """Row of each key (`order` at its place in `sorted_keys`), −1 where none; `out` may be `key`."""
    m = key.size
    for b in numba.prange((m + 65535) // 65536):
        for i in range(b * 65536, min(b * 65536 + 65536, m)):
            k = key[i]
            row = -1
            if k >= 0:
                pos = np.searchsorted(sorted_keys, k)
                if pos < sorted_keys.size and sorted_keys[pos] == k:
                    row = order[pos]
            out[i] = row


def _existence(cell: np.ndarray, res: np.ndarray, kind: np.ndarray, start: np.ndarray, cell_parent: np.ndarray,
               resolutions: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """What a reader learns from which rows exist (`kind`: codes, `kind_codes`): a lower bound on each row's total
    (rows × columns, column 0 only) and the rows that are known zeros (no child rows).

    A resolution is a grid when every cell with a whole-range row has a row for every
    period of every kind; its period rows may then be 0. Otherwise a row exists only
    with an incident. A whole-range row of a grid has child rows only when it holds an
    incident; at the finest resolution it may be 0 (`estgeo.layers.density.count_table`).
    """
    n = cell.size
    has_child = np.zeros(n, dtype=bool)
    has_child[cell_parent[cell_parent >= 0]] = True
    grid = {}
    for r in resolutions:
        at_r = res == r
        cells_r = np.unique(cell[at_r & (kind == KINDS.index("all"))])
        full = True
        for k in ("week", "month", "lagesbild"):
            sel = at_r & (kind == KINDS.index(k))
            n_periods = np.unique(start[sel]).size
            full = full and sel.sum() == cells_r.size * n_periods
        grid[r] = bool(full)
    finest, coarsest = max(resolutions), min(resolutions)
    is_all = kind == KINDS.index("all")
    # A lookup by resolution, not a Python loop over the rows (0.4 s at a million incidents).
    grid_of = np.zeros(max(resolutions) + 1, dtype=bool)
    grid_of[list(grid)] = list(grid.values())
    grid_row = grid_of[res]
    lb = np.where(~grid_row, 1.0,
                  np.where(~is_all, 0.0, np.where(res == coarsest, 1.0, np.where(res == finest, 0.0, has_child.astype(float)))))
    childless = (res != finest) & ~has_child
    return np.where(childless, 0.0, lb), childless


def _days(moments: pd.Series) -> np.ndarray:
    """Local calendar day numbers of period bounds, whether read with a time zone or not."""
    when = pd.to_datetime(moments)
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_localize(None)
    return when.to_numpy().astype("datetime64[D]").astype(np.int64)


def _column_sums(columns: list[str], taxonomy: dict) -> list[tables.ColumnSum]:
    pos = {c: i for i, c in enumerate(columns)}
    out = []
    groups = [c for c in columns if c.startswith("grp_")]
    if groups:
        out.append(tables.ColumnSum("category groups → total", 0, np.array([pos[g] for g in groups])))
    cats = taxonomy.get("categories", {})
    for g in groups:
        members = [f"cat_{c}" for c, spec in cats.items() if f"grp_{spec.get('group')}" == g and f"cat_{c}" in pos]
        if members:
            out.append(tables.ColumnSum(f"categories → {g[4:]}", pos[g], np.array([pos[m] for m in members])))
    lights = [c for c in columns if c.startswith("light_")]
    if lights:
        out.append(tables.ColumnSum("light conditions → total", 0, np.array([pos[x] for x in lights])))
    return out


def perturbed(view: PublishedDensity, ptable, bounds: bool = True) -> None:
    """The published view of cell-key counts (`estgeo.audit.cellkey`): every count is an
    unknown of the attacker's system. A published one is bounded by the true counts its
    value can come from (the perturbation table `ptable`'s support) and the lower bound
    the existence of its row gives; a withheld one (the few the build's
    `protect_perturbed` withholds) by that lower bound only. The relations between the
    true counts are exact, so the audit narrows them as it narrows withheld ones. In place.
    `bounds`: False leaves them to `cell_key_bounds`, for when a proof may make them
    unneeded (1.5 s and 1 GB at a million incidents)."""
    table = view.table
    if table.lower is not None and np.asarray(table.lower)[:, 1:].any():
        raise ValueError("perturbed: lower bounds beyond the rows' totals are not a published cell-key view")
    if view.existence is None:
        view.existence = (np.zeros(table.values.shape[0], dtype=np.int32) if table.lower is None
                          else np.asarray(table.lower)[:, 0].astype(np.int32))
    published_withheld = table.withheld
    table.lower, table.upper = None, None
    if bounds:
        cell_key_bounds(view, ptable, published_withheld)
    table.withheld = np.ones(table.values.shape, dtype=bool)
    # Facts that fixed a withheld count to a value repeated elsewhere are no facts here: a
    # repeated count is the same perturbed value (the same records, the same cell key).
    table.equal_cells, table.equal_values = None, None
    table.facts = []


def cell_key_bounds(view: PublishedDensity, ptable, published_withheld: np.ndarray) -> None:
    """The bounds of `perturbed`'s view, when it left them out (and not already made)."""
    table = view.table
    if table.upper is None:
        assert view.existence is not None
        table.lower, table.upper = ptable.bounds(table.values, published_withheld, view.existence, structured.INF)


def perturbed_table(published: np.ndarray, mask: np.ndarray, row_relations, column_relations, lower: np.ndarray,
                    ptable) -> tables.CountTable:
    """The build's own view of its perturbed table, as `perturbed` makes it of the
    published one (a test holds the two to the same answer); `lower`: the existence
    bound of each row's total."""
    lower_bounds, upper_bounds = ptable.bounds(published, mask, np.asarray(lower), structured.INF)
    return tables.CountTable(
        values=published, withheld=np.ones(published.shape, dtype=bool),
        column_sums=[tables.ColumnSum(r.name, int(r.parent), np.asarray(r.children)) for r in column_relations],
        row_sums=[tables.RowSum(name, parent) for name, parent in row_relations],
        lower=lower_bounds, upper=upper_bounds)


def _parents_of(cells: np.ndarray, w: int, row_relations, column_relations) -> np.ndarray:
    """Flat cells of the sums that hold each of `cells` as a term: the parent column of
    every column relation it is a child in (same row), and the parent row of every row
    relation (same column)."""
    rows, cols = cells // w, cells % w
    out = []
    for rel in column_relations:
        inside = np.isin(cols, np.asarray(rel.children))
        out.append(rows[inside] * w + int(rel.parent))
    for _, parent in row_relations:
        p = np.asarray(parent)[rows]
        out.append(p[p >= 0] * w + cols[p >= 0])
    return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def protect_perturbed(truth: np.ndarray, published: np.ndarray, row_relations, column_relations, min_count: int,
                      ptable, lower: np.ndarray, lp_max_vars: int = 60, ilp_max_vars: int = 12,
                      max_rounds: int = 30, lp_max_unknowns: int = tables.LP_MAX_UNKNOWNS,
                      pieces: bool = True) -> tuple[np.ndarray, ProtectStats]:
    """Cell-key counts the attacker could still pin, withheld: audit the perturbed table;
    withhold every small count it finds exposed and the published terms of the relations
    that pin it (a withheld count is bounded by its row's existence only); audit again,
    until nothing is exposed.

    Why needed: a perturbation is bounded (±D), and the tables publish sums. A parent
    perturbed to the bottom of its range, with children at their lower bounds, pins the
    children — rare (on the demo none with the default table, 318 of 380,162 small counts
    with a heavier-tailed one) but bound to happen somewhere in a large table, so the
    table alone is not the guarantee.

    `pieces` (default): without the exact stage, rounds after the first redo only the
    pieces holding what the last one withheld; False propagates the whole table every
    round (the reference a test holds the shortcut to).
    """
    started = time.perf_counter()
    stats = ProtectStats()
    mask = np.zeros(published.shape, dtype=bool)
    flat_mask = mask.ravel()
    previous = np.zeros(0, dtype=np.int64)
    # Without the exact stage (a large table) a round after the first redoes only the
    # pieces of the table (`structured.row_components`) holding a count it withholds:
    # the rest keep their fixed point and had nothing exposed (an exposed count's
    # withholding lands in its own piece). The same bounds as a whole propagation
    # (tests/audit/test_structured.py). At 200,000 incidents (benchmarks/privacy.py) rounds
    # 2 and 3 took 4.7 s each on the whole table and take 0.25 s on their pieces (1,381
    # of 1,455,634 rows); with the check read off the bounds (`structured.exposed_cells`)
    # the protect step went from 14.1 s to 3.6 s, withholding the same 616 counts.
    exact = lp_max_vars >= 2 and published.size <= lp_max_unknowns
    # The table's rows by piece (`structured.row_pieces`), the same every round.
    by_piece = None if exact or not pieces else structured.row_pieces([tables.RowSum(n, p) for n, p in row_relations],
                                                                      published.shape[0])
    state: tuple[np.ndarray, np.ndarray] | None = None
    redo: np.ndarray | None = None
    add = np.zeros(0, dtype=np.int64)  # what the last round withheld
    w = published.shape[1]
    for stats.rounds in range(1, max_rounds + 1):  # noqa: B007
        if stats.rounds == 1 or exact or not pieces:
            table = perturbed_table(published, mask, row_relations, column_relations, lower, ptable)
        else:
            # Only what the last round withheld changes: bounded by its row's existence
            # now, not its support (as `perturbed_table` bounds a withheld count; the
            # pieces test holds the rounds to rounds that rebuild the table).
            assert table.lower is not None and table.upper is not None
            flat_lower, flat_upper = table.lower.reshape(-1), table.upper.reshape(-1)
            existence = np.maximum(np.ceil(np.asarray(lower, dtype=np.float64)[add // w] - 1e-7), 0)
            flat_lower[add] = np.where(add % w == 0, existence, 0).astype(flat_lower.dtype)
            flat_upper[add] = structured.INF
        if exact or not pieces:
            cells, bad = _audit_round(table, truth, min_count, lp_max_vars, ilp_max_vars, stats, lp_max_unknowns)
            exposed_cells = cells[bad]
        else:
            exposed_cells, state = _propagation_round(table, truth, min_count, stats, state, redo, lp_max_unknowns,
                                                      by_piece)
        if exposed_cells.size == 0:
            stats.bounds = state
            stats.seconds = time.perf_counter() - started
            return mask, stats
        # The exposed counts themselves; where one is withheld already, the smallest
        # published term beside it (a child before a parent, `tables.complements`): the
        # least information lost, since what pins a count is its relations' other terms.
        again = flat_mask[exposed_cells]
        add = exposed_cells[~again]
        if again.any():
            # Exposed although withheld: its existence keeps it ≥ its lower bound, so what
            # pins it is a parent at the bottom of its range over children at theirs.
            # Withholding the parents (the sums holding it) frees it; withholding a sibling
            # does not (its existence bound stays). On 200,000 incidents with one secret the
            # sibling complements left 142 week counts pinned under their whole range
            # after 30 rounds; parents first, the rounds end (tests/audit/test_cell_key.py).
            parents = _parents_of(exposed_cells[again], published.shape[1], row_relations, column_relations)
            parents = parents[~flat_mask[parents]]
            stuck = exposed_cells[again]
            if parents.size == 0:
                beside = tables.CountTable(values=published, withheld=mask, column_sums=table.column_sums,
                                           row_sums=table.row_sums)
                parents = tables.complements(beside, stuck, twice=np.intersect1d(exposed_cells, previous))
            add = np.concatenate([add, parents])
        previous = exposed_cells
        add = np.unique(add)
        add = add[~flat_mask[add]]
        if add.size == 0:
            raise RuntimeError(f"privacy: {exposed_cells.size} perturbed counts stay exposed with every term beside them withheld")
        stats.added += int(add.size)
        flat_mask[add] = True
        if by_piece is not None:
            touched = np.zeros(by_piece.width.size, dtype=bool)
            touched[by_piece.of_row[add // published.shape[1]]] = True
            redo = touched[by_piece.of_row]
    raise RuntimeError(f"privacy: still {stats.history[-1]} exposed perturbed counts after {max_rounds} rounds")


def _propagation_round(table: tables.CountTable, truth: np.ndarray, min_count: int, stats: ProtectStats,
                       state: tuple[np.ndarray, np.ndarray] | None, redo: np.ndarray | None,
                       lp_max_unknowns: int, by_piece: structured.Pieces | None = None) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """A protect round by bound propagation alone (`_audit_round` without the exact
    stage), on the whole table the first time and after that on the rows `redo` from the
    last round's bounds `state`: the flat cells exposed, and the bounds."""
    started = time.perf_counter()
    n, w = table.values.shape
    if state is None or redo is None:
        lb, ub = structured.propagate_table(table, pieces=by_piece)
        bad = structured.exposed_cells(lb, ub, truth, min_count)
    else:
        lb, ub = structured.propagate_table(table, start=(state[0], state[1], redo), pieces=by_piece)
        bad = structured.exposed_cells(lb, ub, truth, min_count, rows=np.flatnonzero(redo))
    if n * w > lp_max_unknowns:
        stats.not_exact = (f"{n * w:,} unknowns, more than privacy.audit_max_values ({lp_max_unknowns:,}): "
                           "bound propagation only, no LP/ILP")
    stats.seconds_audit += time.perf_counter() - started
    stats.history.append(int(bad.size))
    if stats.rounds == 1:
        stats.exposed_first = int(bad.size)
    return bad, (lb, ub)


# The build's proof, for the audit of its files ------------------------------------------
def table_index(table) -> RowIndex:
    """The rows of the build's `DensityTable` by what a reader sees of them: (cell, period
    kind, period start)."""
    blocks = list(table.ordered_blocks())
    cells = np.concatenate([table.cells[b.res][b.cell] for b in blocks]).astype(np.uint64)
    kinds = np.concatenate([np.full(b.cell.size, KINDS.index(b.kind)) for b in blocks])
    starts = np.concatenate([table.periods[b.kind][b.period] if b.kind != "all" else np.full(b.cell.size, table.first_day)
                             for b in blocks]).astype(np.int64)
    return RowIndex(cells, kinds, starts)


def _count_arrays(frame: pd.DataFrame, columns: list[str]):
    """A frame's count columns for `_fill_counts`: int64 ones (no nulls) and the rest as
    floats (nulls NaN), each with its column in the table; no copy of an int64 or
    float64 column."""
    floats: list[np.ndarray] = []
    ints: list[np.ndarray] = []
    f_at, i_at = [], []
    for j, c in enumerate(columns):
        col = frame[c]
        if col.dtype == np.int64:
            ints.append(np.ascontiguousarray(col.to_numpy()))
            i_at.append(j)
        else:
            # (`na_value` would copy a float column that has its nulls as NaN already.)
            floats.append(np.ascontiguousarray(col.to_numpy() if col.dtype == np.float64 else
                                               col.to_numpy(dtype=np.float64, na_value=np.nan)))
            f_at.append(j)
    # Tuples (one compiled variant per count of each kind, cached): numba's typed lists
    # were compiled again at every call. An empty kind passes one unused array.
    floats = floats or [np.zeros(0)]
    ints = ints or [np.zeros(0, dtype=np.int64)]
    # All read-only views (Arrow's buffers are), so that each tuple is of one type.
    for arrays in (floats, ints):
        for i, a in enumerate(arrays):
            arrays[i] = a.view()
            arrays[i].flags.writeable = False
    return tuple(floats), np.array(f_at, dtype=np.int64), tuple(ints), np.array(i_at, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _fill_counts(values, withheld, at0, m, floats, f_at, ints, i_at):  # pragma: no cover - compiled
    """Rows at0 … at0 + m of the table from one frame's count columns; a null (NaN) is
    withheld and reads 0."""
    for a in range(0, m, 1024):
        b = min(a + 1024, m)
        for t in range(f_at.size):
            col, j = floats[t], f_at[t]
            for i in range(a, b):
                v = col[i]
                hidden = np.isnan(v)
                values[at0 + i, j] = 0.0 if hidden else v
                withheld[at0 + i, j] = hidden
        for t in range(i_at.size):
            col_i, j = ints[t], i_at[t]
            for i in range(a, b):
                values[at0 + i, j] = col_i[i]
                withheld[at0 + i, j] = False


@dataclass
class Proof:
    """What a cell-key build's protect rounds proved: the table the attacker sees (values
    as published, what is withheld, the existence bound of each row, the relations) and
    the fixed point of the bounds over it, with the true counts.

    Why: the audit of the written files rebuilds the attacker's system from them
    (`published_table`, independent code) and would propagate it again — the same
    computation on the same system, a third of the audit at a million incidents (12 s),
    and recounting the true counts another (10 s). `reuse` compares the two systems entry
    for entry; only when they are the same system is the fixed point carried over."""

    index: RowIndex
    columns: list[str]
    published: np.ndarray  # rows × columns, the published (perturbed) values
    withheld: np.ndarray  # rows × columns
    lower: np.ndarray  # per row: the lower bound its existence gives its total
    row_relations: list  # (name, parent row per row)
    column_relations: list  # privacy.ColumnRelation
    truth: np.ndarray  # rows × columns
    lb: np.ndarray
    ub: np.ndarray

    def spill(self, folder: Path) -> None:
        """Keep the true counts and the bounds (12 bytes a count) in files mapped back
        read-only, unlinked at once (nothing stays on disk, even if the build dies).

        Why: the proof waits through the frames and the writing of the files before the
        audit compares them; at 10 million incidents (600 million counts) it held 7.2 GB
        there, and the writing of the finest resolution went past this 24 GB machine. On
        disk the pages are the kernel's to drop and come back when the audit reads them.
        """
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("truth", "lb", "ub"):
            fd, path = tempfile.mkstemp(prefix=f"proof-{name}-", suffix=".npy", dir=folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    np.save(out, getattr(self, name))
                setattr(self, name, np.load(path, mmap_mode="r"))
            finally:
                os.unlink(path)


def reuse(proof: Proof, view: PublishedDensity, existence: np.ndarray,
          published_withheld: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, str]:
    """The proof's bounds and true counts in the view's row order — (lb, ub, truth) — when
    the view (read from the files, `perturbed` applied) is the system the proof is of:
    the same rows (by cell, kind and start), columns, published values and withheld
    entries, existence bounds, column sums and row sums (parents mapped through the row
    order). Otherwise None and the first difference."""
    table, rows = view.table, view.rows
    n, w = table.values.shape
    if list(view.columns) != list(proof.columns):
        return None, f"the count columns differ ({len(view.columns)} published, {len(proof.columns)} built)"
    if proof.published.shape != (n, w):
        return None, f"{n:,} rows published, {proof.published.shape[0]:,} built"
    if table.facts or (table.equal_cells is not None and len(table.equal_cells)):
        return None, "facts beyond the relations"
    perm = proof.index.find(rows["cell"].to_numpy(dtype=np.uint64), rows["kind_code"].to_numpy(),
                            rows["period_start"].to_numpy(dtype=np.int64))
    if (perm < 0).any():
        return None, f"{int((perm < 0).sum()):,} published rows are not rows of the build"
    # Every row found, no row twice (both indexes refuse duplicates), as many rows: a bijection.
    bad = _first_difference(np.asarray(table.values), published_withheld, proof.published, proof.withheld, perm)
    if bad >= 0:
        r = rows.iloc[bad // w]
        return None, (f"{r['collection']}, cell {int(r['cell']):015x}, {r['period_kind']} "
                      f"{np.datetime64(int(r['period_start']), 'D')}, column {view.columns[bad % w]}: "
                      "the published value or withholding differs")
    if not np.array_equal(np.asarray(existence), np.asarray(proof.lower)[perm]):
        return None, "the bounds the rows' existence gives differ"
    mine = sorted((int(c.parent), tuple(sorted(np.asarray(c.children).tolist()))) for c in table.column_sums)
    theirs = sorted((int(c.parent), tuple(sorted(np.asarray(c.children).tolist()))) for c in proof.column_relations)
    if mine != theirs:
        return None, "the column sums differ"
    # The files keep the build's row order (`estgeo.layers.density.density_frame` writes
    # each block as it is): then nothing is gathered (2.6 s of bounds at a million).
    same_order = bool(np.array_equal(perm, np.arange(n)))
    inverse = perm if same_order else np.empty(n, dtype=np.int64)
    if not same_order:
        inverse[perm] = np.arange(n)
    published_rel = {r.name: np.asarray(r.parent) for r in table.row_sums}
    built_rel = {name: np.asarray(parent) for name, parent in proof.row_relations}
    for name in sorted(set(published_rel) | set(built_rel)):
        here = published_rel.get(name, np.full(n, -1))
        there = built_rel.get(name)
        if there is None:
            mapped = np.full(n, -1)
        elif same_order:
            mapped = there
        else:
            mapped = np.where(there[perm] >= 0, inverse[np.maximum(there[perm], 0)], -1)
        if not np.array_equal(here, mapped):
            return None, f"the row sums {name!r} differ"
    if same_order:
        return (proof.lb, proof.ub, proof.truth), ""
    lb = np.ascontiguousarray(np.take(proof.lb.T, perm, axis=1)).T
    ub = np.ascontiguousarray(np.take(proof.ub.T, perm, axis=1)).T
    return (lb, ub, proof.truth[perm]), ""


@numba.njit(cache=True, nogil=True)
def _first_difference(values, withheld, published, built_withheld, perm):  # pragma: no cover - compiled
    """Flat index of the first entry where the view (values, withheld; a withheld value
    reads 0) and the build's row perm[r] differ, or −1. One pass, no temporaries."""
    n, w = values.shape
    for r in range(n):
        b = perm[r]
        for c in range(w):
            if withheld[r, c] != built_withheld[b, c]:
                return r * w + c
            if not withheld[r, c] and values[r, c] != published[b, c]:
                return r * w + c
    return -1
