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

Here the bounds are two int32 arrays shaped like the table (8 bytes per count; a bound of
`INF` means none), the row sums become one children-by-parent index over the rows, and
the propagation sweeps the table, visiting in each sweep only the rows whose bounds
moved in the one before (and the relations holding them), until nothing moves. Each
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

import numba
import numpy as np

from estgeo.audit import intervals

#: No bound (int32 arrays; the counts of a table are far below it).
INF = 1 << 30


def propagate_table(table, max_sweeps: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """Feasible [lo, hi] of every entry of `table` (rows × columns, int32; `INF`: no upper
    bound); a published entry is its own value. Raises `intervals.Infeasible`."""
    values = np.asarray(table.values)
    n, w = values.shape
    withheld = np.asarray(table.withheld, dtype=bool)
    vals = np.rint(values).astype(np.int64)
    lb = np.where(withheld, 0, vals)
    ub = np.where(withheld, INF, vals)
    if table.lower is not None:
        lb = np.where(withheld, np.maximum(lb, np.ceil(np.asarray(table.lower) - 1e-7)), lb)
    if table.upper is not None:
        up = np.asarray(table.upper, dtype=np.float64)
        ub = np.where(withheld & np.isfinite(up), np.minimum(ub, np.floor(np.where(np.isfinite(up), up, 0) + 1e-7)), ub)
    lb = np.ascontiguousarray(lb, dtype=np.int32)
    ub = np.ascontiguousarray(ub, dtype=np.int32)
    lbf, ubf = lb.reshape(-1), ub.reshape(-1)
    if table.equal_cells is not None and len(table.equal_cells):
        cells = np.asarray(table.equal_cells, dtype=np.int64)
        v = np.rint(np.asarray(table.equal_values, dtype=np.float64)).astype(np.int64)
        np.maximum.at(lbf, cells, v.astype(np.int32))
        np.minimum.at(ubf, cells, v.astype(np.int32))
    _check(lbf, ubf)
    col_parent, col_ptr, col_child = _column_relations(table.column_sums)
    inst_parent, inst_ptr, inst_child = _row_instances(table.row_sums, n)
    facts = _fact_system(table.facts, withheld.reshape(-1), vals.reshape(-1)) if table.facts else None
    dirty = np.ones(n, dtype=np.bool_)
    for _ in range(max_sweeps):
        bad = _sweeps(lb, ub, col_parent, col_ptr, col_child, inst_parent, inst_ptr, inst_child, dirty, max_sweeps)
        if bad >= 0:
            raise intervals.Infeasible(f"the published facts leave no value for entry {bad // w} × {bad % w} "
                                       "(lower bound above upper bound)")
        if facts is None:
            break
        moved = _propagate_facts(facts, lbf, ubf)
        if moved.size == 0:
            break
        dirty = np.zeros(n, dtype=np.bool_)
        dirty[moved // w] = True
    return lb, ub


def intervals_of(lb: np.ndarray, ub: np.ndarray, cells: np.ndarray) -> intervals.Intervals:
    """The propagated bounds of flat `cells`, as `intervals.Intervals` (floats, ∞ for none)."""
    lo = lb.reshape(-1)[cells].astype(np.float64)
    hi = ub.reshape(-1)[cells].astype(np.float64)
    hi[hi >= INF] = np.inf
    return intervals.Intervals(lo, hi)


def _check(lbf: np.ndarray, ubf: np.ndarray) -> None:
    bad = np.flatnonzero(lbf > ubf)
    if bad.size:
        raise intervals.Infeasible(f"the published facts leave no value for entry {int(bad[0])} (two facts disagree)")


def _column_relations(column_sums) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parents = np.array([int(c.parent) for c in column_sums], dtype=np.int64)
    sizes = np.array([len(c.children) for c in column_sums], dtype=np.int64)
    ptr = np.zeros(len(column_sums) + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    child = (np.concatenate([np.asarray(c.children, dtype=np.int64) for c in column_sums])
             if column_sums else np.zeros(0, dtype=np.int64))
    return parents, ptr, child


def _row_instances(row_sums, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (relation, parent row) with children, as parent rows and a children index."""
    parents, sizes, children = [], [], []
    for rel in row_sums:
        parent = np.asarray(rel.parent, dtype=np.int64)
        kids = np.flatnonzero(parent >= 0)
        if kids.size == 0:
            continue
        order = kids[np.argsort(parent[kids], kind="stable")]
        p, count = np.unique(parent[order], return_counts=True)
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
def _tighten(lbf, ubf, idx, k, w, moved_rows):  # pragma: no cover - compiled
    """idx[0] = Σ idx[1:k]; every term tightened by the others' range. Returns the flat
    index of an entry left with no value, or −1."""
    inf = 1 << 30
    smin = 0
    smax = 0
    nmin = 0
    nmax = 0
    for t in range(k):
        j = idx[t]
        if t == 0:  # the parent, coefficient −1: contributes [−ub, −lb]
            if ubf[j] >= inf:
                nmin += 1
            else:
                smin -= ubf[j]
            smax -= lbf[j]
        else:
            smin += lbf[j]
            if ubf[j] >= inf:
                nmax += 1
            else:
                smax += ubf[j]
    for t in range(k):
        j = idx[t]
        lo_j = np.int64(lbf[j])
        hi_j = np.int64(ubf[j])
        hi_inf = hi_j >= inf
        if t == 0:
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
        if t == 0:
            # −x ∈ [−o_max, −o_min]  ⇒  x ∈ [o_min, o_max]
            new_lo_inf, new_lo = o_min_inf, o_min
            new_hi_inf, new_hi = o_max_inf, o_max
        else:
            new_lo_inf, new_lo = o_max_inf, -o_max
            new_hi_inf, new_hi = o_min_inf, -o_min
        moved = False
        if not new_lo_inf and new_lo > lo_j:
            lbf[j] = new_lo
            lo_j = new_lo
            moved = True
        if not new_hi_inf and new_hi < hi_j:
            ubf[j] = new_hi
            hi_j = new_hi
            moved = True
        if moved:
            if lo_j > hi_j:
                return j
            moved_rows[j // w] = True
    return -1


@numba.njit(cache=True, nogil=True)
def _sweeps(lb, ub, col_parent, col_ptr, col_child, inst_parent, inst_ptr, inst_child, dirty, max_sweeps):  # pragma: no cover - compiled
    n, w = lb.shape
    lbf = lb.reshape(-1)
    ubf = ub.reshape(-1)
    longest = 1
    for k in range(col_parent.size):
        longest = max(longest, col_ptr[k + 1] - col_ptr[k] + 1)
    for i in range(inst_parent.size):
        longest = max(longest, inst_ptr[i + 1] - inst_ptr[i] + 1)
    idx = np.empty(longest, dtype=np.int64)
    for _ in range(max_sweeps):
        moved = np.zeros(n, dtype=np.bool_)
        for r in range(n):
            if not dirty[r]:
                continue
            for k in range(col_parent.size):
                idx[0] = r * w + col_parent[k]
                size = 1
                for e in range(col_ptr[k], col_ptr[k + 1]):
                    idx[size] = r * w + col_child[e]
                    size += 1
                bad = _tighten(lbf, ubf, idx, size, w, moved)
                if bad >= 0:
                    return bad
        for i in range(inst_parent.size):
            p = inst_parent[i]
            touched = dirty[p]
            if not touched:
                for e in range(inst_ptr[i], inst_ptr[i + 1]):
                    if dirty[inst_child[e]]:
                        touched = True
                        break
            if not touched:
                continue
            for c in range(w):
                idx[0] = p * w + c
                size = 1
                for e in range(inst_ptr[i], inst_ptr[i + 1]):
                    idx[size] = inst_child[e] * w + c
                    size += 1
                bad = _tighten(lbf, ubf, idx, size, w, moved)
                if bad >= 0:
                    return bad
        if not moved.any():
            return -1
        dirty[:] = moved
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
