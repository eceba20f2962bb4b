"""Counts around areas (lamps out, dark gaps, unsafe places) as sums of the density's
published cells (estgeo.layers.cellsums), and the audit that checks each of them.

Counted over their own circles and polygons these counts leaked withheld density counts
by differencing (issue "Privacy…", channel 4); the audit recomputes every one from what
is published, so a count taken any other way — the exact count over the circle, as the
internal collection keeps it — is caught.
"""

from __future__ import annotations

import shutil

import h3
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from demo_workspace import demo_workspace

from estgeo.build import audit as public
from estgeo.config import load_settings
from estgeo.layers import cellsums


def _centre(cell: str) -> shapely.Point:
    lat, lng = h3.cell_to_latlng(cell)
    return shapely.Point(lng, lat)


def test_touched_cells_are_the_cells_the_grown_area_overlaps():
    cell = h3.latlng_to_cell(59.33, 18.06, 10)
    which, cells = cellsums.touched_cells([_centre(cell)], 1.0, 10)
    assert list(which) == [0] and [h3.int_to_str(int(c)) for c in cells] == [cell]
    # 100 m round the centre of a cell of edge ~66 m reaches every neighbour, not the ring after.
    which, cells = cellsums.touched_cells([_centre(cell)], 100.0, 10)
    found = {h3.int_to_str(int(c)) for c in cells}
    assert set(h3.grid_disk(cell, 1)) <= found and not found & set(h3.grid_ring(cell, 3))
    # One distance per area, and areas keep their own cells.
    other = h3.grid_ring(cell, 5)[0]
    which, cells = cellsums.touched_cells([_centre(cell), _centre(other)], np.array([1.0, 1.0]), 10)
    assert [h3.int_to_str(int(c)) for c in cells[which == 1]] == [other]


def test_published_sums_add_the_periods_and_blank_a_sum_with_a_blank_term():
    a, b, c = h3.latlng_to_cell(59.33, 18.06, 10), *h3.grid_ring(h3.latlng_to_cell(59.33, 18.06, 10), 1)[:2]
    density = pd.DataFrame({
        "h3": [a, a, a, b, c],
        "period_kind": ["month", "month", "all", "month", "month"],
        "period_start": ["2026-01-01", "2026-02-01", "2025-01-01", "2026-02-01", "2025-12-01"],
        "count": [3.0, 4.0, 40.0, np.nan, 9.0],
    })
    ints = [h3.str_to_int(x) for x in (a, b, c)]
    pairs = (np.array([0, 1, 1, 2, 2]), np.array([ints[0], ints[0], ints[1], ints[0], ints[2]], dtype=np.int64))
    total, hidden = cellsums.published_sums(pairs, 3, density, ["count"], "month", "2026-01-01")
    # area 0: a's two months; area 1: a and b, b blank; area 2: a, and c only before the window.
    assert list(hidden) == [False, True, False]
    assert total[0] == 7 and total[2] == 7 and pd.isna(total[1])
    total, hidden = cellsums.published_sums(pairs, 3, density, ["count"], "all")
    assert list(total.to_numpy(dtype=np.float64, na_value=-1)) == [40, 40, 40] and not hidden.any()


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


def test_the_demo_counts_around_areas_are_sums_of_published_cells(demo_build):
    settings, folder = demo_build
    for name in ("unsafe-places", "dark-gaps", "lamps-out"):
        audit, report = _audit(settings, folder, name)
        assert audit.withheld > 0 and audit.exposed == 0, (name, audit)
        assert any("sum of the published incident-density-r10" in n for n in audit.notes)
        assert not any(n.startswith(name) for n in report.not_modelled)


def test_a_count_over_the_circle_itself_is_caught(demo_build, tmp_path):
    """The exact counts within 100 m (what unsafe-places-internal keeps, and what
    unsafe-places published before) in the public collection: the audit names the places."""
    settings, source = demo_build
    folder = tmp_path / "b"
    shutil.copytree(source, folder)
    exact = pyogrio.read_dataframe(folder / "unsafe-places-internal.gpkg", read_geometry=False)
    places = pyogrio.read_dataframe(folder / "unsafe-places.gpkg")
    places = places.set_index("id")
    exact = exact.set_index("id").reindex(places.index)
    differs = (places["incidents_nearby"] != exact["incidents_nearby"]).to_numpy()
    assert differs.sum() > 0
    places["incidents_nearby"] = exact["incidents_nearby"]
    places.reset_index().to_file(folder / "unsafe-places.gpkg", driver="GPKG", layer="unsafe-places")
    audit, report = _audit(settings, folder, "unsafe-places")
    assert audit.exposed == int(differs.sum()) and not report.ok
    assert audit.tightest[0]["column"] == "incidents_nearby" and audit.tightest[0]["cell"] in set(places.index)


def test_a_lamp_count_off_by_one_is_caught(demo_build, tmp_path):
    settings, source = demo_build
    folder = tmp_path / "b"
    shutil.copytree(source, folder)
    lamps = pyogrio.read_dataframe(folder / "lamps-out.gpkg")
    lamps.loc[3, "dark_incidents"] = lamps.loc[3, "dark_incidents"] + 1
    lamps.to_file(folder / "lamps-out.gpkg", driver="GPKG", layer="lamps-out")
    audit, _ = _audit(settings, folder, "lamps-out")
    assert audit.exposed == 1 and audit.tightest[0]["cell"] == lamps.loc[3, "id"]


def test_follow_up_windows_are_whole_iso_weeks_round_the_pivot_week():
    before, after, until = cellsums.week_windows(pd.Series(["2025-09-17", "2025-09-15"]), 8)  # a Wednesday, a Monday
    assert list(before.dt.date.astype(str)) == ["2025-07-21", "2025-07-21"]
    assert list(after.dt.date.astype(str)) == ["2025-09-22", "2025-09-22"]
    assert list(until.dt.date.astype(str)) == ["2025-11-17", "2025-11-17"]


def test_intervention_counts_are_sums_of_published_weeks_and_a_changed_one_is_caught(demo_build, tmp_path):
    settings, source = demo_build
    audit, report = _audit(settings, source, "interventions")
    assert audit.exposed == 0 and any("published density weeks" in n for n in audit.notes)
    assert not any(n.startswith("interventions") for n in report.not_modelled)
    folder = tmp_path / "b"
    shutil.copytree(source, folder)
    follow = pyogrio.read_dataframe(folder / "interventions.gpkg")
    row = int(np.flatnonzero(follow["before_count"].notna())[0])
    follow.loc[row, "before_count"] = follow.loc[row, "before_count"] + 1
    follow.to_file(folder / "interventions.gpkg", driver="GPKG", layer="interventions")
    audit, report = _audit(settings, folder, "interventions")
    assert audit.exposed >= 1 and not report.ok
    assert any(c["cell"] == follow.loc[row, "id"] and c["column"] == "before_count" for c in audit.tightest)
