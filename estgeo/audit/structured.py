"""Bound propagation on a `tables.CountTable` as it is: rows × columns, relations as arrays.

`intervals.propagate` works on a general sparse system (one COO entry per term of every
relation instance, sorted twice), which costs about 600 bytes per unknown: a cell-key
build of 1,000,000 incidents publishes 127.9 million counts, every one an unknown of the
attacker's system, and that did not fit in 24 GB (benchmarks/privacy.py, the earlier
guard `privacy.audit_max_values`). The relations of a count table have a shape the
general system throws away:

* a **column sum** (total = Σ groups, group = Σ its categories, total = Σ light
  conditions) holds in every row, so it is one list of column numbers;
* a **row sum** (parent cell = Σ child cells, whole range = Σ weeks …) holds in every
  column, so it is a parent array over the rows.

Here the bounds are two int32 arrays, column-major (columns × rows: 8 bytes per count; a
bound of `INF` means none), the row sums become one children-by-parent index over the
rows, and the propagation sweeps the table, visiting in each sweep only the relations
holding an entry that moved in the one before, until nothing moves: within a row the
column sums (rows in parallel), between rows the row sums one column at a time (columns
in parallel; a column's bounds stay in cache while its relations are swept), forwards and
backwards in turn so that bounds travel up and down the nesting. On the 38 million counts
of 200,000 incidents that is 4.5 s where the row-major sweep over dirty rows took 12.3 s
(the same fixed point, entry for entry; `benchmarks/privacy.py`). Each
visit of a relation tightens every term by the range the others leave it, as
`intervals.propagate` does for each constraint, so both reach the same fixed point (the
greatest one: the tightening operators are monotone), and a test holds them to the same
intervals on random tables and on the demo.

Facts that are neither (a change = count − previous count, a value another collection
repeats) are few; repeated values fix bounds before the sweeps, other facts go through
`intervals.propagate` on their own small system, alternating with the sweeps until both
are still.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from estgeo.audit import intervals

#: No bound (int32 arrays; the counts of a table are far below it).
INF = 1 << 30


def propagate_table(table, max_sweeps: int = 10_000, start=None,
                    instances: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feasible [lo, hi] of every entry of `table` (rows × columns, int32; `INF`: no upper
    bound); a published entry is its own value. Raises `intervals.Infeasible`.

    The arrays returned are views of column-major bounds (`_sweeps`): index them by
    [row, column], or through `intervals_of`, not by `reshape(-1)` (a copy).

    `start`: ``(lb, ub, rows)`` — what an earlier call returned for a table with the same
    relations, and a boolean per row: the rows whose own bounds (published or withheld,
    lower, upper) may differ since. Only those rows are reset and swept from; the rest keep
    their fixed point, and the arrays are updated in place. Exact — the same bounds as a
    call without `start` — when `rows` holds whole pieces of the row relations (a row
    with its parent and children, `row_components`): a piece's fixed point depends on
    its own bounds only, and nothing else links rows. Checked; a table with facts or
    repeated values (which can link any entries) is propagated whole. The protect rounds
    of a cell-key build withhold a few hundred counts after the first round; at 200,000
    incidents the pieces they touch were 3 % of the table.

    `instances`: `row_instances` of the table's row relations, when the caller propagates
    the same relations more than once."""
    values = np.asarray(table.values)
    n, w = values.shape
    withheld = np.ascontiguousarray(table.withheld, dtype=np.bool_)
    none = np.zeros((0, 0))
    lower = none if table.lower is None else np.ascontiguousarray(table.lower)
    upper = none if table.upper is None else np.ascontiguousarray(table.upper)
    linked = (table.equal_cells is not None and len(table.equal_cells)) or bool(table.facts)
    if start is not None and not linked:
        lb, ub = start[0].T, start[1].T
        redo = np.asarray(start[2], dtype=np.bool_)
        if lb.shape != (w, n) or not (lb.flags.c_contiguous and ub.flags.c_contiguous) or redo.shape != (n,):
            raise ValueError("propagate_table: `start` is not the bounds of a table of this shape")
        for rel in table.row_sums:
            parent = np.asarray(rel.parent)
            kids = np.flatnonzero(parent >= 0)
            if np.any(redo[kids] != redo[parent[kids]]):
                raise ValueError(f"propagate_table: the rows to redo split the pieces of row relation {rel.name!r}")
        rows = np.flatnonzero(redo)
    else:
        lb = np.empty((w, n), dtype=np.int32)
        ub = np.empty((w, n), dtype=np.int32)
        rows = np.arange(n)
    # One compiled pass over the table, not a chain of whole-table temporaries (2.8 s of
    # the 12 s at 200,000 incidents, and several GB at a million; now 0.2 s).
    _initial_bounds(np.ascontiguousarray(values), withheld, lower, table.lower is not None, upper,
                    table.upper is not None, lb, ub, rows)
    lbf, ubf = lb.reshape(-1), ub.reshape(-1)

    def column_major(flat: np.ndarray) -> np.ndarray:
        return (flat % w) * n + flat // w

    if table.equal_cells is not None and len(table.equal_cells):
        cells = column_major(np.asarray(table.equal_cells, dtype=np.int64))
        v = np.rint(np.asarray(table.equal_values, dtype=np.float64)).astype(np.int32)
        np.maximum.at(lbf, cells, v)
        np.minimum.at(ubf, cells, v)
    _check(lbf, ubf, n)
    col_parent, col_ptr, col_child = _column_relations(table.column_sums)
    inst_parent, inst_ptr, inst_child = instances if instances is not None else row_instances(table.row_sums, n)
    if inst_ptr.size - 1 != inst_parent.size or (inst_parent.size and int(inst_parent.max()) >= n):
        raise ValueError("propagate_table: `instances` are not of this table's row relations")
    if rows.size < n:
        # Only the relations of the rows redone: a sweep visits each relation of a moved
        # column, so all of them made a round redoing 0.1 % of the table cost 1 s at
        # 200,000 incidents (now 0.1 s).
        keep = np.zeros(n, dtype=np.bool_)
        keep[rows] = True
        kept = keep[inst_parent]
        sizes = np.diff(inst_ptr)
        inst_child = inst_child[np.repeat(kept, sizes)]
        inst_parent = inst_parent[kept]
        inst_ptr = np.zeros(inst_parent.size + 1, dtype=np.int64)
        np.cumsum(sizes[kept], out=inst_ptr[1:])
    row_ptr, row_inst = _instances_of_rows(inst_parent, inst_ptr, inst_child, n)
    facts = None
    if table.facts:
        vals = np.rint(values).astype(np.int64).reshape(-1)
        facts = _fact_system(table.facts, withheld.reshape(-1), vals)
        if facts is not None:
            facts = (facts[0], column_major(facts[1]))
    if rows.size == n:
        dirty = np.ones((w, n), dtype=np.bool_)
    else:
        dirty = np.zeros((w, n), dtype=np.bool_)
        dirty[:, rows] = True
    for _ in range(max_sweeps):
        bad = _sweeps(lb, ub, col_parent, col_ptr, col_child, inst_parent, inst_ptr, inst_child, dirty, max_sweeps,
                      row_ptr, row_inst)
        if bad >= 0:
            raise intervals.Infeasible(f"the published facts leave no value for entry {bad % n} × {bad // n} "
                                       "(lower bound above upper bound)")
        if facts is None:
            break
        moved = _propagate_facts(facts, lbf, ubf)
        if moved.size == 0:
            break
        dirty = np.zeros((w, n), dtype=np.bool_)
        dirty.reshape(-1)[moved] = True
    return lb.T, ub.T


def row_components(row_sums, n: int) -> np.ndarray:
    """A label per row: rows linked by a row relation (a parent and its children, through
    any chain) share one (the label is a row of the piece). The pieces `propagate_table`'s
    `start` redoes whole; in a density table one per cell of the coarsest resolution, with
    its children and periods.

    Union-find, compiled: scipy's connected components over a sparse graph of the links
    took 0.9 s at a million incidents (4.9 million rows); this is one pass per relation."""
    labels = np.arange(n, dtype=np.int64)
    for rel in row_sums:
        parent = np.asarray(rel.parent, dtype=np.int64)
        if parent.shape != (n,):
            raise ValueError(f"row relation {rel.name!r}: {parent.shape[0]} parents for {n} rows")
        _union(labels, parent)
    _flatten(labels)
    return labels


@numba.njit(cache=True, nogil=True)
def _find(labels, i):  # pragma: no cover - compiled
    while labels[i] != i:
        labels[i] = labels[labels[i]]  # path halving
        i = labels[i]
    return i


@numba.njit(cache=True, nogil=True)
def _union(labels, parent):  # pragma: no cover - compiled
    for i in range(parent.size):
        p = parent[i]
        if p >= 0:
            a, b = _find(labels, i), _find(labels, p)
            if a != b:
                labels[max(a, b)] = min(a, b)


@numba.njit(cache=True, nogil=True)
def _flatten(labels):  # pragma: no cover - compiled
    for i in range(labels.size):
        labels[i] = _find(labels, i)


def intervals_of(lb: np.ndarray, ub: np.ndarray, cells: np.ndarray) -> intervals.Intervals:
    """The propagated bounds of flat (row-major) `cells` (sorted, as `np.flatnonzero` gives
    them), as `intervals.Intervals` (floats,
    ∞ for none). For most of the table the bounds are first put back in row order in one
    pass (a gather through the transposed view took 3.7 s for the 38 million counts of
    200,000 incidents); a few cells (the pieces a protect round redoes) are gathered."""
    every = cells.size == lb.size and (cells.size == 0 or (cells[0] == 0 and cells[-1] == lb.size - 1))
    out = []
    n, w = lb.shape
    for bound in (lb, ub):
        if every or cells.size * 8 >= lb.size:
            flat = np.ascontiguousarray(bound).reshape(-1)
            picked = flat if every else flat[cells]
        else:
            picked = bound.T.reshape(-1)[(cells % w) * n + cells // w]
        out.append(picked.astype(np.float64))
    out[1][out[1] >= INF] = np.inf
    return intervals.Intervals(out[0], out[1])


def exposed_cells(lb: np.ndarray, ub: np.ndarray, truth: np.ndarray, min_count: int,
                  rows: np.ndarray | None = None) -> np.ndarray:
    """Flat (row-major, sorted) cells that `tables.exposed` finds exposed with the true
    counts, read straight off the bounds `propagate_table` returned, of every row or of
    `rows` (sorted). The protect rounds' check: through `intervals_of` and float
    intervals it was 2 GB and 4 s per round at a million incidents."""
    lbc, ubc = lb.T, ub.T
    if not (lbc.flags.c_contiguous and ubc.flags.c_contiguous):
        raise ValueError("exposed_cells: bounds as propagate_table returns them")
    every = rows is None
    picked = np.zeros(0, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    t = np.ascontiguousarray(truth)
    if t.shape != lb.shape:
        raise ValueError("exposed_cells: the true counts are not of the table's shape")
    out = np.zeros(lb.shape, dtype=np.bool_)
    _exposed(lbc, ubc, t, picked, every, max(min_count - 2, 1), min_count - 1, out)
    return np.flatnonzero(out)


@numba.njit(cache=True, nogil=True, parallel=True)
def _exposed(lb, ub, truth, rows, every, need, top, out):  # pragma: no cover - compiled
    w, n = lb.shape
    m = n if every else rows.size
    for i in numba.prange(m):
        r = np.int64(i)
        if not every:
            r = rows[i]
        for c in range(w):
            t = truth[r, c]
            if t >= 1 and t <= top and ub[c, r] < INF and ub[c, r] - lb[c, r] < need:
                out[r, c] = True


def set_bounds(lb: np.ndarray, ub: np.ndarray, cells: np.ndarray, found: intervals.Intervals) -> None:
    """Write intervals of flat (row-major) `cells` into bounds as `propagate_table` returns
    them (the exact stage's, which are integers in a count table), in place."""
    n, w = lb.shape
    at = (cells % w) * n + cells // w
    lbf, ubf = lb.T.reshape(-1), ub.T.reshape(-1)
    if not (np.shares_memory(lbf, lb) and np.shares_memory(ubf, ub)):
        raise ValueError("set_bounds: bounds as propagate_table returns them")
    lbf[at] = np.ceil(found.lo - 1e-7).astype(np.int32)
    ubf[at] = np.where(np.isfinite(found.hi), np.floor(np.minimum(found.hi, INF) + 1e-7), INF).astype(np.int32)


@dataclass
class Tally:
    """Per group of rows (the density's collections): the audit's figures."""

    withheld: np.ndarray  # unknowns
    exposed: np.ndarray
    sensitive: np.ndarray  # unknowns whose true count is 1 … min_count − 1 (every unknown without truth)
    exact: np.ndarray  # sensitive ones known exactly
    widths: np.ndarray  # groups × 100: interval widths of the sensitive ones (99: 99 or more, or none)
    shown: np.ndarray  # published values (cell-key, with truth)
    abs_error: np.ndarray  # Σ |published − true| over them
    small_shown: np.ndarray  # sensitive ones published
    exact_published: np.ndarray  # … published as their true value
    exact_averaged: np.ndarray  # sensitive ones the averaging attacker gets exactly
    exposed_cells: np.ndarray  # flat (row-major) cells, sorted


def tally(lb: np.ndarray, ub: np.ndarray, unknown: np.ndarray, min_count: int, row_starts: np.ndarray,
          truth: np.ndarray | None = None, published: np.ndarray | None = None, shown: np.ndarray | None = None,
          averaged: np.ndarray | None = None, chunk: int = 65_536) -> Tally:
    """The audit's figures per group of rows (`row_starts`: the first row of each, and the
    end), read in one compiled pass off the bounds `propagate_table` returned: the
    protection rule of `tables.exposed` on every unknown, the widths, and with cell-key
    how far the published (`published`, where `shown`) and the averaging attacker's
    (`averaged`) values are from the true ones.

    It replaces float intervals of every count and a mask per figure (2 × 8 bytes a count
    and 38 million-long temporaries for each figure; at 200,000 incidents 6.5 s of the
    audit's 21 s; now 0.4 s). A test holds it to the figures computed from
    `intervals_of` and `tables.exposed`."""
    lbc, ubc = lb.T, ub.T
    if not (lbc.flags.c_contiguous and ubc.flags.c_contiguous):
        raise ValueError("tally: bounds as propagate_table returns them")
    n, w = lb.shape
    none_f, none_b = np.zeros((0, 0)), np.zeros((0, 0), dtype=np.bool_)
    g = row_starts.size - 1
    # Runs of at most `chunk` rows within one group, in parallel, each with its own sums
    # (the groups alone are five, one of them most of the table).
    starts = [np.arange(int(row_starts[i]), int(row_starts[i + 1]), chunk) for i in range(g)]
    chunk_start = np.concatenate(starts + [np.array([n])]).astype(np.int64)
    chunk_end = np.concatenate([np.minimum(st + chunk, row_starts[i + 1]) for i, st in enumerate(starts)]
                               + [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    chunk_group = np.repeat(np.arange(g), [st.size for st in starts])
    m = chunk_group.size
    counts = np.zeros((9, m), dtype=np.int64)
    abs_error = np.zeros(m)
    widths = np.zeros((m, 100), dtype=np.int64)
    out = np.zeros((n, w), dtype=np.bool_)
    _tally(lbc, ubc, np.ascontiguousarray(unknown, dtype=np.bool_), chunk_start[:m], chunk_end,
           none_f if truth is None else np.ascontiguousarray(truth), truth is not None,
           none_f if published is None else np.ascontiguousarray(published, dtype=np.float64),
           none_b if shown is None else np.ascontiguousarray(shown, dtype=np.bool_), published is not None and shown is not None,
           none_f if averaged is None else np.ascontiguousarray(averaged, dtype=np.float64), averaged is not None,
           max(min_count - 2, 1), min_count - 1, counts, abs_error, widths, out)

    def per_group(x: np.ndarray) -> np.ndarray:
        summed = np.zeros((g,) + x.shape[1:], dtype=x.dtype)
        np.add.at(summed, chunk_group, x)
        return summed

    counts, abs_error, widths = per_group(counts.T).T, per_group(abs_error), per_group(widths)
    return Tally(counts[0], counts[1], counts[2], counts[3], widths, counts[4], abs_error, counts[5], counts[6],
                 counts[7], np.flatnonzero(out))


@numba.njit(cache=True, nogil=True, parallel=True)
def _tally(lb, ub, unknown, chunk_start, chunk_end, truth, has_truth, published, shown, has_published, averaged,
           has_averaged, need, top, counts, abs_error, widths, out):  # pragma: no cover - compiled
    w = lb.shape[0]
    for g in numba.prange(chunk_start.size):
        for r in range(chunk_start[g], chunk_end[g]):
            for c in range(w):
                if not unknown[r, c]:
                    continue
                counts[0, g] += 1
                lo = lb[c, r]
                hi = ub[c, r]
                finite = hi < INF
                width = hi - lo if finite else 99
                t = truth[r, c] if has_truth else 0.0
                sensitive = (t >= 1 and t <= top) if has_truth else True
                narrow = finite and width < need
                if narrow and (sensitive if has_truth else (hi >= 1 and lo <= top)):
                    counts[1, g] += 1
                    out[r, c] = True
                if sensitive:
                    counts[2, g] += 1
                    if finite and width == 0:
                        counts[3, g] += 1
                    widths[g, min(width, 99)] += 1
                    if has_averaged and averaged[r, c] == t:
                        counts[7, g] += 1
                if has_published and has_truth and shown[r, c]:
                    counts[4, g] += 1
                    abs_error[g] += abs(published[r, c] - t)
                    if sensitive:
                        counts[5, g] += 1
                        if published[r, c] == t:
                            counts[6, g] += 1


def _check(lbf: np.ndarray, ubf: np.ndarray, n: int) -> None:
    bad = int(_first_above(lbf, ubf))
    if bad >= 0:
        raise intervals.Infeasible(f"the published facts leave no value for entry {bad % n} × {bad // n} "
                                   "(two facts disagree)")


def _column_relations(column_sums) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parents = np.array([int(c.parent) for c in column_sums], dtype=np.int64)
    sizes = np.array([len(c.children) for c in column_sums], dtype=np.int64)
    ptr = np.zeros(len(column_sums) + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    child = (np.concatenate([np.asarray(c.children, dtype=np.int64) for c in column_sums])
             if column_sums else np.zeros(0, dtype=np.int64))
    return parents, ptr, child


def row_instances(row_sums, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (relation, parent row) with children, as parent rows and a children index:
    `propagate_table`'s `instances`, made once for the rounds of one table. A counting
    sort per relation, compiled (a stable argsort and np.unique per relation took 1.2 s
    at a million incidents)."""
    parents, sizes, children = [], [], []
    for rel in row_sums:
        parent = np.asarray(rel.parent, dtype=np.int64)
        if parent.shape != (n,):
            raise ValueError(f"row relation {rel.name!r}: {parent.shape[0]} parents for {n} rows")
        p, count, order = _group_by_parent(parent, n)
        if p.size == 0:
            continue
        parents.append(p)
        sizes.append(count)
        children.append(order)
    if not parents:
        z = np.zeros(0, dtype=np.int64)
        return z, np.zeros(1, dtype=np.int64), z
    size = np.concatenate(sizes)
    ptr = np.zeros(size.size + 1, dtype=np.int64)
    np.cumsum(size, out=ptr[1:])
    return np.concatenate(parents), ptr, np.concatenate(children)


@numba.njit(cache=True, nogil=True)
def _group_by_parent(parent, n):  # pragma: no cover - compiled
    """The parents with children (ascending), their number of children, and the children
    grouped by parent (ascending within a parent)."""
    count = np.zeros(n + 1, dtype=np.int64)
    for i in range(parent.size):
        if parent[i] >= 0:
            count[parent[i] + 1] += 1
    m = 0
    for r in range(n):
        if count[r + 1] > 0:
            m += 1
    p = np.empty(m, dtype=np.int64)
    sizes = np.empty(m, dtype=np.int64)
    k = 0
    for r in range(n):
        if count[r + 1] > 0:
            p[k] = r
            sizes[k] = count[r + 1]
            k += 1
    for r in range(n):
        count[r + 1] += count[r]
    order = np.empty(count[n], dtype=np.int64)
    for i in range(parent.size):
        q = parent[i]
        if q >= 0:
            order[count[q]] = i
            count[q] += 1
    return p, sizes, order


@numba.njit(cache=True, nogil=True)
def _instances_of_rows(inst_parent, inst_ptr, inst_child, n):  # pragma: no cover - compiled
    """The row relation instances each row is a term of (as the parent or a child), as
    an index: row r's are row_inst[row_ptr[r]:row_ptr[r + 1]] (a counting sort)."""
    m = inst_parent.size
    count = np.zeros(n + 1, dtype=np.int64)
    for i in range(m):
        count[inst_parent[i] + 1] += 1
    for e in range(inst_child.size):
        count[inst_child[e] + 1] += 1
    for r in range(n):
        count[r + 1] += count[r]
    row_ptr = count.copy()
    row_inst = np.empty(count[n], dtype=np.int64)
    for i in range(m):
        r = inst_parent[i]
        row_inst[count[r]] = i
        count[r] += 1
        for e in range(inst_ptr[i], inst_ptr[i + 1]):
            k = inst_child[e]
            row_inst[count[k]] = i
            count[k] += 1
    return row_ptr, row_inst


@numba.njit(cache=True, nogil=True, parallel=True)
def _initial_bounds(values, withheld, lower, has_lower, upper, has_upper, lb, ub, rows):  # pragma: no cover - compiled
    """lb/ub (column-major) of every entry of `rows`: a published one its value; a withheld one
    [max(0, lower), min(INF, upper)] (bounds rounded inwards: the counts are integers).

    In blocks of 512 rows, a column at a time within a block and the blocks in parallel:
    each bound is then written in order while the block's rows stay in cache. Row by row
    (a stride of n between the writes of a row) it took 3.2 s of the protect step's first
    round at a million incidents."""
    n, w = values.shape
    inf = 1 << 30
    m = rows.size
    for b in numba.prange((m + 511) // 512):
        first, last = b * 512, min(b * 512 + 512, m)
        for j in range(w):
            for t in range(first, last):
                i = rows[t]
                if withheld[i, j]:
                    lo = 0
                    hi = inf
                    if has_lower:
                        bound = np.ceil(lower[i, j] - 1e-7)
                        if bound > lo:
                            lo = int(bound)
                    if has_upper:
                        u = upper[i, j]
                        if np.isfinite(u):
                            bound = np.floor(u + 1e-7)
                            if bound < hi:
                                hi = int(bound)
                else:
                    lo = int(np.rint(values[i, j]))
                    hi = lo
                lb[j, i] = lo
                ub[j, i] = hi


@numba.njit(cache=True, nogil=True)
def _first_above(lbf, ubf):  # pragma: no cover - compiled
    for i in range(lbf.size):
        if lbf[i] > ubf[i]:
            return i
    return -1


@numba.njit(cache=True, nogil=True, inline="always")
def _narrow(lbf, ubf, j, parent, smin, smax, nmin, nmax):  # pragma: no cover - compiled
    """Tighten term `j` of a relation parent = Σ children from the others' range (the sums
    smin/smax over all terms, the parent with coefficient −1; nmin/nmax: how many terms
    have no bound on that side). 0: no change, 1: moved, 2: no value left."""
    inf = 1 << 30
    lo_j = np.int64(lbf[j])
    hi_j = np.int64(ubf[j])
    hi_inf = hi_j >= inf
    if parent:
        own_min_inf = hi_inf
        own_min = -hi_j
        own_max = -lo_j
        own_max_inf = False
    else:
        own_min_inf = False
        own_min = lo_j
        own_max_inf = hi_inf
        own_max = hi_j
    # The others' range [o_min, o_max]; the term's own range must be [−o_max, −o_min].
    if own_min_inf:
        o_min_inf = nmin > 1
        o_min = smin
    else:
        o_min_inf = nmin > 0
        o_min = smin - own_min
    if own_max_inf:
        o_max_inf = nmax > 1
        o_max = smax
    else:
        o_max_inf = nmax > 0
        o_max = smax - own_max
    if parent:
        # −x ∈ [−o_max, −o_min]  ⇒  x ∈ [o_min, o_max]
        new_lo_inf, new_lo = o_min_inf, o_min
        new_hi_inf, new_hi = o_max_inf, o_max
    else:
        new_lo_inf, new_lo = o_max_inf, -o_max
        new_hi_inf, new_hi = o_min_inf, -o_min
    moved = 0
    if not new_lo_inf and new_lo > lo_j:
        lbf[j] = new_lo
        lo_j = new_lo
        moved = 1
    if not new_hi_inf and new_hi < hi_j:
        ubf[j] = new_hi
        hi_j = new_hi
        moved = 1
    if moved and lo_j > hi_j:
        return 2
    return moved


@numba.njit(cache=True, nogil=True, inline="always")
def _mark(inst_dirty, c, r, row_ptr, row_inst):  # pragma: no cover - compiled
    """Entry (column c, row r) moved: the row relations holding row r are due in column c."""
    for e in range(row_ptr[r], row_ptr[r + 1]):
        inst_dirty[c, row_inst[e]] = True


@numba.njit(cache=True, nogil=True, inline="always")
def _relation(lbv, ubv, dv, mv, also, p, kids, start, end, check, row_phase, fixed, inst_dirty, row_ptr,
              row_inst):  # pragma: no cover - compiled
    """One relation ``v[p] = Σ v[kids[start:end]]`` over one vector of the table (a row's
    columns, or a column's rows): visited only when a term moved since its last visit
    (`check`: look at the terms' flags; else the caller knows); every term tightened by
    the range the others leave it. Returns the index of a term left with no value, −2
    when a term moved, else −1; marks what moved in `mv`, in `also` (the other axis's
    flags: the moved term's column, or row) and the row relations now due (`_mark`;
    `fixed`: the vector's row, or in the row phase its column)."""
    inf = 1 << 30
    if check:
        touched = dv[p] or mv[p]
        if not touched:
            for e in range(start, end):
                j = kids[e]
                if dv[j] or mv[j]:
                    touched = True
                    break
        if not touched:
            return -1
    out = -1
    s_min = 0
    s_max = 0
    n_min = 0
    n_max = 0
    if ubv[p] >= inf:
        n_min += 1
    else:
        s_min -= ubv[p]
    s_max -= lbv[p]
    for e in range(start, end):
        j = kids[e]
        s_min += lbv[j]
        if ubv[j] >= inf:
            n_max += 1
        else:
            s_max += ubv[j]
    for e in range(start - 1, end):  # the parent first, then the children
        j = p if e < start else kids[e]
        res = _narrow(lbv, ubv, j, e < start, s_min, s_max, n_min, n_max)
        if res == 2:
            return j
        if res == 1:
            mv[j] = True
            also[j] = True
            if row_phase:
                _mark(inst_dirty, fixed, j, row_ptr, row_inst)
            else:
                _mark(inst_dirty, j, fixed, row_ptr, row_inst)
            out = -2
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _column_phase(lb, ub, col_parent, col_ptr, col_child, dirty, moved, dirty_row, moved_row, moved_col, bad,
                  inst_dirty, row_ptr, row_inst):  # pragma: no cover - compiled
    """Column relations (within a row) of every row holding a moved entry; rows in
    parallel (a row's relations touch only that row; the row relations they make due
    are flags set to true, whichever thread sets them)."""
    w, n = lb.shape
    for r in numba.prange(n):
        if not (dirty_row[r] or moved_row[r]):
            continue
        lbr, ubr, dr, mr = lb[:, r], ub[:, r], dirty[:, r], moved[:, r]
        for k in range(col_parent.size):
            j = _relation(lbr, ubr, dr, mr, moved_col, col_parent[k], col_child, col_ptr[k], col_ptr[k + 1],
                          True, False, r, inst_dirty, row_ptr, row_inst)
            if j >= 0:
                bad[0] = j * n + r
            elif j == -2:
                moved_row[r] = True


@numba.njit(cache=True, nogil=True, parallel=True)
def _row_phase(lb, ub, inst_parent, inst_ptr, inst_child, dirty, moved, dirty_col, moved_col, moved_row, backwards, bad,
               inst_dirty, row_ptr, row_inst):  # pragma: no cover - compiled
    """Row relations (parent row = Σ child rows, in one column) holding a moved entry —
    flagged in `inst_dirty` (columns × relations) when one moved, so a sweep reads a byte
    per relation instead of every term's flags (those reads were most of each sweep
    after the first: 1.5 s a sweep at a million incidents); columns in parallel (a row
    relation touches only its column). `backwards`: the instances in reverse order
    (bounds travel up the cell and period nesting in one sweep and down in the next:
    symmetric Gauss-Seidel)."""
    w, n = lb.shape
    m = inst_parent.size
    for c in numba.prange(w):
        if not (dirty_col[c] or moved_col[c]):
            continue
        col_moved = False
        lbc, ubc, dc, mc = lb[c], ub[c], dirty[c], moved[c]
        due = inst_dirty[c]
        for ii in range(m):
            i = m - 1 - ii if backwards else ii
            if not due[i]:
                continue
            due[i] = False
            j = _relation(lbc, ubc, dc, mc, moved_row, inst_parent[i], inst_child, inst_ptr[i], inst_ptr[i + 1],
                          False, True, c, inst_dirty, row_ptr, row_inst)
            if j >= 0:
                bad[0] = c * n + j
            elif j == -2:
                col_moved = True
        if col_moved:
            moved_col[c] = True


@numba.njit(cache=True, nogil=True)
def _sweeps(lb, ub, col_parent, col_ptr, col_child, inst_parent, inst_ptr, inst_child, dirty, max_sweeps,
            row_ptr, row_inst):  # pragma: no cover - compiled
    """Sweep the relations until no bound moves; returns the flat (column-major) index of
    an entry left with no value, or −1.

    The bounds are column-major (columns × rows): a row relation holds in one column at a
    time, so one column's bounds stay in cache while its relations are swept, and the
    columns are swept in parallel. `dirty` (columns × rows): entries that moved since
    their relations were last visited; only relations holding one are visited again, so
    after the first sweeps a sweep costs what moved, not the table."""
    w, n = lb.shape
    moved = np.zeros((w, n), dtype=np.bool_)
    dirty_row = np.zeros(n, dtype=np.bool_)
    moved_row = np.zeros(n, dtype=np.bool_)
    dirty_col = np.zeros(w, dtype=np.bool_)
    moved_col = np.zeros(w, dtype=np.bool_)
    bad = np.full(1, -1, dtype=np.int64)
    # Every row relation of a dirty entry is due (the caller passes the relations of the
    # rows it redoes only).
    inst_dirty = np.zeros((w, inst_parent.size), dtype=np.bool_)
    n_dirty = 0
    for c in range(w):
        for r in range(n):
            if dirty[c, r]:
                dirty_row[r] = True
                dirty_col[c] = True
                n_dirty += 1
    if n_dirty == w * n:
        inst_dirty[:, :] = True
    else:
        for c in range(w):
            for r in range(n):
                if dirty[c, r]:
                    _mark(inst_dirty, c, r, row_ptr, row_inst)
    for sweep in range(max_sweeps):
        _column_phase(lb, ub, col_parent, col_ptr, col_child, dirty, moved, dirty_row, moved_row, moved_col, bad,
                      inst_dirty, row_ptr, row_inst)
        if bad[0] >= 0:
            return bad[0]
        _row_phase(lb, ub, inst_parent, inst_ptr, inst_child, dirty, moved, dirty_col, moved_col, moved_row,
                   sweep % 2 == 1, bad, inst_dirty, row_ptr, row_inst)
        if bad[0] >= 0:
            return bad[0]
        any_moved = False
        for c in range(w):
            if moved_col[c]:
                any_moved = True
                break
        if not any_moved:
            return -1
        # What moved in this sweep is what the next one visits. Flags are only ever set in
        # rows flagged too, so they are cleared and copied row by row where set: a sweep
        # after the first costs what moved, not a pass over the table (which a protect
        # round redoing a few pieces of a large table would pay every sweep).
        for r in range(n):
            if dirty_row[r]:
                for c in range(w):
                    dirty[c, r] = False
            if moved_row[r]:
                for c in range(w):
                    if moved[c, r]:
                        dirty[c, r] = True
                        moved[c, r] = False
            dirty_row[r] = moved_row[r]
            moved_row[r] = False
        for c in range(w):
            dirty_col[c] = moved_col[c]
            moved_col[c] = False
    return -1


def _fact_system(facts, withheld_flat: np.ndarray, values_flat: np.ndarray):
    """The facts (Σ coef · entry = value) over the withheld entries they hold, as a small
    `intervals.System` and the flat cell of each of its variables."""
    cells = np.unique(np.concatenate([np.asarray(c, dtype=np.int64) for c, _, _ in facts]))
    cells = cells[withheld_flat[cells]]
    if cells.size == 0:
        return None
    builder = intervals.SystemBuilder(cells.size)
    for fact_cells, coef, value in facts:
        fact_cells = np.asarray(fact_cells, dtype=np.int64)
        coef = np.asarray(coef, dtype=np.float64)
        hidden = withheld_flat[fact_cells]
        if not hidden.any():
            continue
        rhs = float(value) - float(np.sum(coef[~hidden] * values_flat[fact_cells[~hidden]]))
        var = np.searchsorted(cells, fact_cells[hidden])
        builder.add(np.zeros(var.size, dtype=np.int64), var, coef[hidden], np.array([rhs]), np.array([rhs]))
    return builder.build(), cells


def _propagate_facts(facts, lbf: np.ndarray, ubf: np.ndarray) -> np.ndarray:
    """Propagate the facts' own system from the current bounds; write back what moved
    (flat cells)."""
    if facts is None:
        return np.zeros(0, dtype=np.int64)
    system, cells = facts
    system.lb = lbf[cells].astype(np.float64)
    ub = ubf[cells].astype(np.float64)
    ub[ub >= INF] = np.inf
    system.ub = ub
    found = intervals.propagate(system)
    lo = found.lo.astype(np.int64)
    hi = np.where(np.isfinite(found.hi), found.hi, INF).astype(np.int64)
    moved = (lo > lbf[cells]) | (hi < ubf[cells])
    lbf[cells] = np.maximum(lbf[cells], lo).astype(np.int32)
    ubf[cells] = np.minimum(ubf[cells], hi).astype(np.int32)
    return cells[moved]
