"""Small-count suppression and protection against differencing (estgeo.layers.privacy).

The adversarial tests attack the *published* layers the way a reader could: they rebuild
every additive relation from the published rows alone (category split vs group vs total,
light split vs total, H3 children vs parent, weeks/months/lägesbild periods vs the whole
range, weeks vs their lägesbild period) and try to recover withheld counts, first by
subtraction chains, then by linear programming over all relations at once.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import defaultdict

import h3
import numpy as np
import pandas as pd
import pyproj
import pytest
from scipy import sparse
from scipy.optimize import linprog

from estgeo.config import load_settings
from estgeo.layers import density, privacy
from estgeo.layers.context import BuildContext

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

TO_3006 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3006", always_xy=True)
MIN_COUNT = 5


def settings_for(tmp_path, resolutions=(7, 8, 9, 10)):
    settings = load_settings(workspace=tmp_path)
    project = copy.deepcopy(settings.project)
    project["privacy"]["min_count"] = MIN_COUNT
    project["privacy"]["method"] = "suppression"  # these are the suppression rules' tests
    project["h3"]["resolutions"] = list(resolutions)
    project["h3"]["default_resolution"] = max(r for r in resolutions if r <= 9) if min(resolutions) <= 9 else min(resolutions)
    return dataclasses.replace(settings, project=project)


def build(settings, incidents):
    ctx = BuildContext(settings=settings, read=lambda kind: incidents, out_dir=settings.workspace)
    return density.build(ctx, {})


# Fixtures ----------------------------------------------------------------------------------
SUNNE_R10 = h3.latlng_to_cell(59.8366, 13.1433, 10)
MONDAY = pd.Timestamp("2024-04-08T12:00", tz="Europe/Stockholm")  # ISO week 15, a lägesbild start


def incidents_at(specs):
    """Incidents from (r10 cell, day offset from MONDAY, hour, category, n) specs."""
    rows = []
    for cell, day, hour, category, n in specs:
        lat, lon = h3.cell_to_latlng(cell)
        x, y = TO_3006.transform(lon, lat)
        when = (MONDAY.normalize() + pd.Timedelta(days=day, hours=hour)).tz_convert("UTC")
        rows += [dict(x=x, y=y, category=category, occurred_from=when, occurred_to=when)] * n
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", [f"a{i}" for i in range(len(frame))])
    frame["source_org"] = "kommun"
    frame["reported_at"] = MONDAY.tz_convert("UTC") + pd.Timedelta(days=60)
    frame["description"] = "får aldrig publiceras"
    return frame


def sibling(cell, k=1):
    """Another r10 cell with the same r9 parent."""
    return sorted(set(h3.cell_to_children(h3.cell_to_parent(cell, 9), 10)) - {cell})[k - 1]


def neighbour(cell, res, k=1):
    """An r10 cell under a different cell at `res`."""
    parent = h3.cell_to_parent(cell, res)
    other = sorted(set(h3.grid_ring(parent, 1)))[k - 1]
    return h3.cell_to_center_child(other, 10)


ADVERSARIAL = {
    # 9 in one cell and week: 8 graffiti + 1 fire (same group) -> the 8 must go too.
    "category vs group": [(SUNNE_R10, 0, 12, "klotter", 8), (SUNNE_R10, 1, 12, "brand", 1)],
    # 6 = 5 graffiti (criminal damage) + 1 alarm: the group split gives the alarm away.
    "group vs total": [(SUNNE_R10, 0, 12, "klotter", 5), (SUNNE_R10, 2, 12, "larm", 1)],
    # 10 = 8 + 1 + 1: two primaries under a published total sum to 2 (< 5).
    "two small under a total": [(SUNNE_R10, 0, 12, "klotter", 8), (SUNNE_R10, 0, 12, "larm", 1),
                                (SUNNE_R10, 0, 12, "narkotika", 1)],
    # 8 at noon (daylight) + 1 at midnight (darkness).
    "light vs total": [(SUNNE_R10, 0, 12, "klotter", 8), (SUNNE_R10, 1, 0, "klotter", 1)],
    # r9 cell of 6: one r10 child 5, another 1.
    "children vs parent": [(SUNNE_R10, 0, 12, "klotter", 5), (sibling(SUNNE_R10), 0, 12, "klotter", 1)],
    # r8 cell: its r9 children 7 and 2; r7 and r8 the same.
    "grandchildren": [(SUNNE_R10, 0, 12, "klotter", 7), (neighbour(SUNNE_R10, 9), 0, 12, "klotter", 2)],
    # whole range 12: 11 in week 15, 1 in week 17; months and lägesbild periods too.
    "weeks vs whole range": [(SUNNE_R10, 0, 12, "klotter", 11), (SUNNE_R10, 14, 12, "klotter", 1)],
    # A lägesbild period (weeks 15+16) of 9 = 8 + 1.
    "weeks vs lägesbild": [(SUNNE_R10, 0, 12, "klotter", 8), (SUNNE_R10, 8, 12, "klotter", 1),
                           (SUNNE_R10, 30, 12, "klotter", 9)],
    # Everything at once, in a few neighbouring cells over two months.
    "mixed": [(SUNNE_R10, 0, 12, "klotter", 6), (SUNNE_R10, 1, 23, "brand", 2), (SUNNE_R10, 9, 12, "larm", 3),
              (sibling(SUNNE_R10), 0, 2, "klotter", 4), (sibling(SUNNE_R10, 2), 3, 12, "narkotika", 5),
              (neighbour(SUNNE_R10, 9), 16, 12, "klotter", 1), (neighbour(SUNNE_R10, 8), 30, 22, "hot_vald", 7),
              (SUNNE_R10, 40, 12, "ordningsstorning", 1)],
}


def random_specs(seed, n_cells=6, n=40):
    rng = np.random.default_rng(seed)
    cells = [SUNNE_R10, sibling(SUNNE_R10), sibling(SUNNE_R10, 3), neighbour(SUNNE_R10, 9), neighbour(SUNNE_R10, 8, 2),
             neighbour(SUNNE_R10, 7)][:n_cells]
    categories = ["klotter", "brand", "larm", "narkotika", "ordningsstorning"]
    return [(cells[rng.integers(len(cells))], int(rng.integers(0, 35)), int(rng.choice([0, 12, 21])),
             categories[rng.integers(len(categories))], int(rng.integers(1, 4))) for _ in range(n)]


# The attacker ---------------------------------------------------------------------------------
def published_system(frames, settings):
    """Every published count by key, and every additive relation between them (parent, children)."""
    columns = density.Columns.from_settings(settings)
    names = columns.names
    resolutions = sorted(settings.h3_resolutions)
    value, truth_key_rows = {}, defaultdict(list)
    for res in resolutions:
        frame = frames[f"incident-density-r{res}"]
        counts = frame[names]
        for i, row in enumerate(frame[["h3", "period_kind", "period_start", "period_end"]].itertuples(index=False)):
            key = (res, row.h3, row.period_kind, row.period_start)
            truth_key_rows[(res, row.h3, row.period_kind)].append((row.period_start, row.period_end))
            for name in names:
                v = counts[name].iloc[i]
                value[key + (name,)] = None if pd.isna(v) else int(v)
    relations = []
    rows = {k[:4] for k in value}
    groups = columns.groups
    for row in rows:
        relations.append((row + ("count",), [row + (f"grp_{g}",) for g in groups]))
        relations.append((row + ("count",), [row + (f"light_{x}",) for x in ("daylight", "twilight", "darkness", "unknown")]))
        for g, group in enumerate(groups):
            cats = [c for c, cg in zip(columns.categories, columns.category_group, strict=True) if cg == g]
            relations.append((row + (f"grp_{group}",), [row + (f"cat_{c}",) for c in cats]))
    by_cell_kind = defaultdict(list)
    for row in rows:
        by_cell_kind[(row[0], row[1], row[2])].append(row[3])
    for (res, cell, kind), starts in by_cell_kind.items():
        if res != resolutions[-1]:
            children = h3.cell_to_children(cell, resolutions[resolutions.index(res) + 1])
            for start in starts:
                for name in names:
                    relations.append(((res, cell, kind, start, name),
                                      [(res + 1, c, kind, start, name) for c in children if (res + 1, c, kind, start, name) in value]))
        if kind == "all":
            for part in ("week", "month", "lagesbild"):
                for name in names:
                    relations.append(((res, cell, "all", starts[0], name),
                                      [(res, cell, part, s, name) for s in by_cell_kind.get((res, cell, part), [])]))
        if kind == "lagesbild":
            weeks = by_cell_kind.get((res, cell, "week"), [])
            for start in starts:
                end = start + pd.Timedelta(days=settings.project["lagesbild"]["period_days"])
                for name in names:
                    relations.append(((res, cell, "lagesbild", start, name),
                                      [(res, cell, "week", s, name) for s in weeks if start <= s < end]))
    return value, relations


def subtraction_attack(value, relations):
    """Recover withheld non-zero counts by repeated subtraction (any relation with one
    unknown). A withheld zero that comes back as 0 tells no more than a published zero,
    so it is used for further subtractions but not reported."""
    known = dict(value)
    recovered = {}
    changed = True
    while changed:
        changed = False
        for parent, children in relations:
            terms = [parent, *children]
            unknown = [t for t in terms if known[t] is None]
            if len(unknown) == 1:
                (u,) = unknown
                rest = sum(known[c] for c in children if c != u)
                recovered[u] = rest if u == parent else known[parent] - rest
                known[u] = recovered[u]
                changed = True
    return {key: v for key, v in recovered.items() if v != 0}


def lp_attack(value, relations, samples=12, seed=0):
    """Withheld counts that all relations together pin to one non-zero value.

    The attack is linear programming over every relation at once. What a reader knows
    besides the relations: counts are not negative, and a row exists only when its cell
    had an incident in the period (or a published count just before), so a withheld
    total is at least 1; withheld splits may be 0 (rule 3). A withheld count is *pinned*
    when its minimum and maximum over all solutions agree. To keep this fast, a handful
    of solutions for random objectives first clears every count they show to vary or to
    be possibly 0; only the rest get their exact minimum and maximum.
    """
    unknown = sorted(k for k, v in value.items() if v is None)
    index = {k: i for i, k in enumerate(unknown)}
    rows, cols, data, rhs = [], [], [], []
    for parent, children in relations:
        terms = defaultdict(float)
        b = 0.0
        for term, sign in [(parent, 1.0)] + [(c, -1.0) for c in children]:
            if value[term] is None:
                terms[index[term]] += sign
            else:
                b -= sign * value[term]
        terms = {i: v for i, v in terms.items() if v}
        if terms:
            rows += [len(rhs)] * len(terms)
            cols += list(terms)
            data += list(terms.values())
            rhs.append(b)
    a = sparse.csr_matrix((data, (rows, cols)), shape=(len(rhs), len(unknown)))
    rhs = np.array(rhs)
    box = [(1.0 if key[4] == "count" else 0.0, 1e4) for key in unknown]
    rng = np.random.default_rng(seed)
    solutions = []
    for _ in range(samples):
        result = linprog(rng.normal(size=len(unknown)), A_eq=a, b_eq=rhs, bounds=box, method="highs")
        assert result.status == 0
        solutions.append(result.x)
    solutions = np.array(solutions)
    suspects = np.flatnonzero((solutions.min(axis=0) > 0.5) & (np.ptp(solutions, axis=0) < 0.5))
    pinned = {}
    for i in suspects:
        c = np.zeros(len(unknown))
        c[i] = 1.0
        low = linprog(c, A_eq=a, b_eq=rhs, bounds=box, method="highs").fun
        high = -linprog(-c, A_eq=a, b_eq=rhs, bounds=box, method="highs").fun
        if low > 0.5 and high - low < 0.5:
            pinned[unknown[i]] = (low, high)
    return pinned


# Tests -------------------------------------------------------------------------------------------
def test_single_relation_cases():
    rel = [privacy.ColumnRelation("categories", 0, np.array([1, 2, 3]))]
    assert privacy.suppress_small_counts(np.array([[9, 6, 2, 1]]), column_relations=rel).tolist() == [[False, True, True, True]]
    assert privacy.suppress_small_counts(np.array([[9, 9, 0, 0]]), column_relations=rel).tolist() == [[False] * 4]
    assert privacy.suppress_small_counts(np.array([[10, 8, 1, 1]]), column_relations=rel).tolist() == [[False, True, True, True]]
    assert privacy.suppress_small_counts(np.array([[10, 5, 4, 1]]), column_relations=rel).tolist() == [[False, False, True, True]]
    # Rule 3: beside a withheld count, zeros are withheld too.
    assert privacy.suppress_small_counts(np.array([[3, 3, 0, 0]]), column_relations=rel).tolist() == [[True] * 4]
    assert privacy.suppress_small_counts(np.array([[9, 6, 0, 3]]), column_relations=rel).tolist() == [[False, True, True, True]]
    assert privacy.suppress_small_counts(np.array([[12, 12, 0, 0]]), column_relations=rel).tolist() == [[False] * 4]
    # A child suppressed elsewhere with no published sibling: the parent must go.
    rows = [privacy.RowRelation("cells", np.array([-1, 0, 0]))]
    got = privacy.suppress_small_counts(np.array([[7, 0], [7, 0], [0, 0]]), rows, rel[:0])
    assert not got.any()


def test_chain_across_families():
    # Row 0 = rows 1 + 2; in each row column 0 = columns 1 + 2.
    rows = [privacy.RowRelation("cells", np.array([-1, 0, 0]))]
    cols = [privacy.ColumnRelation("split", 0, np.array([1, 2]))]
    values = np.array([[20, 12, 8], [11, 10, 1], [9, 2, 7]])
    hidden = privacy.suppress_small_counts(values, rows, cols, MIN_COUNT)
    assert hidden[1, 2] and hidden[2, 1]
    assert privacy.relation_violations(values, hidden, rows, cols, MIN_COUNT) == []


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_fixture_keeps_every_small_count_secret(tmp_path, name):
    settings = settings_for(tmp_path)
    incidents = incidents_at(ADVERSARIAL[name])
    frames = build(settings, incidents)
    value, relations = published_system(frames, settings)
    published = [v for v in value.values() if v is not None]
    assert not any(0 < v < MIN_COUNT for v in published), "a small count was published"
    assert any(v is None for v in value.values())
    assert subtraction_attack(value, relations) == {}
    assert lp_attack(value, relations) == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_fixtures_resist_subtraction(tmp_path, seed):
    settings = settings_for(tmp_path)
    frames = build(settings, incidents_at(random_specs(seed)))
    value, relations = published_system(frames, settings)
    assert not any(v is not None and 0 < v < MIN_COUNT for v in value.values())
    assert subtraction_attack(value, relations) == {}


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_random_fixtures_resist_linear_programming(tmp_path, seed):
    settings = settings_for(tmp_path, resolutions=(9, 10))
    frames = build(settings, incidents_at(random_specs(seed, n_cells=4, n=25)))
    value, relations = published_system(frames, settings)
    assert subtraction_attack(value, relations) == {}
    assert lp_attack(value, relations) == {}


def test_linear_programming_attack_has_teeth(tmp_path, monkeypatch):
    # Without rule 3 (zeros beside withheld counts published), these fixtures leak.
    monkeypatch.setattr(privacy, "_withhold_zeros_beside", lambda state, relations, total: None)
    leaks = 0
    for seed in (5, 7):
        settings = settings_for(tmp_path, resolutions=(9, 10))
        frames = build(settings, incidents_at(random_specs(seed, n_cells=4, n=25)))
        value, relations = published_system(frames, settings)
        assert subtraction_attack(value, relations) == {}  # rules 1 and 2 still hold
        leaks += len(lp_attack(value, relations))
    assert leaks > 0


def test_builder_table_satisfies_both_rules(tmp_path):
    settings = settings_for(tmp_path)
    incidents = incidents_at(random_specs(9, n=80))
    columns = density.Columns.from_settings(settings)
    from estgeo.layers.periods import PeriodScheme

    scheme = PeriodScheme.from_settings(settings)
    prepared = density.prepare_incidents(incidents, 10, columns, scheme, 7200)
    table = density.count_table(prepared.cell, prepared.category, prepared.light, prepared.day, prepared.as_of_day,
                                settings.h3_resolutions, columns, scheme)
    mask = density.suppression_mask(table, MIN_COUNT)
    counts = table.counts()
    assert (mask[(counts > 0) & (counts < MIN_COUNT)]).all()
    # Zeros are withheld only beside a withheld count (rule 3), never in a row without one.
    for rel in density.column_relations(columns):
        terms = np.r_[rel.parent, rel.children]
        untouched = ~mask[:, terms].any(axis=1)
        assert untouched.any()
    assert not mask[~mask.any(axis=1)].any()
    assert privacy.relation_violations(counts, mask, density.row_relations(table), density.column_relations(columns),
                                       MIN_COUNT) == []
