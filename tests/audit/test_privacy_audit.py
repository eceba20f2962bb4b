"""The privacy auditor (estgeo.audit): known answers on small fixtures, and real builds.

The fixtures pin what a weaker auditor would miss: the existence bound (a published row
is at least 1), a system that bound propagation alone cannot solve but an LP can, and
Gi* computed from withheld counts.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from demo_workspace import SIZES
from density_fixtures import build, random_incidents, settings_for

from estgeo.audit import intervals, tables
from estgeo.build import audit as public
from estgeo.layers import density

#: These tests rebuild, so each makes its own workspace, of the small demo's size.
SMALL = SIZES["small"]

REPO = Path(__file__).resolve().parents[2]


class Incidents:
    """The store's one method the audit uses for the true counts: read("incidents")."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def read(self, kind: str) -> pd.DataFrame:
        assert kind == "incidents"
        return self.frame


def test_existence_bound_pins_every_withheld_week():
    """r7 cell 8708a66aeffffff of the demo: 5 for the whole range, 5 withheld week rows → each 1."""
    values = np.array([[5], [1], [1], [1], [1], [1]])
    withheld = np.array([[False], [True], [True], [True], [True], [True]])
    parent = np.array([-1, 0, 0, 0, 0, 0])
    lower = np.array([[1.0]] * 6)  # the rows exist, so each count is at least 1
    table = tables.CountTable(values, withheld, row_sums=[tables.RowSum("week→all", parent)], lower=lower)
    ts = tables.table_system(table)
    found = intervals.feasible_intervals(ts.system)
    assert found.lo.tolist() == [1] * 5 and found.hi.tolist() == [1] * 5
    assert tables.exposed(found, 5).all()
    # Without the existence bound (a grid, where a row may be 0) each week is anything in [0, 5].
    table.lower = None
    found = intervals.feasible_intervals(tables.table_system(table).system)
    assert found.lo.tolist() == [0] * 5 and found.hi.tolist() == [5] * 5
    assert not tables.exposed(found, 5).any()


def test_lp_finds_what_propagation_cannot():
    """x1 + x2 = 5, x2 + x3 = 5, x1 + x3 = 4: only the three together give 2, 3, 2."""
    b = intervals.SystemBuilder(3)
    b.add([0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 0, 2], [1.0] * 6, [5, 5, 4], [5, 5, 4])
    system = b.build()
    weak = intervals.propagate(system)
    assert (weak.width >= 3).all(), "propagation alone leaves them open"
    exact = intervals.feasible_intervals(system, lp_max_vars=10, ilp_max_vars=0)
    assert exact.lo.tolist() == [2, 3, 2] and exact.hi.tolist() == [2, 3, 2]
    ilp = intervals.feasible_intervals(system, lp_max_vars=10, ilp_max_vars=10)
    assert ilp.lo.tolist() == [2, 3, 2]


def test_infeasible_facts_are_refused():
    b = intervals.SystemBuilder(2)
    b.add([0, 0], [0, 1], [1.0, 1.0], [3], [3])
    b.fix(np.array([0, 1]), np.array([2.0, 2.0]))
    with pytest.raises(intervals.Infeasible):
        intervals.propagate(b.build())


def _publish(settings, frames: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_file(folder / f"{name}.gpkg", layer=name, driver="GPKG", engine="pyogrio")
    return folder


def _with(settings, **privacy):
    project = copy.deepcopy(settings.project)
    project["privacy"].update(privacy)
    return dataclasses.replace(settings, project=project)


def test_sparse_rows_leak_and_the_grid_does_not(tmp_path):
    """The same incidents: sparse rows let the audit pin withheld counts; the grid with
    its audited complements leaves none within ±1, read back from the files alone."""
    incidents = random_incidents(600, seed=3)
    sparse = settings_for(tmp_path / "sparse")
    frames, _ = build(sparse, incidents)
    report = public.audit_folder(sparse, _publish(sparse, frames, tmp_path / "sparse" / "build"), truth_store=Incidents(incidents))
    assert report.with_truth and report.exposed > 0
    exposed = [c for c in report.collections if c.exposed]
    case = exposed[0].tightest[0]
    assert case["interval"][1] - case["interval"][0] < 3 and case["cell"] and case["period"]

    grid = _with(settings_for(tmp_path / "grid"), rows="grid")
    frames, _ = build(grid, incidents)
    folder = _publish(grid, frames, tmp_path / "grid" / "build")
    report = public.audit_folder(grid, folder, truth_store=Incidents(incidents))
    density_rows = [c for c in report.collections if c.collection.startswith("incident-density-r") and "Gi" not in c.collection]
    assert density_rows and sum(c.sensitive for c in density_rows) > 0
    assert report.exposed == 0, report.to_json()
    # Every sensitive count keeps an interval at least as wide as [1, 4].
    for c in density_rows:
        assert all(w in ("≥99",) or int(w) >= 3 for w in c.widths)
    # Still a map: the whole-range counts of the busiest cells are published.
    r9 = frames["incident-density-r9"]
    whole = r9[r9["period_kind"] == "all"]
    assert whole["count"].notna().any() and whole["count"].max() >= 10
    # Nothing was lost: the published counts are the true counts.
    truth = density.count_table(*_prepared(grid, incidents)).counts()[:, 0].sum()
    assert truth > 0


def _prepared(settings, incidents):
    cols = density.Columns.from_settings(settings)
    from estgeo.layers.periods import PeriodScheme

    scheme = PeriodScheme.from_settings(settings)
    res = sorted(settings.h3_resolutions)
    p = density.prepare_incidents(incidents, res[-1], cols, scheme, 7200.0)
    return p.cell, p.category, p.light, p.day, p.as_of_day, res, cols, scheme


def test_gi_from_withheld_counts_is_caught(tmp_path):
    """Published Gi* is recomputed from the published counts; a z from the true counts differs."""
    settings = settings_for(tmp_path)
    incidents = random_incidents(500, seed=5)
    frames, _ = build(settings, incidents)
    folder = _publish(settings, frames, tmp_path / "ok")
    gi = [c for c in public.audit_folder(settings, folder).collections if "Gi*" in c.collection]
    assert gi and all(c.exposed == 0 for c in gi)
    # The leaky way: z from the true counts, withheld ones included.
    table = density.count_table(*_prepared(settings, incidents))
    res = settings.project["h3"]["default_resolution"]
    true_gi = density.gi_for_resolution(table, res, 1, 0.05, False)
    leaky = frames[f"incident-density-r{res}"].copy()
    cells = np.array([int(h, 16) for h in leaky["h3"]], dtype=np.uint64)
    pos = np.searchsorted(true_gi.cells, cells)
    for kind in ("week", "lagesbild", "month", "all"):
        rows = np.flatnonzero(leaky["period_kind"].astype(str).to_numpy() == kind)
        periods = table.periods[kind]
        starts = leaky["period_start"].iloc[rows].to_numpy().astype("datetime64[D]").astype(np.int64)
        pidx = np.searchsorted(periods, starts) if kind != "all" else np.zeros(rows.size, dtype=np.int64)
        leaky.iloc[rows, leaky.columns.get_loc("gi_z")] = np.round(true_gi.z[kind][pos[rows], pidx], 2)
    frames = {**frames, f"incident-density-r{res}": leaky}
    folder = _publish(settings, frames, tmp_path / "leaky")
    gi = [c for c in public.audit_folder(settings, folder).collections if "Gi*" in c.collection]
    assert sum(c.exposed for c in gi) > 0
    assert gi[0].tightest[0]["column"] == "gi_z"


def test_intervention_change_beside_a_withheld_count_is_a_leak():
    frame = pd.DataFrame({"id": ["atg-1", "atg-2"], "before_count": [None, 12], "after_count": [6, 9],
                          "change": [None, -3], "change_pct": [50.0, -25.0],
                          "enough_data": pd.array([True, True], dtype="boolean")})
    audit = public._audit_derived(frame, 5)
    assert audit.exposed == 2  # change_pct and enough_data of atg-1
    assert {c["column"] for c in audit.tightest} == {"change_pct", "enough_data"}
    frame.loc[0, ["change_pct", "enough_data"]] = [None, None]
    assert public._audit_derived(frame, 5).exposed == 0


def _estgeo(workspace: Path, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ESTGEO_HOME": str(workspace), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "estgeo.cli", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_enforced_audit_refuses_a_leaky_build_and_keeps_the_served_one(tmp_path):
    """The default configuration (cell-key) passes its audit. privacy.enforce with
    suppression on sparse rows (which leak): the build stops, naming collection, cell and
    period; `current` still points at the build before; the CLI audit agrees."""
    workspace = tmp_path / "ws"
    done = _estgeo(workspace, "demo", "--incidents", str(SMALL[0]), "--seed", str(SMALL[1]))
    assert done.returncode == 0, done.stderr
    done = _estgeo(workspace, "build")
    assert done.returncode == 0, done.stderr
    assert "Privacy audit (cell-key): no perturbed or withheld count exposed" in " ".join(done.stderr.split())
    before = (workspace / "published" / "current").resolve()
    audits = sorted((workspace / "audit").glob("*.json"))
    assert audits, "every build writes its audit"
    assert oct(audits[-1].stat().st_mode & 0o777) == "0o600"
    config = tmp_path / "config"
    import shutil

    shutil.copytree(REPO / "config", config)
    text = (config / "estgeo.yml").read_text(encoding="utf-8")
    assert "  method: cell-key" in text and "  enforce: true" in text  # enforced by default
    text = text.replace("  method: cell-key", "  method: suppression")
    (config / "estgeo.yml").write_text(text, encoding="utf-8")
    refused = _estgeo(workspace, "build", env_extra={"ESTGEO_CONFIG": str(config)})
    assert refused.returncode != 0
    message = " ".join(refused.stderr.split())
    assert "not published" in message and "incident-density-r" in message and "cell " in message and "period " in message
    assert (workspace / "published" / "current").resolve() == before
    audit = _estgeo(workspace, "privacy", "audit", "--json")
    assert audit.returncode == 0, audit.stdout  # what is served: the cell-key build
    assert json.loads(audit.stdout)["method"] == "cell-key"
    refused_report = json.loads(sorted((workspace / "audit").glob("*.json"))[-1].read_text(encoding="utf-8"))
    assert refused_report["method"] == "suppression" and refused_report["exposed"] > 0 and refused_report["with_truth"]


def test_a_table_above_the_exact_limit_is_audited_by_propagation_and_says_so(tmp_path):
    """Above max_values the audit leaves out the LP/ILP stage only: it finds what
    propagation finds (the same as with the exact stage turned off), names the leak, and
    the report says what it left out."""
    settings = settings_for(tmp_path)
    frames, _ = build(settings, random_incidents(300, seed=2))
    folder = _publish(settings, frames, tmp_path / "b")
    report = public.audit_folder(settings, folder, max_values=10)
    propagated = public.audit_folder(settings, folder, lp_max_vars=0)
    assert not report.skipped and any("bound propagation only" in n for n in report.notes)
    assert report.exposed == propagated.exposed > 0 and not report.ok
    assert "incident-density-r" in report.first_leak()
