"""A published table of counts as the attacker's linear system, and what it exposes.

A `CountTable` is what one reads off published collections: a matrix of counts (rows ×
columns) where some entries are withheld, the additive relations between them (within a
row: total = Σ groups = Σ light conditions, group = Σ its categories; between rows:
parent cell = Σ child cells, whole range = Σ weeks = Σ months = Σ lägesbild periods,
lägesbild period = Σ its weeks), the lower bounds that the existence of a row implies
(a row is published only when its count is ≥ 1, so a withheld total is ≥ 1; a row that
is absent is a known 0, so it simply is not a term), and facts published elsewhere
(another collection repeating a value, a change = count − previous count).

`table_system` turns that into an `intervals.System` over the withheld entries, and
`exposed` applies the protection rule: a withheld value whose feasible interval is
narrower than ``min_count − 2`` while it admits a count from 1 to ``min_count − 1`` is
exposed. With the default threshold 5 an attacker must not be able to tell 1 from 4:
the interval a lone withheld count has ([1, 4]) is the narrowest allowed. The rule needs
no true values (the attacker has none), so the build and `estgeo privacy audit` apply
the same one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from estgeo.audit import intervals, structured


@dataclass
class ColumnSum:
    """In every row: column `parent` = Σ columns `children`."""

    name: str
    parent: int
    children: np.ndarray


@dataclass
class RowSum:
    """In every column: row p = Σ rows r with ``parent[r] == p`` (−1: none)."""

    name: str
    parent: np.ndarray


@dataclass
class CountTable:
    values: np.ndarray  # rows × columns; what is published (withheld entries: anything)
    withheld: np.ndarray  # rows × columns, bool
    column_sums: list[ColumnSum] = field(default_factory=list)
    row_sums: list[RowSum] = field(default_factory=list)
    lower: np.ndarray | None = None  # rows × columns: known lower bound of a withheld entry (default 0)
    row_label: np.ndarray | None = None  # rows: how a report names the row
    column_names: list[str] | None = None
    #: Other published facts: (cells, coefficients, value) meaning Σ coef · entry = value, cells flat (row·W + col).
    facts: list[tuple[np.ndarray, np.ndarray, float]] = field(default_factory=list)
    #: The same facts in bulk: entry cell = value (another collection repeating a count).
    equal_cells: np.ndarray | None = None
    equal_values: np.ndarray | None = None
    upper: np.ndarray | None = None  # rows × columns: known upper bound (default none; a perturbed count's support)

    @property
    def width(self) -> int:
        return self.values.shape[1]


@dataclass
class Terms:
    """Every relation instance with at least one withheld term, as COO over table cells."""

    con: np.ndarray
    cell: np.ndarray  # flat cell index row * W + column
    coef: np.ndarray
    names: list[str]
    con_relation: np.ndarray  # relation (index into names) of each constraint


def relation_terms(table: CountTable) -> Terms:
    """The relations that hold a withheld entry, with all their terms (published ones too)."""
    hidden = table.withheld
    n, w = hidden.shape
    cons, cells, coefs, rel_of = [], [], [], []
    names: list[str] = []
    n_cons = 0
    hidden_i = hidden.astype(np.int32)
    for rel in table.column_sums:
        cols = np.concatenate([[rel.parent], np.asarray(rel.children, dtype=np.int64)])
        rows = np.flatnonzero(hidden[:, cols].any(axis=1))
        if rows.size == 0:
            continue
        con = n_cons + np.repeat(np.arange(rows.size), cols.size)
        cell = (rows[:, None] * w + cols[None, :]).ravel()
        coef = np.tile(np.r_[-1.0, np.ones(cols.size - 1)], rows.size)
        cons.append(con)
        cells.append(cell)
        coefs.append(coef)
        rel_of.append(np.full(rows.size, len(names)))
        names.append(rel.name)
        n_cons += rows.size
    for row_rel in table.row_sums:
        parent = np.asarray(row_rel.parent, dtype=np.int64)
        child = np.flatnonzero(parent >= 0)
        if child.size == 0:
            continue
        summing = sparse.csr_matrix((np.ones(child.size, dtype=np.int32), (parent[child], child)), shape=(n, n))
        relevant = (np.asarray(summing @ hidden_i) > 0) | (hidden & (np.diff(summing.indptr) > 0)[:, None])
        flat = np.flatnonzero(relevant.ravel())
        if flat.size == 0:
            continue
        # Parent terms.
        con_p = n_cons + np.arange(flat.size)
        # Child terms: every (child row, column) whose parent instance is relevant.
        c_rows, c_cols = np.nonzero(relevant[parent[child]])
        c_rows = child[c_rows]
        inst = np.searchsorted(flat, parent[c_rows] * w + c_cols)
        cons.append(np.concatenate([con_p, n_cons + inst]))
        cells.append(np.concatenate([flat, c_rows * w + c_cols]))
        coefs.append(np.concatenate([np.full(flat.size, -1.0), np.ones(c_rows.size)]))
        rel_of.append(np.full(flat.size, len(names)))
        names.append(row_rel.name)
        n_cons += flat.size
    if not cons:
        z = np.zeros(0, dtype=np.int64)
        return Terms(z, z, np.zeros(0), names, z)
    return Terms(np.concatenate(cons), np.concatenate(cells), np.concatenate(coefs), names, np.concatenate(rel_of))


@dataclass
class TableSystem:
    system: intervals.System
    cells: np.ndarray  # flat table cell of each variable
    terms: Terms


def table_system(table: CountTable) -> TableSystem:
    hidden = table.withheld.ravel()
    values = np.asarray(table.values, dtype=np.float64).ravel()
    cells = np.flatnonzero(hidden)
    var_of = np.full(hidden.size, -1, dtype=np.int64)
    var_of[cells] = np.arange(cells.size)
    lower = np.zeros(cells.size) if table.lower is None else np.asarray(table.lower, dtype=np.float64).ravel()[cells]
    upper = None if table.upper is None else np.asarray(table.upper, dtype=np.float64).ravel()[cells]
    if upper is not None:
        upper[upper >= structured.INF] = np.inf  # int bounds (a cell-key view's): INF is none
    builder = intervals.SystemBuilder(cells.size, lb=lower, ub=upper)
    terms = relation_terms(table)
    m = int(terms.con.max()) + 1 if terms.con.size else 0
    is_var = var_of[terms.cell] >= 0
    # Published terms move to the right-hand side: Σ coef · x = −Σ coef · published.
    rhs = -np.bincount(terms.con[~is_var], weights=terms.coef[~is_var] * values[terms.cell[~is_var]], minlength=m)
    builder.add(terms.con[is_var], var_of[terms.cell[is_var]], terms.coef[is_var], rhs, rhs)
    for fact_cells, fact_coef, value in table.facts:
        fact_cells = np.asarray(fact_cells, dtype=np.int64)
        fact_coef = np.asarray(fact_coef, dtype=np.float64)
        v = var_of[fact_cells]
        if (v < 0).all():
            continue
        rhs1 = value - float(np.sum(fact_coef[v < 0] * values[fact_cells[v < 0]]))
        builder.add(np.zeros(int((v >= 0).sum()), dtype=np.int64), v[v >= 0], fact_coef[v >= 0], np.array([rhs1]), np.array([rhs1]))
    if table.equal_cells is not None and table.equal_cells.size:
        v = var_of[np.asarray(table.equal_cells, dtype=np.int64)]
        builder.fix(v[v >= 0], np.asarray(table.equal_values, dtype=np.float64)[v >= 0])
    return TableSystem(builder.build(), cells, terms)


#: Above this many unknowns the exact stage (LP/ILP on the small pieces) is not run: it
#: needs the general system, about 600 bytes per unknown (privacy.audit_max_values).
LP_MAX_UNKNOWNS = 20_000_000


@dataclass
class Audited:
    cells: np.ndarray  # flat table cell of each unknown (the withheld entries)
    found: intervals.Intervals
    #: The general system, when the exact stage built it (None above `lp_max_unknowns`).
    system: TableSystem | None = None
    #: Why the exact stage did not run, if it did not.
    not_exact: str = ""


@dataclass
class AuditedBounds:
    #: Bounds of every entry as `structured.propagate_table` returns them (int32, rows ×
    #: columns views of column-major arrays; `structured.INF`: none), after the exact stage.
    lb: np.ndarray
    ub: np.ndarray
    system: TableSystem | None = None
    not_exact: str = ""


def audit_bounds(table: CountTable, lp_max_vars: int = 60, ilp_max_vars: int = 12,
                 lp_max_unknowns: int = LP_MAX_UNKNOWNS) -> AuditedBounds:
    """Bound propagation on the table as it is (`structured`: 8 bytes per entry, so a
    1,000,000-incident build's 128 million counts fit), then LP/ILP on the small pieces
    through the general system where it fits, written back into the bounds.
    In a cell-key table every count is an unknown and the relations link nearly all of
    them into one piece, so the exact stage has little to add there beyond propagation."""
    lb, ub = structured.propagate_table(table)
    if lp_max_vars < 2:
        return AuditedBounds(lb, ub)
    unknowns = int(np.count_nonzero(table.withheld))
    if unknowns > lp_max_unknowns:
        return AuditedBounds(lb, ub, None, f"{unknowns:,} unknowns, more than privacy.audit_max_values "
                                           f"({lp_max_unknowns:,}): bound propagation only, no LP/ILP")
    cells = np.flatnonzero(np.asarray(table.withheld).ravel())
    ts = table_system(table)
    found = intervals.tighten(ts.system, structured.intervals_of(lb, ub, cells), lp_max_vars, ilp_max_vars)
    structured.set_bounds(lb, ub, cells, found)
    return AuditedBounds(lb, ub, ts)


def audit_intervals(table: CountTable, lp_max_vars: int = 60, ilp_max_vars: int = 12,
                    lp_max_unknowns: int = LP_MAX_UNKNOWNS) -> Audited:
    """Feasible intervals of the withheld entries (`audit_bounds`), as floats."""
    audited = audit_bounds(table, lp_max_vars, ilp_max_vars, lp_max_unknowns)
    cells = np.flatnonzero(np.asarray(table.withheld).ravel())
    return Audited(cells, structured.intervals_of(audited.lb, audited.ub, cells), audited.system, audited.not_exact)


def exposed(found: intervals.Intervals, min_count: int, truth: np.ndarray | None = None) -> np.ndarray:
    """The protection rule (module docstring), per variable.

    With the true values (the build has them, and `estgeo privacy audit` recomputes them
    from the store), the rule protects the sensitive counts, 1 to ``min_count − 1``, as
    statistical offices audit their tables (τ-ARGUS's protection intervals apply to the
    primary cells); a withheld 0 narrowed to [0, 2] reveals no one. Without them, every
    withheld value that could be such a count is held to it.
    """
    need = max(min_count - 2, 1)
    narrow = found.width < need
    if truth is not None:
        return narrow & (truth >= 1) & (truth <= min_count - 1)
    return narrow & (found.hi >= 1) & (found.lo <= min_count - 1)


def complements(table: CountTable, exposed_cells: np.ndarray, max_hops: int = 8,
                twice: np.ndarray | None = None) -> np.ndarray:
    """Flat cells to withhold next so the exposed values widen: for each exposed value, the
    smallest published non-zero term (a child before a parent) of the relations that hold
    it — one per value, the least information lost. Where every term of those relations
    is withheld already, the search goes on through the relations of the withheld terms
    (up to `max_hops` relations away), since it is there that the value is pinned.
    The rules of `estgeo.layers.privacy` then make the new withholding consistent, and
    the audit runs again. Cells in `twice` (exposed again after a complement) get the
    best term of two relations: on the demo that took the rounds from 8 to 3
    (343 complements to 271). `exposed_cells`: flat cells, withheld in `table`; only the
    relations holding a withheld entry are searched (`relation_terms`)."""
    terms = relation_terms(table)
    hidden = table.withheld.ravel()
    values = np.asarray(table.values).ravel()
    m = int(terms.con.max()) + 1 if terms.con.size else 0
    if m == 0 or len(exposed_cells) == 0:
        return np.zeros(0, dtype=np.int64)
    candidate = ~hidden[terms.cell] & (values[terms.cell] > 0)
    # Best candidate of each relation: smallest value, a child (coef +1) before the parent.
    key = np.full(terms.cell.size, np.inf)
    key[candidate] = values[terms.cell[candidate]] + np.where(terms.coef[candidate] < 0, 0.5, 0.0)
    order = np.lexsort((key, terms.con))
    first = np.r_[True, terms.con[order][1:] != terms.con[order][:-1]]
    best_key = np.full(m, np.inf)
    best_cell = np.full(m, -1, dtype=np.int64)
    best_key[terms.con[order][first]] = key[order][first]
    best_cell[terms.con[order][first]] = terms.cell[order][first]
    # Entries by cell, to find each withheld cell's relations.
    by_cell = np.argsort(terms.cell, kind="stable")
    sorted_cells = terms.cell[by_cell]
    cell_ptr_cells, cell_ptr = np.unique(sorted_cells, return_index=True)
    cell_end = np.r_[cell_ptr[1:], sorted_cells.size]
    by_con = np.argsort(terms.con, kind="stable")
    con_ptr = np.searchsorted(terms.con[by_con], np.arange(m + 1))

    def relations_of(cell: int) -> np.ndarray:
        i = np.searchsorted(cell_ptr_cells, cell)
        if i >= cell_ptr_cells.size or cell_ptr_cells[i] != cell:
            return np.zeros(0, dtype=np.int64)
        return terms.con[by_cell[cell_ptr[i]: cell_end[i]]]

    chosen: set[int] = set()
    again = set() if twice is None else set(np.asarray(twice).tolist())
    for start_cell in np.unique(np.asarray(exposed_cells, dtype=np.int64)).tolist():
        # Breadth first from the exposed value through withheld terms, until a relation
        # with something to withhold is reached; the best one at that distance wins.
        frontier, seen_cells, seen_cons = [start_cell], {start_cell}, set()
        for _ in range(max_hops):
            cons = np.unique(np.concatenate([relations_of(c) for c in frontier])) if frontier else np.zeros(0, dtype=np.int64)
            cons = np.array([c for c in cons.tolist() if c not in seen_cons], dtype=np.int64)
            if cons.size == 0:
                break
            seen_cons.update(cons.tolist())
            k = best_key[cons]
            if np.isfinite(k).any():
                ranked = np.argsort(k, kind="stable")
                picks = 2 if start_cell in again else 1
                chosen.update(int(best_cell[cons[i]]) for i in ranked[:picks] if np.isfinite(k[i]))
                break
            nxt = []
            for c in cons.tolist():
                for e in by_con[con_ptr[c]: con_ptr[c + 1]].tolist():
                    cell = int(terms.cell[e])
                    if hidden[cell] and cell not in seen_cells:
                        seen_cells.add(cell)
                        nxt.append(cell)
            frontier = nxt
    return np.array(sorted(chosen), dtype=np.int64)
