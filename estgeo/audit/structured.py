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
bound of `INF` means none). No relation links two pieces of the table (`row_components`:
in a density table a cell of the coarsest resolution with its children and periods;
1,611 pieces of ~3,000 rows at a million incidents), so the propagation goes piece by
piece (`row_pieces`), the pieces in parallel: a piece's bounds are made in a small block
of its own (a few hundred kB, in cache; rows a one-child relation makes equal share a
row of it), swept there — the column sums (total = Σ groups …) row by row, then the row
sums in all columns at once, forwards and backwards in turn so that bounds travel up and
down the nesting — until nothing moves, and written out. On the 127.9 million counts of a
million incidents a propagation takes 3.0–4.1 s where sweeping the whole table with flags
for what moved took 11.2–13.4 s (the same fixed point, entry for entry). Each
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


def propagate_table(table, max_sweeps: int = 10_000, start=None, pieces: Pieces | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feasible [lo, hi] of every entry of `table` (rows × columns, int32; `INF`: no upper
    bound); a published entry is its own value. Raises `intervals.Infeasible`.

    The arrays returned are views of column-major bounds: index them by [row, column], or
    through `intervals_of`, not by `reshape(-1)` (a copy). `max_sweeps`: per piece.

    `start`: ``(lb, ub, rows)`` — what an earlier call returned for a table with the same
    relations, and a boolean per row: the rows whose own bounds (published or withheld,
    lower, upper) may differ since. Only their pieces are reset and swept; the rest keep
    their fixed point, and the arrays are updated in place. Exact — the same bounds as a
    call without `start` — when `rows` holds whole pieces (`row_components`): a piece's
    fixed point depends on its own bounds only. Checked; a table with facts or repeated
    values (which can link any entries) is propagated whole. The protect rounds of a
    cell-key build withhold a few hundred counts after the first round; at 200,000
    incidents the pieces they touch were 3 % of the table.

    `pieces`: `row_pieces` of the table's row relations, when the caller propagates the
    same relations more than once."""
    values = np.asarray(table.values)
    n, w = values.shape
    withheld = np.ascontiguousarray(table.withheld, dtype=np.bool_)
    none = np.zeros((0, 0))
    lower = none if table.lower is None else np.ascontiguousarray(table.lower)
    upper = none if table.upper is None else np.ascontiguousarray(table.upper)
    linked = (table.equal_cells is not None and len(table.equal_cells)) or bool(table.facts)
    if pieces is None:
        pieces = row_pieces(table.row_sums, n)
    elif pieces.of_row.shape != (n,):
        raise ValueError("propagate_table: `pieces` are not of this table's rows")
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
        todo = np.unique(pieces.of_row[redo])
    else:
        lb = np.empty((w, n), dtype=np.int32)
        ub = np.empty((w, n), dtype=np.int32)
        todo = np.arange(pieces.ptr.size - 1)
    lbf, ubf = lb.reshape(-1), ub.reshape(-1)

    def column_major(flat: np.ndarray) -> np.ndarray:
        return (flat % w) * n + flat // w

    values = np.ascontiguousarray(values)
    facts = None
    if linked:
        # Repeated values and facts can link any entries: the initial bounds of the whole
        # table first, the repeated values on them, and the pieces from there.
        _initial_bounds(values, withheld, lower, table.lower is not None, upper, table.upper is not None, lb, ub,
                        np.arange(n))
        if table.equal_cells is not None and len(table.equal_cells):
            cells = column_major(np.asarray(table.equal_cells, dtype=np.int64))
            v = np.rint(np.asarray(table.equal_values, dtype=np.float64)).astype(np.int32)
            np.maximum.at(lbf, cells, v)
            np.minimum.at(ubf, cells, v)
        _check(lbf, ubf, n)
        if table.facts:
            facts = _fact_system(table.facts, withheld.reshape(-1), np.rint(values).astype(np.int64).reshape(-1))
            if facts is not None:
                facts = (facts[0], column_major(facts[1]))
    col_parent, col_ptr, col_child = _column_relations(table.column_sums)
    fresh = not linked
    while todo.size:
        # The largest pieces first, handed out one at a time: a static split of the
        # pieces between the threads left one idle while the other swept a city centre.
        todo = todo[np.argsort(-pieces.width[todo], kind="stable")]
        bad = np.full(1, -1, dtype=np.int64)
        chunk = numba.get_parallel_chunksize()
        numba.set_parallel_chunksize(1)
        try:
            _sweep_pieces(lb, ub, fresh, values, withheld, lower, table.lower is not None, upper,
                          table.upper is not None, todo, pieces.ptr, pieces.rows, pieces.slot, pieces.width,
                          pieces.inst_ptr, pieces.parent, pieces.kid_ptr, pieces.kids, col_parent, col_ptr, col_child,
                          max_sweeps, bad)
        finally:
            numba.set_parallel_chunksize(chunk)
        if bad[0] >= 0:
            raise intervals.Infeasible(f"the published facts leave no value for entry {bad[0] % n} × {bad[0] // n} "
                                       "(lower bound above upper bound)")
        if facts is None:
            break
        moved = _propagate_facts(facts, lbf, ubf)
        todo = np.unique(pieces.of_row[moved % n])
        fresh = False
    return lb.T, ub.T


@dataclass(frozen=True)
class Pieces:
    """A table's rows by piece (`row_components`) and each piece's row relations, with
    row numbers local to the piece: `propagate_table` sweeps a piece in a block of its own."""

    #: Piece p's rows are rows[ptr[p]:ptr[p + 1]] (ascending).
    ptr: np.ndarray
    rows: np.ndarray
    #: The piece of every row.
    of_row: np.ndarray
    #: The row of its piece's block that rows[t] is swept in: a relation with one child
    #: says its parent equals it, so the two are one row of the block (at a million
    #: incidents 3.5 of the 5.2 million relation instances; 2.1 million block rows for
    #: 4.9 million rows; the sweeps of column-major blocks 8.0 s → 5.0 s); `width[p]`:
    #: piece p's block rows.
    slot: np.ndarray
    width: np.ndarray
    #: Piece p's relation instances with more than one child are [inst_ptr[p],
    #: inst_ptr[p + 1]): parent[i] = Σ kids[kid_ptr[i]:kid_ptr[i + 1]], block rows.
    inst_ptr: np.ndarray
    parent: np.ndarray
    kid_ptr: np.ndarray
    kids: np.ndarray


def row_pieces(row_sums, n: int) -> Pieces:
    """`Pieces` of a table's row relations: made once for the rounds of one table."""
    labels = row_components(row_sums, n)
    parent, ptr, child = row_instances(row_sums, n)
    return Pieces(*_group_pieces(labels, parent, ptr, child))


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
            _join(labels, i, p)


@numba.njit(cache=True, nogil=True, inline="always")
def _join(labels, i, j):  # pragma: no cover - compiled
    """Put rows i and j in one set (the smaller root stays the root)."""
    a, b = _find(labels, i), _find(labels, j)
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
def _group_pieces(labels, inst_parent, inst_ptr, inst_child):  # pragma: no cover - compiled
    """Rows and relation instances grouped by piece (counting sorts); rows that a relation
    with one child makes equal share one row of the piece's block (union-find), and the
    instances left hold block rows."""
    n = labels.size
    rank = np.full(n, -1, dtype=np.int64)
    k = 0
    for r in range(n):
        if labels[r] == r:
            rank[r] = k
            k += 1
    of_row = np.empty(n, dtype=np.int64)
    ptr = np.zeros(k + 1, dtype=np.int64)
    for r in range(n):
        of_row[r] = rank[labels[r]]
        ptr[of_row[r] + 1] += 1
    for q in range(k):
        ptr[q + 1] += ptr[q]
    fill = ptr[:-1].copy()
    rows = np.empty(n, dtype=np.int64)
    for r in range(n):
        q = of_row[r]
        rows[fill[q]] = r
        fill[q] += 1
    # Equal rows: parent = its only child.
    same = np.arange(n)
    m = inst_parent.size
    for i in range(m):
        if inst_ptr[i + 1] - inst_ptr[i] == 1:
            _join(same, inst_parent[i], inst_child[inst_ptr[i]])
    _flatten(same)
    block = np.full(n, -1, dtype=np.int32)
    slot = np.empty(n, dtype=np.int32)
    width = np.zeros(k + 1, dtype=np.int64)
    for q in range(k):
        used = 0
        for t in range(ptr[q], ptr[q + 1]):
            root = same[rows[t]]
            if block[root] < 0:
                block[root] = used
                used += 1
            slot[t] = block[root]
        width[q + 1] = used
    for r in range(n):
        block[r] = block[same[r]]
    inst_of = np.zeros(k + 1, dtype=np.int64)
    for i in range(m):
        if inst_ptr[i + 1] - inst_ptr[i] > 1:
            inst_of[of_row[inst_parent[i]] + 1] += 1
    for q in range(k):
        inst_of[q + 1] += inst_of[q]
    kept = inst_of[k]
    fill = inst_of[:-1].copy()
    order = np.empty(kept, dtype=np.int64)
    for i in range(m):
        if inst_ptr[i + 1] - inst_ptr[i] > 1:
            q = of_row[inst_parent[i]]
            order[fill[q]] = i
            fill[q] += 1
    size = 0
    for t in range(kept):
        size += inst_ptr[order[t] + 1] - inst_ptr[order[t]]
    parent = np.empty(kept, dtype=np.int32)
    kid_ptr = np.zeros(kept + 1, dtype=np.int64)
    kids = np.empty(size, dtype=np.int32)
    e = 0
    for t in range(kept):
        i = order[t]
        parent[t] = block[inst_parent[i]]
        for x in range(inst_ptr[i], inst_ptr[i + 1]):
            kids[e] = block[inst_child[x]]
            e += 1
        kid_ptr[t + 1] = e
    return ptr, rows, of_row, slot, width[1:], inst_of, parent, kid_ptr, kids


@numba.njit(cache=True, nogil=True, parallel=True)
def _initial_bounds(values, withheld, lower, has_lower, upper, has_upper, lb, ub, rows):  # pragma: no cover - compiled
    """lb/ub (column-major) of every entry of `rows`: a published one its value; a withheld one
    [max(0, lower), min(INF, upper)] (bounds rounded inwards: the counts are integers).

    In blocks of 512 rows, a column at a time within a block and the blocks in parallel:
    each bound is then written in order while the block's rows stay in cache. Row by row
    (a stride of n between the writes of a row) it took 3.2 s of the protect step's first
    round at a million incidents."""
    n, w = values.shape
    m = rows.size
    for b in numba.prange((m + 511) // 512):
        first, last = b * 512, min(b * 512 + 512, m)
        for j in range(w):
            for t in range(first, last):
                i = rows[t]
                lb[j, i], ub[j, i] = _initial(values, withheld, lower, has_lower, upper, has_upper, i, j)


@numba.njit(cache=True, nogil=True, inline="always")
def _initial(values, withheld, lower, has_lower, upper, has_upper, i, j):  # pragma: no cover - compiled
    """The bounds of entry (i, j) before any relation (`_initial_bounds`)."""
    if not withheld[i, j]:
        v = np.int64(np.rint(values[i, j]))
        return v, v
    lo = np.int64(0)
    hi = np.int64(1 << 30)
    if has_lower:
        bound = np.ceil(lower[i, j] - 1e-7)
        if bound > lo:
            lo = np.int64(bound)
    if has_upper:
        u = upper[i, j]
        if np.isfinite(u):
            bound = np.floor(u + 1e-7)
            if bound < hi:
                hi = np.int64(bound)
    return lo, hi


@numba.njit(cache=True, nogil=True)
def _first_above(lbf, ubf):  # pragma: no cover - compiled
    for i in range(lbf.size):
        if lbf[i] > ubf[i]:
            return i
    return -1


@numba.njit(cache=True, nogil=True, inline="always")
def _tighten(lo_a, hi_a, base, p, kids, start, end):  # pragma: no cover - compiled
    """One relation ``v[p] = Σ v[kids[start:end]]`` over a row of a piece's block (a
    column relation; element i at base + i): every term tightened by the range the others leave it,
    from the sums before the visit (as `intervals.propagate` visits a constraint): the
    parent to [Σ lb, Σ ub] of the children, a child to [lb_p − Σ_others ub, ub_p −
    Σ_others lb]. Returns the block index of a term left with no value, −2 when a term
    moved, else −1.

    Written with min/max on int64 sums in which `INF` simply adds up: a sum holding one
    is ≥ INF, and the bounds it gives are then no tighter than a count's (a child's lower
    bound below 0, an upper bound at or above INF, which `min` leaves alone); the one case
    where that would write a finite bound below INF, an unbounded parent, is a select. An
    earlier form counted the unbounded terms and tested each case with a branch per term;
    the outcomes are data-dependent, and the mispredictions were most of a sweep: a row
    phase over a million incidents' table took 2.4 s that way, 0.9 s this way, entry for
    entry the same bounds."""
    slb = np.int64(0)
    sub = np.int64(0)
    for e in range(start, end):
        x = base + kids[e]
        slb += lo_a[x]
        sub += hi_a[x]
    x = base + p
    lp = np.int64(lo_a[x])
    up = np.int64(hi_a[x])
    out = _store(lo_a, hi_a, x, lp, up, max(lp, slb), min(up, sub))
    if out >= 0:
        return out
    for e in range(start, end):
        x = base + kids[e]
        lj = np.int64(lo_a[x])
        uj = np.int64(hi_a[x])
        lo, hi = _child(lj, uj, lp, up, slb, sub)
        res = _store(lo_a, hi_a, x, lj, uj, lo, hi)
        if res >= 0:
            return res
        out = min(out, res)
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _child(lj, uj, lp, up, slb, sub):  # pragma: no cover - compiled
    """A child's bounds [lj, uj] tightened by its relation: the parent's [lp, up] less the
    other children's range (slb, sub: the sums over all children, `_tighten`)."""
    inf = np.int64(1 << 30)
    return max(lj, lp - (sub - uj)), min(uj, inf if up >= inf else up - (slb - lj))


@numba.njit(cache=True, nogil=True, inline="always")
def _store(lo_a, hi_a, x, old_lo, old_hi, lo, hi):  # pragma: no cover - compiled
    """Write term x's tightened bounds: −1 unchanged, −2 moved, x when none is left."""
    if lo == old_lo and hi == old_hi:
        return -1
    if lo > hi:
        return x
    lo_a[x] = lo
    hi_a[x] = hi
    return -2


@numba.njit(cache=True, nogil=True, inline="always")
def _row_relation(lo, hi, p, kids, start, end, slb, sub, lp, up):  # pragma: no cover - compiled
    """`_tighten` for a row relation ``row p = Σ rows kids[start:end]`` of a block
    (block rows × columns), in every column at once: the loops over the columns are
    contiguous and the compiler makes them vector instructions. Returns 1 when a bound
    moved, 2 when one is left with no value, else 0. slb … up: scratch, one per column."""
    w = lo.shape[1]
    for c in range(w):
        slb[c] = 0
        sub[c] = 0
    for e in range(start, end):
        r = kids[e]
        for c in range(w):
            slb[c] += lo[r, c]
            sub[c] += hi[r, c]
    moved = 0
    crossed = 0
    for c in range(w):
        a = np.int64(lo[p, c])
        b = np.int64(hi[p, c])
        lp[c] = a
        up[c] = b
        nl = max(a, slb[c])
        nu = min(b, sub[c])
        moved |= (nl != a) | (nu != b)
        crossed |= nl > nu
        lo[p, c] = nl
        hi[p, c] = nu
    for e in range(start, end):
        r = kids[e]
        for c in range(w):
            a = np.int64(lo[r, c])
            b = np.int64(hi[r, c])
            nl, nu = _child(a, b, lp[c], up[c], slb[c], sub[c])
            moved |= (nl != a) | (nu != b)
            crossed |= nl > nu
            lo[r, c] = nl
            hi[r, c] = nu
    return 2 if crossed else moved


@numba.njit(cache=True, nogil=True, parallel=True)
def _sweep_pieces(lb, ub, fresh, values, withheld, lower, has_lower, upper, has_upper, todo, ptr, rows, slot, width,
                  inst_ptr, parent, kid_ptr, kids, col_parent, col_ptr, col_child, max_sweeps,
                  bad):  # pragma: no cover - compiled
    """Sweep each piece in `todo` to its fixed point (pieces in parallel) and write its
    bounds into lb/ub; `bad[0]`: the flat (column-major) index of an entry left with no
    value, if any. `fresh`: the pieces start from their initial bounds (`_initial`), read
    from the table's own row-major arrays, else from lb/ub.

    A piece's bounds live in a block of its own, row-major (block rows × columns; a few
    hundred kB at a million incidents, in cache through the sweeps): a row relation then
    goes through all columns at once (`_row_relation`), and a row's column relations
    read one row of the block. Sweeps repeat whole until one moves nothing: the flags
    that tracked what moved on the whole table (to visit only the relations holding it)
    cost more to keep than the visits they saved once the block is in cache. At a million
    incidents (1,611 pieces, 2.1 million block rows, 5 sweeps each on average) the
    copies in and out take 0.5 s, the row relations 1.1 s and the column relations 1.1 s
    (swept over the whole table, column by column with flags: 9.2 s)."""
    w, n = lb.shape
    for q in numba.prange(todo.size):
        piece = todo[q]
        first, last = ptr[piece], ptr[piece + 1]
        m = width[piece]
        # Rows sharing a block row meet in it: the larger lower bound, the smaller upper.
        lo = np.zeros((m, w), dtype=np.int32)
        hi = np.full((m, w), 1 << 30, dtype=np.int32)
        if fresh:
            for t in range(first, last):
                b, i = slot[t], rows[t]
                for c in range(w):
                    a, z = _initial(values, withheld, lower, has_lower, upper, has_upper, i, c)
                    lo[b, c] = max(lo[b, c], a)
                    hi[b, c] = min(hi[b, c], z)
        else:
            for c in range(w):
                for t in range(first, last):
                    b = slot[t]
                    lo[b, c] = max(lo[b, c], lb[c, rows[t]])
                    hi[b, c] = min(hi[b, c], ub[c, rows[t]])
        lof, hif = lo.reshape(-1), hi.reshape(-1)
        slb = np.empty(w, dtype=np.int64)
        sub = np.empty(w, dtype=np.int64)
        lp = np.empty(w, dtype=np.int64)
        up = np.empty(w, dtype=np.int64)
        i0, i1 = inst_ptr[piece], inst_ptr[piece + 1]
        for sweep in range(max_sweeps):
            state = 0
            for t in range(m):
                for k in range(col_parent.size):
                    res = _tighten(lof, hif, t * w, col_parent[k], col_child, col_ptr[k], col_ptr[k + 1])
                    if res >= 0:
                        state = 2
                    elif res == -2:
                        state |= 1
            if state < 2:
                backwards = sweep % 2 == 1
                for ii in range(i1 - i0):
                    i = i1 - 1 - ii if backwards else i0 + ii
                    state |= _row_relation(lo, hi, parent[i], kids, kid_ptr[i], kid_ptr[i + 1], slb, sub, lp, up)
            if state != 1:
                break
        for c in range(w):
            for t in range(first, last):
                b = slot[t]
                lb[c, rows[t]] = lo[b, c]
                ub[c, rows[t]] = hi[b, c]
                if lo[b, c] > hi[b, c]:
                    bad[0] = c * n + rows[t]


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
