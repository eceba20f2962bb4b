"""The structured propagator (estgeo.audit.structured) against the general one
(estgeo.audit.intervals.propagate): the same intervals on tables with every kind of
relation the density publishes, so the large builds are audited as strongly as the small."""

from __future__ import annotations

import numpy as np
import pytest

from estgeo.audit import intervals, structured, tables


def _random_table(seed: int, perturbed: bool):
    """Rows in three levels (a whole range over periods, each over child cells), columns
    total = a + b = c + d + e with a = c + d: consistent true counts, then either
    withheld at random (suppression) or all unknown with a random support (cell-key)."""
    rng = np.random.default_rng(seed)
    n_top = int(rng.integers(3, 12))
    n_mid = n_top * int(rng.integers(1, 4))
    n_leaf = n_mid * int(rng.integers(1, 4))
    n = n_top + n_mid + n_leaf
    mid_parent = rng.integers(0, n_top, n_mid)
    leaf_parent = n_top + rng.integers(0, n_mid, n_leaf)
    parent = np.concatenate([np.full(n_top, -1), mid_parent, leaf_parent])
    leaf = np.zeros((n_leaf, 4), dtype=np.int64)
    leaf[:, 0] = rng.integers(0, 4, n_leaf)  # c
    leaf[:, 1] = rng.integers(0, 3, n_leaf)  # d
    leaf[:, 2] = rng.integers(0, 3, n_leaf)  # b = e
    leaf[:, 3] = leaf[:, 2]
    values = np.zeros((n, 6), dtype=np.int64)  # total, a, b, c, d, e
    for i, r in enumerate(range(n_top + n_mid, n)):
        c, d, e = leaf[i, 0], leaf[i, 1], leaf[i, 3]
        values[r] = [c + d + e, c + d, e, c, d, e]
    for r in range(n - 1, n_top - 1, -1):
        values[parent[r]] += values[r]
    cols = [tables.ColumnSum("a + b", 0, np.array([1, 2])), tables.ColumnSum("c + d", 1, np.array([3, 4])),
            tables.ColumnSum("c + d + e", 0, np.array([3, 4, 5]))]
    rows = [tables.RowSum("child → parent", parent)]
    lower = np.zeros(values.shape)
    lower[:, 0] = (values[:, 0] > 0) * rng.integers(0, 2, n)  # existence bounds on some rows
    if perturbed:
        noise = rng.integers(-3, 4, values.shape)
        published = np.maximum(values + noise, 0)
        lo = np.maximum(published - 3, 0)
        hi = published + 3
        table = tables.CountTable(published.astype(np.float64), np.ones(values.shape, dtype=bool), cols, rows,
                                  lower=np.maximum(lower, lo), upper=hi.astype(np.float64))
    else:
        withheld = rng.random(values.shape) < 0.45
        table = tables.CountTable(values.astype(np.float64), withheld, cols, rows, lower=np.minimum(lower, values))
    return table, values


@pytest.mark.parametrize("perturbed", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_the_same_intervals_as_the_general_propagation(seed, perturbed):
    table, truth = _random_table(seed, perturbed)
    ts = tables.table_system(table)
    general = intervals.propagate(ts.system)
    lb, ub = structured.propagate_table(table)
    found = structured.intervals_of(lb, ub, ts.cells)
    assert np.array_equal(found.lo, general.lo)
    assert np.array_equal(found.hi, general.hi)
    # Sound: every true count is inside its interval.
    t = truth.ravel()[ts.cells]
    assert ((found.lo <= t) & (t <= found.hi)).all()


def test_facts_and_repeated_values_narrow_as_in_the_general_system():
    """Weeks 1 and 2 withheld under a published whole range of 7 with week 0 published as 1,
    and a published change of week 1 over week 0 of +1: week 1 is 2, so week 2 is 4."""
    values = np.array([[7.0], [1.0], [0.0], [0.0]])
    withheld = np.array([[False], [False], [True], [True]])
    table = tables.CountTable(values, withheld, row_sums=[tables.RowSum("week → all", np.array([-1, 0, 0, 0]))],
                              facts=[(np.array([2, 1]), np.array([1.0, -1.0]), 1.0)])
    lb, ub = structured.propagate_table(table)
    assert lb[:, 0].tolist() == [7, 1, 2, 4] and ub[:, 0].tolist() == [7, 1, 2, 4]
    general = intervals.propagate(tables.table_system(table).system)
    assert general.lo.tolist() == [2, 4] and general.hi.tolist() == [2, 4]
    table.equal_cells, table.equal_values = np.array([3]), np.array([3.0])
    with pytest.raises(intervals.Infeasible):
        structured.propagate_table(table)


@pytest.mark.parametrize("seed", range(20))
def test_redoing_the_pieces_that_changed_gives_the_fixed_point_of_the_whole(seed):
    """The protect rounds' shortcut: after a round withholds counts (their upper bounds
    gone) in a few pieces, redoing those pieces from the earlier fixed point gives what a
    propagation of the whole changed table gives, entry for entry — in the rows redone and
    in the rows kept."""
    table, _ = _random_table(seed, perturbed=True)
    lb, ub = structured.propagate_table(table)
    labels = structured.row_components(table.row_sums, table.values.shape[0])
    rng = np.random.default_rng(seed)
    changed = rng.choice(np.unique(labels), size=max(1, np.unique(labels).size // 3), replace=False)
    redo = np.isin(labels, changed)
    upper = table.upper.copy()
    hit = redo[:, None] & (rng.random(upper.shape) < 0.3)
    upper[hit] = np.inf  # withheld now: bounded by the existence of the row only
    lower = table.lower.copy()
    lower[hit] = 0.0
    table.upper, table.lower = upper, lower
    full_lb, full_ub = structured.propagate_table(table)
    kept, before_lb, before_ub = lb[~redo].copy(), lb.copy(), ub.copy()  # the arrays are updated in place
    inc_lb, inc_ub = structured.propagate_table(table, start=(lb, ub, redo))
    assert np.array_equal(inc_lb, full_lb) and np.array_equal(inc_ub, full_ub)
    assert np.array_equal(inc_lb[~redo], kept)
    assert hit.any()
    # Not vacuous: the change moves bounds the old fixed point had.
    if seed != 11:  # its changed entries are pinned by the relations either way
        assert not np.array_equal(inc_ub[redo], before_ub[redo]) or not np.array_equal(inc_lb[redo], before_lb[redo])


def test_a_redo_that_splits_a_piece_is_refused():
    table, _ = _random_table(3, perturbed=True)
    lb, ub = structured.propagate_table(table)
    redo = np.zeros(table.values.shape[0], dtype=bool)
    redo[-1] = True  # a leaf without its parent
    with pytest.raises(ValueError, match="split the pieces"):
        structured.propagate_table(table, start=(lb, ub, redo))


def test_the_pieces_are_the_rows_linked_by_row_relations():
    parent = np.array([-1, -1, 0, 0, 1, 2, -1])
    labels = structured.row_components([tables.RowSum("child → parent", parent)], 7)
    assert labels[0] == labels[2] == labels[3] == labels[5]
    assert labels[1] == labels[4]
    assert len({labels[0], labels[1], labels[6]}) == 3


@pytest.mark.parametrize("seed", range(10))
def test_exposed_cells_off_the_bounds_are_the_rule_on_the_intervals(seed):
    table, truth = _random_table(seed, perturbed=True)
    lb, ub = structured.propagate_table(table)
    n, w = truth.shape
    every = np.arange(n * w)
    rule = np.flatnonzero(tables.exposed(structured.intervals_of(lb, ub, every), 5, truth.ravel()))
    assert np.array_equal(structured.exposed_cells(lb, ub, truth, 5), rule)
    rows = np.arange(0, n, 2)
    assert np.array_equal(structured.exposed_cells(lb, ub, truth, 5, rows=rows), rule[np.isin(rule // w, rows)])
    if seed == 0:
        assert rule.size > 0


@pytest.mark.parametrize("perturbed", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_the_tally_is_the_rule_and_the_figures_on_the_intervals(seed, perturbed):
    """`tally` reads every figure of the audit report off the bounds in one pass; here each
    is recomputed the long way, from float intervals and masks, group by group."""
    table, truth = _random_table(seed, perturbed)
    lb, ub = structured.propagate_table(table)
    n, w = truth.shape
    rng = np.random.default_rng(seed)
    starts = np.array([0, n // 3, n // 3, n], dtype=np.int64)  # three groups, one empty
    published = np.asarray(table.values, dtype=np.float64)
    shown = rng.random(truth.shape) < 0.8
    averaged = np.where(rng.random(truth.shape) < 0.5, truth, truth + 1).astype(np.float64)
    for with_truth, chunk in ((True, 65_536), (False, 65_536), (True, 3)):  # chunk 3: a group's rows in runs
        tl = structured.tally(lb, ub, table.withheld, 5, starts, truth if with_truth else None,
                              published, shown, averaged if with_truth else None, chunk=chunk)
        cells = np.flatnonzero(table.withheld.ravel())
        found = structured.intervals_of(lb, ub, cells)
        t = truth.ravel()[cells]
        bad = tables.exposed(found, 5, t if with_truth else None)
        assert np.array_equal(tl.exposed_cells, cells[bad])
        sens = ((t >= 1) & (t <= 4)) if with_truth else np.ones(cells.size, dtype=bool)
        width = np.minimum(np.nan_to_num(found.width, posinf=99), 99).astype(int)
        for g in range(3):
            inside = (cells >= starts[g] * w) & (cells < starts[g + 1] * w)
            assert tl.withheld[g] == inside.sum() and tl.exposed[g] == (bad & inside).sum()
            assert tl.sensitive[g] == (sens & inside).sum() and tl.exact[g] == (sens & inside & (found.width == 0)).sum()
            assert np.array_equal(tl.widths[g], np.bincount(width[sens & inside], minlength=100))
            if with_truth:
                sh = shown.ravel()[cells] & inside
                pub = published.ravel()[cells]
                assert tl.shown[g] == sh.sum() and tl.abs_error[g] == pytest.approx(np.abs(pub - t)[sh].sum())
                assert tl.small_shown[g] == (sh & sens).sum() and tl.exact_published[g] == (sh & sens & (pub == t)).sum()
                assert tl.exact_averaged[g] == (sens & inside & (averaged.ravel()[cells] == t)).sum()
            else:
                assert tl.shown[g] == 0 and tl.exact_averaged[g] == 0
    assert tl.withheld[1] == 0 and tl.withheld.sum() == cells.size


def test_exact_bounds_written_back_read_as_they_were():
    table, _ = _random_table(2, perturbed=False)
    lb, ub = structured.propagate_table(table)
    cells = np.flatnonzero(table.withheld.ravel())
    found = structured.intervals_of(lb, ub, cells)
    tighter = intervals.Intervals(np.minimum(found.lo + 1, found.hi), found.hi)
    structured.set_bounds(lb, ub, cells, tighter)
    again = structured.intervals_of(lb, ub, cells)
    assert np.array_equal(again.lo, tighter.lo) and np.array_equal(again.hi, tighter.hi)


@pytest.mark.parametrize("seed", range(5))
def test_the_compiled_relation_index_and_pieces_are_numpys_and_scipys(seed):
    """`row_instances` (a counting sort) against a stable argsort with np.unique, and
    `row_components` (union-find) against scipy's connected components, on random forests
    of several relations over the same rows."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    n = 3000
    rels = []
    for name in ("a", "b", "c"):
        parent = np.full(n, -1)
        kids = rng.choice(n, size=n // 3, replace=False)
        parent[kids] = rng.integers(0, n, kids.size)
        parent[parent == np.arange(n)] = -1
        rels.append(tables.RowSum(name, parent))
    got_parent, got_ptr, got_child = structured.row_instances(rels, n)
    want_parent, want_sizes, want_child = [], [], []
    for rel in rels:
        kids = np.flatnonzero(rel.parent >= 0)
        order = kids[np.argsort(rel.parent[kids], kind="stable")]
        p, count = np.unique(rel.parent[order], return_counts=True)
        want_parent.append(p), want_sizes.append(count), want_child.append(order)
    assert got_parent.tolist() == np.concatenate(want_parent).tolist()
    assert np.diff(got_ptr).tolist() == np.concatenate(want_sizes).tolist()
    assert got_child.tolist() == np.concatenate(want_child).tolist()
    labels = structured.row_components(rels, n)
    i = np.concatenate([np.flatnonzero(r.parent >= 0) for r in rels])
    j = np.concatenate([r.parent[r.parent >= 0] for r in rels])
    want = connected_components(coo_matrix((np.ones(i.size), (i, j)), shape=(n, n)), directed=False)[1]
    # The same partition: each label of one is one label of the other.
    pairs = set(zip(labels.tolist(), want.tolist(), strict=True))
    assert len(pairs) == np.unique(labels).size == np.unique(want).size


def test_a_parent_with_one_child_is_swept_as_one_row_with_it():
    """`row_pieces`: a relation with one child says the parent equals it, so the two share
    a row of the piece's block and the relation itself is not swept; the rows of a chain
    of such relations meet in one row, with the tightest bounds of all of them."""
    parent = np.array([-1, 0, 1, -1, 3, 3])  # 0 = 1 = 2 (one child each); 3 = 4 + 5
    pieces = structured.row_pieces([tables.RowSum("child → parent", parent)], 6)
    slot = np.empty(6, dtype=np.int64)
    slot[pieces.rows] = pieces.slot
    piece = pieces.of_row
    assert piece[0] == piece[1] == piece[2] != piece[3] == piece[4] == piece[5]
    assert slot[0] == slot[1] == slot[2] and len({slot[3], slot[4], slot[5]}) == 3
    assert pieces.width[piece[0]] == 1 and pieces.width[piece[3]] == 3
    assert pieces.parent.size == 1  # only 3 = 4 + 5 is left to sweep
    # Row 0 published as 6, row 2 withheld in [5, 9], row 1 withheld in [0, 7]: all 6.
    values = np.array([[6.0], [0.0], [0.0], [5.0], [0.0], [0.0]])
    withheld = np.array([[False], [True], [True], [False], [True], [True]])
    lower = np.array([[0.0], [0.0], [5.0], [0.0], [1.0], [1.0]])
    upper = np.array([[np.inf], [7.0], [9.0], [np.inf], [np.inf], [np.inf]])
    table = tables.CountTable(values, withheld, row_sums=[tables.RowSum("child → parent", parent)],
                              lower=lower, upper=upper)
    lb, ub = structured.propagate_table(table, pieces=pieces)
    assert lb[:, 0].tolist() == [6, 6, 6, 5, 1, 1] and ub[:, 0].tolist() == [6, 6, 6, 5, 4, 4]
    general = intervals.propagate(tables.table_system(table).system)
    assert general.lo.tolist() == [6, 6, 1, 1] and general.hi.tolist() == [6, 6, 4, 4]
    lower[2, 0] = 7.0  # the chain cannot hold 7 and 6 at once
    with pytest.raises(intervals.Infeasible):
        structured.propagate_table(table, pieces=pieces)
