"""The Cell Key Method (estgeo.audit.cellkey) and its audit: known answers on small
fixtures, the shipped perturbation table, and a density build with privacy.method cell-key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from density_fixtures import build, random_incidents, settings_for
from test_privacy_audit import Incidents, _publish

from estgeo.audit import cellkey, intervals, tables
from estgeo.audit import density as audit_density
from estgeo.build import audit as public
from estgeo.layers import disclosure

REPO = Path(__file__).resolve().parents[2]
TABLE = cellkey.PerturbationTable.from_csv(REPO / "config" / "perturbation.csv")


def test_the_shipped_table_is_unbiased_bounded_and_keeps_zero():
    p = TABLE.probabilities
    d = TABLE.max_perturbation
    steps = np.arange(-d, d + 1)
    assert d >= 4  # min_count 5: a published 0 on a row must leave 1 … 4 open
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[0, d] == 1.0  # no incident is invented
    assert np.allclose(p @ steps, 0.0, atol=1e-6)  # unbiased
    assert np.allclose(TABLE.variance[1:], 2.0, atol=1e-3)
    for i in range(1, d + 1):
        assert (p[i, : d - i] == 0).all() and (p[i, d - i:] > 0).all()  # never below 0, every step possible
    counts = np.repeat(np.arange(0, 30), 2000)
    keys = np.random.default_rng(0).integers(0, 2**32, counts.size, dtype=np.uint64).astype(np.uint32)
    out = TABLE.perturb(counts, keys)
    assert (out >= 0).all() and (np.abs(out - counts) <= d).all() and (out[counts == 0] == 0).all()
    assert abs(float((out - counts).mean())) < 0.05
    lo, hi = TABLE.support(out)
    assert ((lo <= counts) & (counts <= hi)).all()  # the audit's support holds every true count
    assert TABLE.support(np.array([0]))[1][0] == d and TABLE.support(np.array([1]))[0][0] == 1


def test_the_support_is_exactly_the_true_counts_that_can_give_each_value():
    """support(v) = [min, max] of the true counts i with a non-zero chance of showing v,
    worked out here from the probabilities directly (a count ≥ D uses the row of D), for
    published values far past the table's small range."""
    p = TABLE.probabilities
    d = TABLE.max_perturbation
    published = np.arange(0, 6 * d)
    lo, hi = TABLE.support(published)
    for v in published.tolist():
        can = [i for i in range(0, v + d + 1)
               if (i == 0 and v == 0) or (i > 0 and 0 <= v - i + d <= 2 * d and p[min(i, d), v - i + d] > 0)]
        assert (lo[v], hi[v]) == (min(can), max(can)), v
    big = np.array([10_000, 123_456])
    assert TABLE.support(big)[0].tolist() == (big - d).tolist() and TABLE.support(big)[1].tolist() == (big + d).tolist()


def test_the_audit_bounds_are_the_support_above_the_existence_bound():
    """`bounds` (the audit's one compiled pass) against `support` value by value: a
    published count within its support and at least its row's lower bound, a withheld one
    at least the lower bound with no upper bound."""
    rng = np.random.default_rng(3)
    published = rng.integers(0, 60, (400, 7)).astype(np.float64)
    withheld = rng.random(published.shape) < 0.2
    lower = np.zeros(published.shape, dtype=np.int32)
    lower[:, 0] = rng.integers(0, 4, 400)
    lo, hi = TABLE.bounds(published, withheld, lower[:, 0].copy(), 1 << 30)
    s_lo, s_hi = TABLE.support(published.astype(np.int64))
    assert np.array_equal(lo, np.where(withheld, lower, np.maximum(s_lo, lower)))
    assert np.array_equal(hi, np.where(withheld, 1 << 30, s_hi))
    assert lo.dtype == hi.dtype == np.int32


def test_a_broken_table_is_refused_naming_the_row(tmp_path):
    bad = tmp_path / "perturbation.csv"
    bad.write_text("count,perturbation,probability\n0,0,1\n1,-2,0.5\n1,0,0.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 3: count 1, perturbation -2"):
        cellkey.PerturbationTable.from_csv(bad)
    bad.write_text("count,perturbation,probability\n0,0,1\n1,0,0.4\n1,1,0.4\n", encoding="utf-8")
    with pytest.raises(ValueError, match="count 1 sum to 0.8"):
        cellkey.PerturbationTable.from_csv(bad)


def test_same_records_same_value_and_the_secret_decides():
    """Asking again, or through another collection over the same incidents, gives the same
    value (nothing to average); another installation's secret gives other values."""
    ids = pd.Series([f"polisen:{i}" for i in range(400)])
    keys = cellkey.record_keys(ids, "0123456789abcdef")
    assert (keys == cellkey.record_keys(ids.copy(), "0123456789abcdef")).all()
    other = cellkey.record_keys(ids, "fedcba9876543210")
    assert (keys != other).mean() > 0.99
    groups = np.arange(400) // 4  # 100 counts of 4
    a = TABLE.perturb(np.full(100, 4), cellkey.key_sums(groups, keys, 100))
    shuffled = np.random.default_rng(1).permutation(400)
    b = TABLE.perturb(np.full(100, 4), cellkey.key_sums(groups[shuffled], keys[shuffled], 100))
    assert (a == b).all()  # the order of the records does not matter
    c = TABLE.perturb(np.full(100, 4), cellkey.key_sums(groups, other, 100))
    assert (a != c).any() and 0.1 < float((a == 4).mean()) < 0.6  # noisy: 4 is not shown most of the time


def _parent_and_children(parent_published: int, n_children: int, child_published: int = 1):
    values = np.array([[parent_published]] + [[child_published]] * n_children, dtype=np.float64)
    parent = np.array([-1] + [0] * n_children)
    lower = np.ones(n_children + 1)  # every row exists: each total is at least 1
    return values, parent, lower


def test_a_parent_at_the_bottom_of_its_range_pins_its_children():
    """20 week rows of 1 (each published as 0) under a whole range of 20 perturbed by −8 to
    12: the support of 12 is [4, 20], and 20 rows of at least 1 leave each week exactly 1 —
    the audit must say so, and once `protect_perturbed` withholds the weeks and what pins
    them, no more."""
    values, parent, lower = _parent_and_children(12, 20, child_published=0)
    table = audit_density.perturbed_table(values, np.zeros(values.shape, dtype=bool), [("week→all", parent)], [],
                                          lower, TABLE)
    found = intervals.feasible_intervals(tables.table_system(table).system)
    assert found.lo.tolist() == [20] + [1] * 20 and found.hi.tolist() == [20] + [1] * 20
    truth = np.array([[20]] + [[1]] * 20, dtype=np.float64)
    assert tables.exposed(found, 5, truth.ravel()).sum() == 20
    # Without the existence bound the same values leave every week open.
    open_ = audit_density.perturbed_table(values, np.zeros(values.shape, dtype=bool), [("week→all", parent)], [],
                                          np.zeros(21), TABLE)
    assert not tables.exposed(intervals.feasible_intervals(tables.table_system(open_).system), 5, truth.ravel()).any()
    mask, stats = audit_density.protect_perturbed(truth, values, [("week→all", parent)], [], 5, TABLE, lower)
    assert mask[1:, 0].any() and stats.exposed_first == 20 and stats.history[-1] == 0
    again = audit_density.perturbed_table(values, mask, [("week→all", parent)], [], lower, TABLE)
    assert not tables.exposed(intervals.feasible_intervals(tables.table_system(again).system), 5, truth.ravel()).any()


def test_a_count_pinned_again_after_it_is_withheld_frees_through_its_parents():
    """A whole range published as 20 (true 28, support [12, 28]) over 16 weeks of 1 and two
    weeks of 6, each of those over six cells of 1, every row existing (≥ 1): the weeks and
    cells of 1 are pinned exactly. Withholding them leaves them pinned (their existence
    stays), and so does withholding a sibling (the weeks of 6 are ≥ 6 through their own
    cells): what frees them is withholding the sums that hold them. The protect loop must
    take the parents then, and be done in three rounds; taking siblings first it needed a
    round per level, and on 200,000 incidents did not end in 30."""
    n = 1 + 16 + 2 + 12
    truth = np.ones((n, 1))
    truth[0, 0], truth[17:19, 0] = 28, 6
    published = truth.copy()
    published[0, 0] = 20
    week_parent = np.full(n, -1)
    week_parent[1:19] = 0
    cell_parent = np.full(n, -1)
    cell_parent[19:25], cell_parent[25:31] = 17, 18
    relations = [("week→all", week_parent), ("cell→parent cell", cell_parent)]
    lower = np.ones(n)
    table = audit_density.perturbed_table(published, np.zeros(published.shape, dtype=bool), relations, [], lower, TABLE)
    found = intervals.feasible_intervals(tables.table_system(table).system)
    assert tables.exposed(found, 5, truth.ravel()).sum() == 28  # 16 weeks and 12 cells of 1
    mask, stats = audit_density.protect_perturbed(truth, published, relations, [], 5, TABLE, lower, max_rounds=3)
    assert stats.history == [28, 28, 0]
    assert mask[0, 0] and mask[17:19, 0].all()  # the whole range and the weeks of 6: the sums
    again = audit_density.perturbed_table(published, mask, relations, [], lower, TABLE)
    assert not tables.exposed(intervals.feasible_intervals(tables.table_system(again).system), 5, truth.ravel()).any()


def test_protect_rounds_that_redo_only_the_pieces_withhold_what_whole_rounds_withhold():
    """The fixture above three times over, side by side (one piece each: its whole range,
    weeks and cells), the second published at its true total (nothing pinned): the rounds
    that redo only the pieces that changed (a large table's, without the exact stage)
    withhold the same counts in the same rounds as rounds propagating the whole table."""
    m = 1 + 16 + 2 + 12
    n = 3 * m
    truth, published = np.ones((n, 1)), np.ones((n, 1))
    week_parent, cell_parent = np.full(n, -1), np.full(n, -1)
    for b in range(3):
        o = b * m
        truth[o, 0], truth[o + 17:o + 19, 0] = 28, 6
        published[o:o + m] = truth[o:o + m]
        published[o, 0] = 28 if b == 1 else 20
        week_parent[o + 1:o + 19] = o
        cell_parent[o + 19:o + 25], cell_parent[o + 25:o + 31] = o + 17, o + 18
    relations = [("week→all", week_parent), ("cell→parent cell", cell_parent)]
    lower = np.ones(n)
    runs = {pieces: audit_density.protect_perturbed(truth, published, relations, [], 5, TABLE, lower,
                                                    lp_max_unknowns=0, pieces=pieces) for pieces in (True, False)}
    (mask, stats), (whole_mask, whole_stats) = runs[True], runs[False]
    assert np.array_equal(mask, whole_mask) and stats.history == whole_stats.history == [56, 56, 0]
    assert mask[0, 0] and mask[2 * m, 0] and not mask[m:2 * m].any()
    assert "bound propagation only" in stats.not_exact


def test_the_averaging_attacker_beats_the_published_value_where_relations_repeat_a_count():
    """total = a + b with a and b small, each perturbed on its own: the least-squares attacker
    combines a's own value with total − b and gets a small count right more often than
    reading it off. (That is what the audit's 'got by averaging' column measures.)"""
    rng = np.random.default_rng(5)
    n = 3000
    a, b = rng.integers(1, 5, n), rng.integers(1, 5, n)
    truth = np.stack([a + b, a, b], axis=1)
    keys = rng.integers(0, 2**32, truth.shape, dtype=np.uint64).astype(np.uint32)
    published = TABLE.perturb(truth, keys).astype(np.float64)
    table = tables.CountTable(published, np.ones(truth.shape, dtype=bool),
                              column_sums=[tables.ColumnSum("parts → total", 0, np.array([1, 2]))])
    ts = tables.table_system(table)
    averaged = public.averaging_attacker(ts, published.ravel()[ts.cells])
    small = (truth.ravel()[ts.cells] >= 1) & (truth.ravel()[ts.cells] <= 4)
    shown = float((published.ravel()[ts.cells][small] == truth.ravel()[ts.cells][small]).mean())
    guessed = float((averaged[small] == truth.ravel()[ts.cells][small]).mean())
    assert guessed > shown + 0.02, (shown, guessed)


def test_a_cell_key_density_build_is_perturbed_consistent_and_passes_its_audit(tmp_path):
    settings = settings_for(tmp_path, method="cell-key")
    disclosure.write_secret(settings, "estgeotestsecret")
    incidents = random_incidents(1500, seed=4)
    frames, built = build(settings, incidents)
    res = settings.project["h3"]["default_resolution"]
    dens = frames[f"incident-density-r{res}"]
    assert not dens["suppressed"].all() and dens["count"].notna().mean() > 0.9
    # Nothing published is exact by construction, but each count is within the table's reach.
    truth_frames, _ = build(settings_for(tmp_path / "exact", min_count=1), incidents)
    exact = truth_frames[f"incident-density-r{res}"].set_index("id")["count"]
    shown = dens.set_index("id")["count"].dropna()
    assert (np.abs(shown - exact.reindex(shown.index)) <= TABLE.max_perturbation).all()
    assert (shown != exact.reindex(shown.index)).mean() > 0.3
    # hotspots repeats the density's counts: the same records, the same value.
    hot = frames["hotspots"].set_index("id")["count"].dropna()
    both = hot.index.intersection(shown.index)
    assert len(both) > 10 and (hot[both] == shown[both]).all()
    # Every row holds an incident (no zero rows follow the last one): the audit's model.
    assert set(exact.index) >= set(dens["id"])
    again, _ = build(settings, incidents)
    pd.testing.assert_series_equal(again[f"incident-density-r{res}"]["count"], dens["count"])
    report = public.audit_folder(settings, _publish(settings, frames, tmp_path / "b"), truth_store=Incidents(incidents),
                                 averaging=True)
    assert report.method == "cell-key" and report.ok, report.to_json()
    density_audits = [c for c in report.collections if c.collection.startswith("incident-density-r") and "Gi" not in c.collection]
    assert density_audits and all(c.exposed == 0 and c.sensitive and c.mean_abs_perturbation for c in density_audits)
    assert all(0 < c.exact_published < c.exact_averaged < 0.8 for c in density_audits), report.to_json()


def test_the_ptable_command_writes_the_shipped_table_and_refuses_too_small_a_one(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "ESTGEO_HOME": str(tmp_path / "ws")}
    run = subprocess.run([sys.executable, "-m", "estgeo.cli", "privacy", "ptable", "-o", str(tmp_path / "p.csv")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    made = cellkey.PerturbationTable.from_csv(tmp_path / "p.csv")
    # config/perturbation.csv is this command's output: the same support everywhere, the same
    # probabilities to the solver's tolerance (scipy 1.18's HiGHS differs from the one that
    # made the file by at most 1.8e-7, 0.07 % of the smallest probability).
    assert ((made.probabilities > 0) == (TABLE.probabilities > 0)).all()
    assert np.allclose(made.probabilities, TABLE.probabilities, rtol=1e-2, atol=1e-6)
    run = subprocess.run([sys.executable, "-m", "estgeo.cli", "privacy", "ptable", "-o", str(tmp_path / "q.csv"), "--max", "3"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "at least 4" in run.stderr and "Traceback" not in run.stderr


def test_a_cell_key_table_above_the_exact_limit_is_still_audited_by_propagation(tmp_path):
    """Above privacy.audit_max_values the general system (and its LP/ILP stage, ~600 bytes
    per count) is left out, not the audit: the build's rounds and `estgeo privacy audit`
    propagate on the table as it is (estgeo.audit.structured), pass, and say what they left out."""
    from conftest import with_privacy

    settings = with_privacy(settings_for(tmp_path, method="cell-key"), audit_max_values=1000)
    disclosure.write_secret(settings, "estgeotestsecret")
    frames, built = build(settings, random_incidents(300, seed=2))
    protect = built["density:privacy"]["protect"]
    assert "bound propagation only" in protect.not_exact and protect.history[-1] == 0
    report = public.audit_folder(settings, _publish(settings, frames, tmp_path / "b"), truth_store=Incidents(random_incidents(300, seed=2)))
    assert report.ok and not report.skipped and report.exposed == 0
    assert any("bound propagation only" in n for n in report.notes)
    assert sum(c.sensitive or 0 for c in report.collections) > 0  # small counts were there to protect


def test_the_audit_of_the_files_uses_the_builds_proof_only_when_the_files_are_that_table(tmp_path):
    """Above privacy.audit_max_values the build's protect rounds leave their fixed point
    (`audit_density.Proof`); the audit of the files compares the system it rebuilds from
    them with the proved one entry for entry and uses it: the same report, figure for
    figure, as working everything out again. Files changed by one count, or by one row
    left out, are not that table: the proof is refused, saying where, and the audit
    works it out again — and finds what a fresh audit of those files finds."""
    from dataclasses import asdict

    from conftest import with_privacy

    settings = with_privacy(settings_for(tmp_path, method="cell-key"), audit_max_values=1000)
    disclosure.write_secret(settings, "estgeotestsecret")
    incidents = random_incidents(600, seed=5)
    frames, built = build(settings, incidents)
    proof = built["density:privacy"]["proof"]
    assert isinstance(proof, audit_density.Proof)
    folder = _publish(settings, frames, tmp_path / "b")
    used = public.audit_folder(settings, folder, truth_store=Incidents(incidents), proof=proof)
    fresh = public.audit_folder(settings, folder, truth_store=Incidents(incidents))
    assert any("not worked out again" in n for n in used.notes), used.notes
    assert not any("not worked out again" in n for n in fresh.notes)
    assert [asdict(c) for c in used.collections] == [asdict(c) for c in fresh.collections]
    assert used.ok and sum(c.sensitive or 0 for c in used.collections) > 0
    res = settings.project["h3"]["default_resolution"]
    name = f"incident-density-r{res}"
    # The same table in another row order: the proof's bounds follow the rows.
    shuffled = _publish(settings, {**frames, name: frames[name].sample(frac=1.0, random_state=1)}, tmp_path / "shuffled")
    moved = public.audit_folder(settings, shuffled, truth_store=Incidents(incidents), proof=proof)
    assert any("not worked out again" in n for n in moved.notes), moved.notes
    assert [asdict(c) for c in moved.collections] == [asdict(c) for c in fresh.collections]
    changed = frames[name].copy()
    at = int(np.flatnonzero(changed["count"].fillna(0).to_numpy() >= 3)[0])
    changed.loc[changed.index[at], "count"] = changed["count"].iloc[at] + 1
    dropped = frames[name].drop(index=frames[name].index[-1])
    cell = f"{name}, cell {changed['h3'].iloc[at]}, {changed['period_kind'].iloc[at]}"
    hot = frames["hotspots"].copy()
    first = int(np.flatnonzero(hot["count"].fillna(0).to_numpy() >= 2)[0])  # a row the density has (zeros are not)
    hot.loc[hot.index[first], "count"] = hot["count"].iloc[first] + 1  # a second value of one count
    for label, frame, why in (("changed", {name: changed}, cell), ("dropped", {name: dropped}, "rows published"),
                              ("hotspots", {"hotspots": hot}, "a repeated count narrows the bounds")):
        other = _publish(settings, {**frames, **frame}, tmp_path / label)
        refused = public.audit_folder(settings, other, truth_store=Incidents(incidents), proof=proof)
        assert any("proof not used" in n and why in n for n in refused.notes), (label, refused.notes)
        again = public.audit_folder(settings, other, truth_store=Incidents(incidents))
        assert [asdict(c) for c in refused.collections] == [asdict(c) for c in again.collections]


def test_the_compiled_perturbation_is_the_table_read_as_written():
    """`perturb` (compiled, in place) against the perturbation as the module docstring
    defines it, written out in numpy: u = key / 2³², the step is how many of the row's
    cumulative probabilities u has passed, a true 0 stays 0; keys at the boundaries too."""
    rng = np.random.default_rng(7)
    d = TABLE.max_perturbation
    counts = np.concatenate([np.arange(0, 40), rng.integers(0, 60, 200_000)]).astype(np.int32)
    cum = TABLE.cumulative[:, :-1]
    edges = (np.ceil(cum[1:].ravel() * 2**32)).astype(np.uint64).clip(0, 2**32 - 1).astype(np.uint32)
    keys = np.concatenate([np.resize(edges, 40), rng.integers(0, 2**32, counts.size - 40, dtype=np.uint64).astype(np.uint32)])
    row = np.minimum(counts, d)
    u = keys.astype(np.float64) / 2**32
    step = (u[:, None] >= cum[row]).sum(axis=1)
    want = np.where(counts <= 0, 0, counts + step - d)
    assert TABLE.perturb(counts, keys).tolist() == want.tolist()
    table = counts.copy().reshape(-1, 8)
    TABLE.perturb(table, keys.reshape(-1, 8), out=table)
    assert table.ravel().tolist() == want.tolist() and table.dtype == np.int32
    with pytest.raises(ValueError, match="cell keys"):
        TABLE.perturb(counts, keys[:-1])
