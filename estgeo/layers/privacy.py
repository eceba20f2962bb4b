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
once (a linear program per withheld count, with every bound the reader can know) could
in principle still narrow a count more than one relation allows; tests/test_privacy.py
runs exactly that attack on adversarial and random fixtures and pins down no withheld
non-zero count. Auditing a whole production table that way is too costly, so it is a
test, not a build step. `relation_violations` re-checks rules 1 and 2 on a finished
table. Gi* z-scores computed from the unsuppressed counts are a different channel,
discussed in `estgeo.layers.density`.

Cost: a relation whose parent count is below the threshold can never break (the parent
and every non-zero child are suppressed from the start), so only parents at or above
it are checked: all of them once, row by row, then only the (parent, column) pairs that
a new suppression touched, until none is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse


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
    matrix: sparse.csr_matrix = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parent = np.asarray(self.parent, dtype=np.int64)
        child = np.flatnonzero(self.parent >= 0)
        n = self.parent.size
        self.matrix = sparse.csr_matrix(
            (np.ones(child.size, dtype=np.int32), (self.parent[child], child)), shape=(n, n))
        self.matrix.sort_indices()
        self.has_children = np.diff(self.matrix.indptr) > 0


def primary_suppression(values: np.ndarray, min_count: int) -> np.ndarray:
    """Counts from 1 up to `min_count` − 1 (zeros are published)."""
    return (values > 0) & (values < min_count)


class _State:
    def __init__(self, values: np.ndarray, min_count: int):
        self.values = values
        self.min_count = min_count
        self.sup = primary_suppression(values, min_count)


def suppress_small_counts(values: np.ndarray, row_relations: list[RowRelation] = (),
                          column_relations: list[ColumnRelation] = (), min_count: int = 5,
                          total_column: int | None = None) -> np.ndarray:
    """Primary plus secondary suppression; a bool mask (rows × columns) of counts to withhold.

    `total_column`, when given, is a column no other count in its row exceeds (the row's
    total). Relations under a parent whose total is below the threshold can then be skipped:
    all their non-zero terms are suppressed from the start, so they can never break.
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    values = values.astype(np.int32, copy=False)
    state = _State(values, min_count)
    if min_count <= 1:
        return state.sup
    n_rows, width = values.shape
    large = values[:, total_column] >= min_count if total_column is not None else np.ones(n_rows, dtype=bool)
    # First pass: every relation, whole rows at a time. Later passes: only the relations a
    # new suppression touched, as (parent row, column) pairs, which is far less work.
    col_work = [np.flatnonzero(large) for _ in column_relations]
    new_rows, new_cols = [], []
    for f, rel in enumerate(column_relations):
        r, c = _check_columns(state, rel, col_work[f])
        _apply(state, r, c)
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
        touched_rows = np.unique(rows)
        for rel in column_relations:
            r, c = _check_columns(state, rel, touched_rows[large[touched_rows]])
            _apply(state, r, c)
            new_rows.append(r)
            new_cols.append(c)
        for rel in row_relations:
            parents = rel.parent[rows]
            as_child = parents >= 0
            as_parent = rel.has_children[rows]
            key = np.unique(np.concatenate([parents[as_child] * width + cols[as_child], rows[as_parent] * width + cols[as_parent]]))
            p, c = key // width, key % width
            keep = large[p]
            r, c = _check_row_pairs(state, rel, p[keep], c[keep])
            _apply(state, r, c)
            new_rows.append(r)
            new_cols.append(c)
    _withhold_zeros_beside(state, column_relations, total_column)
    return state.sup


def _withhold_zeros_beside(state: _State, column_relations: list[ColumnRelation], total_column: int | None) -> None:
    """Rule 3: in a row, once a term of a column relation is withheld, so are its zeros.

    Otherwise a reader knows every withheld count is at least 1, and with the many
    published zeros of a sparse table that lower bound pins counts down across relations
    (found by the linear-programming attack in tests/test_privacy.py). Relations are
    taken parent-first, so a withheld zero group also hides its zero categories.
    """
    rows = np.arange(state.sup.shape[0])
    if total_column is not None:
        # A withheld total touches every relation below it: withhold all the row's zeros at once.
        state.sup |= (state.values == 0) & state.sup[:, total_column: total_column + 1]
        rows = np.flatnonzero(~state.sup[:, total_column])
    for rel in column_relations:
        children = np.asarray(rel.children)
        touched = rows[state.sup[rows, rel.parent] | state.sup[np.ix_(rows, children)].any(axis=1)]
        state.sup[np.ix_(touched, children)] |= state.values[np.ix_(touched, children)] == 0


def _apply(state: _State, rows: np.ndarray, cols: np.ndarray) -> None:
    state.sup[rows, cols] = True


def _broken(state: _State, n_hidden, hidden_sum, parent_hidden) -> np.ndarray:
    single = (n_hidden + parent_hidden) == 1
    too_small = ~parent_hidden & (n_hidden >= 1) & (hidden_sum < state.min_count)
    return single | too_small


def _check_columns(state: _State, rel: ColumnRelation, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # As for rows: a parent count below the threshold cannot head a broken relation.
    rows = rows[state.values[rows, rel.parent] >= state.min_count]
    if rows.size == 0:
        return rows, rows
    children = np.asarray(rel.children)
    sup = state.sup[np.ix_(rows, children)]
    hidden = np.where(sup, state.values[np.ix_(rows, children)], 0)
    broken = _broken(state, sup.sum(axis=1), hidden.sum(axis=1), state.sup[rows, rel.parent])
    rows = rows[broken]
    if rows.size == 0:
        return rows, rows
    vals = state.values[np.ix_(rows, children)]
    candidate = ~sup[broken] & (vals > 0)
    pick = np.argmin(np.where(candidate, vals, np.iinfo(np.int32).max), axis=1)
    has = candidate.any(axis=1)
    no_child = rows[~has]
    no_child = no_child[~state.sup[no_child, rel.parent]]
    return (np.concatenate([rows[has], no_child]),
            np.concatenate([children[pick[has]], np.full(no_child.size, rel.parent, dtype=children.dtype)]))


def _check_rows(state: _State, rel: RowRelation, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if parents.size == 0:
        return parents, parents
    # Whole rows at a time: gathering contiguous rows and summing them with one sparse
    # product is several times faster than visiting (parent, column) pairs one by one.
    sub = rel.matrix[parents]
    sup = state.sup[sub.indices]
    n_hidden = _segment_sums(sup.astype(np.int32), sub.indptr)
    hidden_sum = _segment_sums(np.where(sup, state.values[sub.indices], 0), sub.indptr)
    broken = _broken(state, n_hidden, hidden_sum, state.sup[parents])
    p_idx, cols = np.nonzero(broken)
    if p_idx.size == 0:
        return p_idx, cols
    # The children of each broken (parent, column): expand the parent's CSR range.
    start, stop = sub.indptr[p_idx], sub.indptr[p_idx + 1]
    sizes = stop - start
    pair = np.repeat(np.arange(p_idx.size), sizes)
    offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    child = sub.indices[np.repeat(start, sizes) + offsets]
    col = cols[pair]
    vals = state.values[child, col]
    ok = ~state.sup[child, col] & (vals > 0)
    pair, child, vals = pair[ok], child[ok], vals[ok]
    order = np.lexsort((child, vals, pair))
    pair, child = pair[order], child[order]
    first = np.r_[True, pair[1:] != pair[:-1]] if pair.size else np.zeros(0, dtype=bool)
    picked_pair = pair[first]
    without = np.setdiff1d(np.arange(p_idx.size), picked_pair)
    parent_rows = parents[p_idx[without]]
    keep = ~state.sup[parent_rows, cols[without]]
    return (np.concatenate([child[first], parent_rows[keep]]),
            np.concatenate([cols[picked_pair], cols[without][keep]]))


def _check_row_pairs(state: _State, rel: RowRelation, parent: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The relations of the given (parent row, column) pairs only."""
    big = state.values[parent, cols] >= state.min_count  # smaller parents cannot break (see above)
    parent, cols = parent[big], cols[big]
    if parent.size == 0:
        return parent, cols
    start = rel.matrix.indptr[parent]
    sizes = rel.matrix.indptr[parent + 1] - start
    pair = np.repeat(np.arange(parent.size), sizes)
    offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    child = rel.matrix.indices[np.repeat(start, sizes) + offsets]
    col = cols[pair]
    child_sup = state.sup[child, col]
    child_val = state.values[child, col]
    n_hidden = np.bincount(pair, weights=child_sup, minlength=parent.size)
    hidden_sum = np.bincount(pair, weights=child_val * child_sup, minlength=parent.size)
    broken = _broken(state, n_hidden, hidden_sum, state.sup[parent, cols])
    if not broken.any():
        return parent[:0], cols[:0]
    ok = broken[pair] & ~child_sup & (child_val > 0)
    pair, child, vals = pair[ok], child[ok], child_val[ok]
    order = np.lexsort((child, vals, pair))
    pair, child = pair[order], child[order]
    first = np.r_[True, pair[1:] != pair[:-1]] if pair.size else np.zeros(0, dtype=bool)
    picked_pair = pair[first]
    without = np.setdiff1d(np.flatnonzero(broken), picked_pair)
    without = without[~state.sup[parent[without], cols[without]]]
    return np.concatenate([child[first], parent[without]]), np.concatenate([cols[picked_pair], cols[without]])


def _segment_sums(rows: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Column sums of consecutive row segments, as one sparse product (numpy's reduceat and
    cumsum along axis 0 are several times slower on tall, narrow arrays)."""
    n = rows.shape[0]
    summing = sparse.csr_matrix((np.ones(n, dtype=rows.dtype), np.arange(n), indptr), shape=(indptr.size - 1, n))
    return summing @ rows


def relation_violations(values: np.ndarray, suppressed: np.ndarray, row_relations: list[RowRelation] = (),
                        column_relations: list[ColumnRelation] = (), min_count: int = 5) -> list[str]:
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
    for rel in row_relations:
        parents = np.flatnonzero(rel.has_children)
        sub = rel.matrix[parents]
        report(rel.name, np.asarray(sub @ suppressed.astype(np.int32)), np.asarray(sub @ hidden), suppressed[parents])
    return problems
