"""Collections that repeat rows of the density (`incident-density`, the default resolution
under its short name, and `incident-density-lagesbild`, the latest complete lägesbild
period): each row must be a row of `incident-density-r<default>` with every value the
same, and the audit counts anything else as exposed (estgeo.build.audit._audit_copies).
"""

from __future__ import annotations

import shutil

import numpy as np
import pyogrio
import pytest
from demo_workspace import demo_workspace

from estgeo.build import audit as public
from estgeo.config import load_settings


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory):
    workspace = demo_workspace()
    settings = load_settings(workspace=workspace)
    folder = tmp_path_factory.mktemp("build") / "b"
    shutil.copytree((workspace / "published" / "current").resolve(), folder)
    return settings, folder


def _audit(settings, folder, name):
    report = public.audit_folder(settings, folder)
    return next(c for c in report.collections if c.collection == name), report


def test_latest_lagesbild_is_the_latest_complete_period_of_the_default_resolution(demo_build):
    settings, folder = demo_build
    res = settings.project["h3"]["default_resolution"]
    latest = pyogrio.read_dataframe(folder / "incident-density-lagesbild.gpkg", read_geometry=False)
    density = pyogrio.read_dataframe(folder / f"incident-density-r{res}.gpkg", read_geometry=False)
    periods = density[(density["period_kind"] == "lagesbild") & density["complete"].astype(bool)]
    newest = periods["period_start"].max()
    assert len(latest) > 0 and set(latest["period_kind"]) == {"lagesbild"}
    assert set(latest["period_start"]) == {newest} and latest["complete"].astype(bool).all()
    assert set(latest["id"]) == set(periods.loc[periods["period_start"] == newest, "id"])
    for name in ("incident-density", "incident-density-lagesbild"):
        audit, _ = _audit(settings, folder, name)
        assert audit.exposed == 0, (name, audit.notes)
        assert any(f"each a row of incident-density-r{res}" in n for n in audit.notes)


def test_a_count_of_its_own_in_a_copy_is_caught(demo_build, tmp_path):
    settings, source = demo_build
    folder = tmp_path / "b"
    shutil.copytree(source, folder)
    latest = pyogrio.read_dataframe(folder / "incident-density-lagesbild.gpkg")
    shown = np.flatnonzero(latest["count"].notna().to_numpy())
    changed = latest.loc[shown[0], "id"]
    latest.loc[shown[0], "count"] = latest.loc[shown[0], "count"] + 1
    # A value the density withholds, published here: a second way the copy tells more.
    blank = latest.columns[latest.isna().any()].difference(["geometry"])
    filled = None
    for column in blank:
        rows = np.flatnonzero(latest[column].isna().to_numpy())
        if rows.size and latest[column].dtype.kind in "fi":
            latest.loc[rows[0], column] = 2
            filled = latest.loc[rows[0], "id"]
            break
    latest.to_file(folder / "incident-density-lagesbild.gpkg", driver="GPKG", layer="incident-density-lagesbild")
    audit, report = _audit(settings, folder, "incident-density-lagesbild")
    assert audit.exposed == (2 if filled is not None and filled != changed else 1) and not report.ok
    assert changed in " ".join(audit.notes)
    leak = report.first_leak()
    assert leak.startswith("incident-density-lagesbild") and "cell " in leak and "period " in leak
