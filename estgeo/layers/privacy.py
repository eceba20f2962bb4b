"""Small-count suppression for published tables of counts, with protection against differencing.

A published count below the threshold (`privacy.min_count`, default 5) could point at a
person, so it is withheld: **primary suppression**. Withholding alone is not enough when
the same table publishes sums: if a cell's total is 9 and its categories are 6, 2 and 1,
hiding only the 1 would let anyone get it back as 9 − 6 − 2, and hiding 2 and 1 still
tells that they add up to 3. **Secondary (complementary) suppression** withholds further
counts so that no suppressed count can be worked out from published ones.

The table is a matrix of counts, rows × columns, plus *relations*, additive constraints
"parent = sum of children", of two shapes:

* `ColumnRelation` — within every row, one column is the sum of some others (for the
  density layers: total = sum of category groups; group = sum of its categories; total =
  sum of the light conditions);
* `RowRelation` — in every column, a row is the sum of some other rows (an H3 cell = sum
  of its children one resolution finer; the whole range = sum of the weeks = sum of the
  months = sum of the lägesbild periods; a lägesbild period = sum of its ISO weeks).

Rules, applied to every relation (every parent, in every row or column) until none is
broken; each pass only suppresses more, so it ends:

1. A relation never has exactly one suppressed term, else that term is the difference of
   the others. When it has one, suppress one more child.
2. When the parent is published, the suppressed children's sum (which is then known)
   must be at least the threshold; else two 1s under a published total could be read off
   as "both are 1". When it is smaller, suppress one more child.

The child added is the smallest non-zero published one (the least information lost); if
there is none, the parent itself is suppressed, which moves the question one level up.
Zero counts are never chosen as complements (a zero reveals no one), but:

3. Within a row, once any term of a column relation is withheld, its zero terms are
   withheld too. A reader then cannot assume that a withheld count is at least 1, a
   lower bound that, over the many zeros of a sparse table, would pin counts down.
   (A withheld total is still known to be at least 1: its row exists.)

Limits: rules 1 and 2 hold relation by relation. A reader who combines all relations at
once, with every bound the reader can know (a published row is at least 1), narrows
counts much further: on the demo's sparse table 135,455 of 380,162 withheld counts from 1
to 4 stay known to within ±1 (31,377 exactly with rule 2 before it counted the existence
bound, 20,929 with it). `estgeo.audit` is that attacker; it runs in every build
(`estgeo privacy audit`), and with `privacy.rows: grid` (rows whose existence tells
nothing, `estgeo.layers.density.count_table`) the density builder feeds its findings back
here as `initial` complements until nothing is exposed. `relation_violations` re-checks
rules 1 and 2 on a finished table.

Cost: a relation whose parent count is below the threshold can never break (the parent
and every non-zero child are suppressed from the start), so only parents at or above
it are checked: all of them once, row by row, then only the (parent, column) pairs that
a new suppression touched, until none is left.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from scipy import sparse

from estgeo.layers import grouping


@dataclass
class ColumnRelation:
    """In every row: column `parent` = sum of columns `children`."""

    name: str
    parent: int
    children: np.ndarray


@dataclass
class RowRelation:
    """In every column: row p = sum of the rows r with ``parent[r] == p`` (−1: none)."""

    name: str
    parent: np.ndarray

    def __post_init__(self) -> None:
        self.parent = np.ascontiguousarray(self.parent, dtype=np.int64)
        # Children of each row in CSR form (int64, ascending), as the compiled checks take them.
        self.indptr, self.children = _children_csr(self.parent)
        self.has_children = self.indptr[1:] > self.indptr[:-1]

    @functools.cached_property
    def matrix(self) -> sparse.csr_matrix:
        """Parent × child summing matrix (for audits; the suppression itself does not need it)."""
        n = self.parent.size
        matrix = sparse.csr_matrix((np.ones(self.children.size, dtype=np.int32), self.children, self.indptr), shape=(n, n))
        matrix.has_sorted_indices = True  # children are placed in row order
        return matrix


@numba.njit(nogil=True, cache=True)
def _children_csr(parent):  # pragma: no cover - compiled
    """CSR pointers and column indices of the parent → children matrix, children ascending
    (a counting sort; scipy's COO → CSR conversion does the same with more passes)."""
    n = parent.size
    indptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        if parent[r] >= 0:
            indptr[parent[r] + 1] += 1
    for p in range(n):
        indptr[p + 1] += indptr[p]
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[n], dtype=np.int64)
    for r in range(n):
        p = parent[r]
        if p >= 0:
            indices[fill[p]] = r
            fill[p] += 1
    return indptr, indices


def stand_in(min_count: int) -> float:
    """What a statistic computed for publication uses for a withheld count: min_count / 2,
    the middle of what a reader can assume, so the statistic gives the count away no more
    than the published counts do (lighting scores, Gi*; the audit recomputes Gi* with it)."""
    return min_count / 2.0


def primary_suppression(values: np.ndarray, min_count: int) -> np.ndarray:
    """Counts from 1 up to `min_count` − 1 (zeros are published)."""
    values = np.asarray(values)
    if values.dtype != np.int32 or not values.flags.c_contiguous:
        return (values > 0) & (values < min_count)
    # One compiled pass instead of three whole-table temporaries.
    return _between(values.reshape(-1), 1, min_count).reshape(values.shape)


@numba.njit(nogil=True, cache=True)
def _between(values, low, high):  # pragma: no cover - compiled
    out = np.empty(values.size, dtype=np.bool_)
    for i in range(values.size):
        out[i] = low <= values[i] < high
    return out


class _State:
    def __init__(self, values: np.ndarray, min_count: int, initial: np.ndarray | None = None):
        self.values = values
        self.min_count = min_count
        self.sup = primary_suppression(values, min_count)
        if initial is not None:
            self.sup |= initial
        #: What the existence of each row tells about its total (rule 2), 0 or 1 per row.
        self.lower = np.zeros(values.shape[0], dtype=np.int8)


def suppress_small_counts(values: np.ndarray, row_relations: Sequence[RowRelation] = (),
                          column_relations: Sequence[ColumnRelation] = (), min_count: int = 5,
                          total_column: int | None = None, initial: np.ndarray | None = None,
                          lower: np.ndarray | None = None) -> np.ndarray:
    """Primary plus secondary suppression; a bool mask (rows × columns) of counts to withhold.

    `initial`: counts already withheld (by an earlier pass, or the audit's complements);
    the rules then start from them. `lower` (per row, 0 or 1): what the existence of the
    row tells about its total (column 0), which rule 2 then takes into account.

    `total_column`, when given, is a column no other count in its row exceeds (the row's
    total). Relations under a parent whose total is below the threshold can then be skipped:
    all their non-zero terms are suppressed from the start, so they can never break.
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    values = values.astype(np.int32, copy=False)
    state = _State(values, min_count, initial)
    if min_count <= 1:
        return state.sup
    state.lower = (np.zeros(values.shape[0], dtype=np.int8) if lower is None
                   else np.ascontiguousarray(lower, dtype=np.int8))
    n_rows, width = values.shape
    large = values[:, total_column] >= min_count if total_column is not None else np.ones(n_rows, dtype=bool)
    # First pass: every relation, whole rows at a time. Later passes: only the relations a
    # new suppression touched, as (parent row, column) pairs, which is far less work.
    new_rows, new_cols = [], []
    r, c = _check_columns(state, column_relations, np.flatnonzero(large))
    new_rows.append(r)
    new_cols.append(c)
    for rel in row_relations:
        r, c = _check_rows(state, rel, np.flatnonzero(rel.has_children & large))
        _apply(state, r, c)
        new_rows.append(r)
        new_cols.append(c)
    while True:
        rows, cols = np.concatenate(new_rows), np.concatenate(new_cols)
        if rows.size == 0:
            break
        new_rows, new_cols = [], []
        # Whatever relation holds a new suppression, as child or as parent, is checked again.
        touched_rows = grouping.unique(rows)
        r, c = _check_columns(state, column_relations, touched_rows[large[touched_rows]])
        new_rows.append(r)
        new_cols.append(c)
        for rel in row_relations:
            parents = rel.parent[rows]
            as_child = parents >= 0
            as_parent = rel.has_children[rows]
            key = grouping.unique(np.concatenate([parents[as_child] * width + cols[as_child], rows[as_parent] * width + cols[as_parent]]))
            p, c = key // width, key % width
            keep = large[p]
            r, c = _check_row_pairs(state, rel, p[keep], c[keep])
            _apply(state, r, c)
            new_rows.append(r)
            new_cols.append(c)
    _withhold_zeros_beside(state, column_relations, total_column)
    return state.sup


def _withhold_zeros_beside(state: _State, column_relations: Sequence[ColumnRelation], total_column: int | None) -> None:
    """Rule 3: in a row, once a term of a column relation is withheld, so are its zeros.

    Otherwise a reader knows every withheld count is at least 1, and with the many
    published zeros of a sparse table that lower bound pins counts down across relations
    (found by the linear-programming attack in tests/layers/test_privacy.py). Relations are
    taken parent-first, so a withheld zero group also hides its zero categories.
    """
    parents, ptr, children = _flatten(column_relations)
    _zeros_beside(state.values, state.sup, -1 if total_column is None else total_column, parents, ptr, children)


def _flatten(column_relations: Sequence[ColumnRelation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column relations as arrays a compiled kernel takes: parents, CSR pointers, children."""
    parents = np.array([rel.parent for rel in column_relations], dtype=np.int64)
    sizes = [len(rel.children) for rel in column_relations]
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    children = (np.concatenate([np.asarray(rel.children, dtype=np.int64) for rel in column_relations])
                if column_relations else np.zeros(0, dtype=np.int64))
    return parents, ptr, children


@numba.njit(nogil=True, cache=True)
def _zeros_beside(values, sup, total, parents, ptr, children):  # pragma: no cover - compiled
    """Row by row (rows are independent): a withheld total hides all the row's zeros;
    otherwise each relation, in order, hides its zero children once any term is withheld."""
    for r in range(values.shape[0]):
        if total >= 0 and sup[r, total]:
            for j in range(values.shape[1]):
                if values[r, j] == 0:
                    sup[r, j] = True
            continue
        for f in range(parents.size):
            touched = sup[r, parents[f]]
            for k in range(ptr[f], ptr[f + 1]):
                touched = touched or sup[r, children[k]]
            if touched:
                for k in range(ptr[f], ptr[f + 1]):
                    if values[r, children[k]] == 0:
                        sup[r, children[k]] = True


def _apply(state: _State, rows: np.ndarray, cols: np.ndarray) -> None:
    state.sup[rows, cols] = True


# The checks below read the state as it was before the check and return the counts to
# suppress next; the caller applies them all at once. Compiled, they visit each relation
# once, where whole-array numpy needs several passes and temporaries over the table.
@numba.njit(inline="always")
def _is_broken(n_hidden, hidden_sum, parent_hidden, min_count, n_lower=0):  # pragma: no cover - compiled
    """Rule 1 (exactly one withheld term) or rule 2 (withheld children of a published parent
    sum below the threshold, or leave less than ``min_count − 2`` above their known lower
    bounds: `n_lower` children are known to be at least 1)."""
    return (n_hidden + parent_hidden) == 1 or (not parent_hidden and n_hidden >= 1 and (
        hidden_sum < min_count or hidden_sum - n_lower < min_count - 2))


@numba.njit(inline="always")
def _push(out_r, out_c, n, r, c):  # pragma: no cover - compiled
    if n == out_r.size:
        grown_r = np.empty(2 * n + 16, dtype=np.int64)
        grown_c = np.empty(2 * n + 16, dtype=np.int64)
        grown_r[:n] = out_r
        grown_c[:n] = out_c
        out_r, out_c = grown_r, grown_c
    out_r[n] = r
    out_c[n] = c
    return out_r, out_c, n + 1


def _check_columns(state: _State, column_relations: Sequence[ColumnRelation], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and repair every column relation, in order, in the given rows; the counts
    suppressed. A column relation involves one row only, so taking the rows one at a time
    (each relation seeing the ones before it applied) is the same as taking the relations
    one at a time over all rows, and reads the table once instead of once per relation."""
    if not column_relations:
        return rows[:0], rows[:0]
    parents, ptr, children = _flatten(column_relations)
    return _column_checks(state.values, state.sup, np.asarray(rows, dtype=np.int64), parents, ptr, children, state.min_count)


@numba.njit(nogil=True, cache=True)
def _column_checks(values, sup, rows, parents, ptr, children, min_count):  # pragma: no cover - compiled
    """Per row and relation: when broken, suppress its smallest published non-zero child
    (the first, on a tie), else its parent."""
    out_r = np.empty(0, dtype=np.int64)
    out_c = np.empty(0, dtype=np.int64)
    n = 0
    for r in rows:
        for f in range(parents.size):
            parent = parents[f]
            # As for rows: a parent count below the threshold cannot head a broken relation.
            if values[r, parent] < min_count:
                continue
            n_hidden = 0
            hidden_sum = 0
            for k in range(ptr[f], ptr[f + 1]):
                if sup[r, children[k]]:
                    n_hidden += 1
                    hidden_sum += values[r, children[k]]
            parent_hidden = sup[r, parent]
            if not _is_broken(n_hidden, hidden_sum, parent_hidden, min_count):
                continue
            best = -1
            for k in range(ptr[f], ptr[f + 1]):
                ch = children[k]
                if not sup[r, ch] and values[r, ch] > 0 and (best < 0 or values[r, ch] < values[r, best]):
                    best = ch
            if best < 0 and parent_hidden:
                continue
            pick = best if best >= 0 else parent
            sup[r, pick] = True
            out_r, out_c, n = _push(out_r, out_c, n, r, pick)
    return out_r[:n], out_c[:n]


def _check_rows(state: _State, rel: RowRelation, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The relations of whole parent rows, every column."""
    return _row_checks(state.values, state.sup, np.asarray(parents, dtype=np.int64), rel.indptr, rel.children, state.min_count,
                       state.lower)


@numba.njit(nogil=True, cache=True)
def _row_checks(values, sup, parents, indptr, indices, min_count, lower):  # pragma: no cover - compiled
    """As `_column_checks`, for row relations: child rows are summed a whole row at a
    time (contiguous memory), then each broken column picks its smallest published
    non-zero child (the lowest row, on a tie), else its parent."""
    width = values.shape[1]
    out_r = np.empty(0, dtype=np.int64)
    out_c = np.empty(0, dtype=np.int64)
    n = 0
    n_hidden = np.zeros(width, dtype=np.int64)
    hidden_sum = np.zeros(width, dtype=np.int64)
    for p in parents:
        n_hidden[:] = 0
        hidden_sum[:] = 0
        n_lower = 0
        for k in range(indptr[p], indptr[p + 1]):
            ch = indices[k]
            if sup[ch, 0]:
                n_lower += lower[ch]
            for c in range(width):
                if sup[ch, c]:
                    n_hidden[c] += 1
                    hidden_sum[c] += values[ch, c]
        for c in range(width):
            # What a row's existence tells bounds its total (column 0) from below.
            if _is_broken(n_hidden[c], hidden_sum[c], sup[p, c], min_count, n_lower if c == 0 else 0):
                out_r, out_c, n = _pick(values, sup, indptr, indices, p, c, out_r, out_c, n)
    return out_r[:n], out_c[:n]


@numba.njit(inline="always")
def _pick(values, sup, indptr, indices, p, c, out_r, out_c, n):  # pragma: no cover - compiled
    best = -1
    for k in range(indptr[p], indptr[p + 1]):
        ch = indices[k]
        if not sup[ch, c] and values[ch, c] > 0 and (best < 0 or values[ch, c] < values[best, c]):
            best = ch
    if best >= 0:
        return _push(out_r, out_c, n, best, c)
    if not sup[p, c]:
        return _push(out_r, out_c, n, p, c)
    return out_r, out_c, n


def _check_row_pairs(state: _State, rel: RowRelation, parent: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The relations of the given (parent row, column) pairs only."""
    return _row_pair_checks(state.values, state.sup, np.asarray(parent, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                            rel.indptr, rel.children, state.min_count, state.lower)


@numba.njit(nogil=True, cache=True)
def _row_pair_checks(values, sup, parent, cols, indptr, indices, min_count, lower):  # pragma: no cover - compiled
    out_r = np.empty(0, dtype=np.int64)
    out_c = np.empty(0, dtype=np.int64)
    n = 0
    for i in range(parent.size):
        p, c = parent[i], cols[i]
        if values[p, c] < min_count:  # smaller parents cannot break (see the module docstring)
            continue
        n_hidden = 0
        hidden_sum = 0
        n_lower = 0
        for k in range(indptr[p], indptr[p + 1]):
            if sup[indices[k], c]:
                n_hidden += 1
                hidden_sum += values[indices[k], c]
                n_lower += lower[indices[k]]
        if _is_broken(n_hidden, hidden_sum, sup[p, c], min_count, n_lower if c == 0 else 0):
            out_r, out_c, n = _pick(values, sup, indptr, indices, p, c, out_r, out_c, n)
    return out_r[:n], out_c[:n]


def relation_violations(values: np.ndarray, suppressed: np.ndarray, row_relations: Sequence[RowRelation] = (),
                        column_relations: Sequence[ColumnRelation] = (), min_count: int = 5) -> list[str]:
    """The relations that break rule 1 or 2 (see the module docstring); empty when all hold.

    Zeros withheld by rule 3 are left out: getting one back by subtraction reveals a 0,
    which a published zero would have told anyway.
    """
    values = np.asarray(values)
    suppressed = np.asarray(suppressed)
    if values.ndim == 1:
        values, suppressed = values[:, None], suppressed[:, None]
    suppressed = suppressed & (values > 0)
    hidden = np.where(suppressed, values, 0)
    problems = []

    def report(name, n_hidden, hidden_sum, parent_hidden):
        single = (n_hidden + parent_hidden) == 1
        small = ~parent_hidden & (n_hidden >= 1) & (hidden_sum < min_count)
        if single.any():
            problems.append(f"{name}: {int(single.sum())} relation(s) with one suppressed count")
        if small.any():
            problems.append(f"{name}: {int(small.sum())} relation(s) whose suppressed counts sum below {min_count}")

    for rel in column_relations:
        ch = np.asarray(rel.children)
        report(rel.name, suppressed[:, ch].sum(axis=1), hidden[:, ch].sum(axis=1), suppressed[:, rel.parent])
    for row_rel in row_relations:
        parents = np.flatnonzero(row_rel.has_children)
        sub = row_rel.matrix[parents]
        report(row_rel.name, np.asarray(sub @ suppressed.astype(np.int32)), np.asarray(sub @ hidden), suppressed[parents])
    return problems
