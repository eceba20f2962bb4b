"""The report's pure parts: period windows, areas, the statistics and number formats."""

from __future__ import annotations

from datetime import date

import h3
import numpy as np
import pytest
from scipy import stats as scipy_stats

from estgeo.config import Settings
from estgeo.layers.periods import PeriodScheme
from estgeo.report import stats
from estgeo.report.area import AreaError, parse_area
from estgeo.report.periods import PeriodError, resolve
from estgeo.report.texts import Texts

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent

SCHEME = PeriodScheme()  # lägesbild periods of 14 days from Monday 2020-01-06
CENTRE = (59.8366, 13.1433)


# Periods ---------------------------------------------------------------------------------
def test_latest_is_one_lagesbild_period_with_previous_and_last_year() -> None:
    windows = resolve("latest", SCHEME, date(2026, 10, 19))
    assert windows.current.kind == "lagesbild"
    assert (windows.current.start, windows.current.end) == (date(2026, 10, 19), date(2026, 11, 2))
    assert (windows.previous.start, windows.previous.end) == (date(2026, 10, 5), date(2026, 10, 19))
    # 26 periods of 14 days: 364 days back, the same weekdays.
    assert windows.last_year.start == date(2025, 10, 20) and windows.last_year.start.weekday() == 0


@pytest.mark.parametrize(("spec", "kind", "n"), [
    ("2026-01-01..2026-12-31", "month", 12),
    ("2026-03-01..2026-03-31", "month", 1),
    ("2026-10-05..2026-10-18", "lagesbild", 1),
    ("2026-10-05..2026-11-01", "lagesbild", 2),
    ("2026-10-12..2026-10-18", "week", 1),
    ("2026-10-12..2026-11-08", "week", 4),
])
def test_ranges_become_whole_periods_of_the_coarsest_kind(spec: str, kind: str, n: int) -> None:
    windows = resolve(spec, SCHEME, None)
    assert windows.current.kind == kind and len(windows.current.starts) == n
    assert windows.current.last_day.isoformat() == spec.split("..")[1]
    assert windows.previous.end == windows.current.start and len(windows.previous.starts) == n


def test_a_year_of_months_compares_with_the_year_before() -> None:
    windows = resolve("2026-01-01..2026-12-31", SCHEME, None)
    assert windows.previous.start == windows.last_year.start == date(2025, 1, 1)
    assert windows.current.days == 365


@pytest.mark.parametrize("spec", ["2026-10-06..2026-10-18", "2026-13-01..2026-13-31", "last week", "2026-10-18..2026-10-05"])
def test_unreportable_periods_are_explained(spec: str) -> None:
    with pytest.raises(PeriodError):
        resolve(spec, SCHEME, None)


def test_latest_needs_a_complete_period() -> None:
    with pytest.raises(PeriodError, match="estgeo build"):
        resolve("latest", SCHEME, None)


# Areas ------------------------------------------------------------------------------------
def test_h3_area_selects_its_descendants() -> None:
    parent = h3.latlng_to_cell(*CENTRE, 8)
    area = parse_area(parent)
    children = np.array(sorted(h3.cell_to_children(parent, 9)))
    outside = np.array([c for c in h3.grid_ring(h3.cell_to_center_child(parent, 9), 3)])
    assert area.select(children, 9).all()
    assert not area.select(outside[[h3.cell_to_parent(c, 8) != parent for c in outside]], 9).any()
    assert area.totals_resolution([7, 8, 9, 10], {}) == 8
    with pytest.raises(AreaError):
        area.select(np.array([h3.cell_to_parent(parent, 7)]), 7)


@pytest.mark.parametrize("text", [
    "POLYGON((13.13 59.83, 13.16 59.83, 13.16 59.845, 13.13 59.845, 13.13 59.83))",
    '{"type": "Polygon", "coordinates": [[[13.13, 59.83], [13.16, 59.83], [13.16, 59.845], [13.13, 59.845], [13.13, 59.83]]]}',
])
def test_polygon_area_in_lon_lat(text: str) -> None:
    area = parse_area(text)
    inside = h3.latlng_to_cell(59.837, 13.145, 9)
    far = h3.latlng_to_cell(59.90, 13.30, 9)
    assert area.select(np.array([inside, far]), 9).tolist() == [True, False]


def test_polygon_area_in_sweref_is_transformed() -> None:
    area = parse_area("POLYGON((395000 6633500, 397000 6633500, 397000 6635500, 395000 6635500, 395000 6633500))")
    lon, lat = area.geometry.centroid.x, area.geometry.centroid.y
    assert 13.1 < lon < 13.2 and 59.8 < lat < 59.9


@pytest.mark.parametrize("text", ["nonsense", "POINT(13 59)", '{"type": "Nope"}'])
def test_bad_areas_are_explained(text: str) -> None:
    with pytest.raises(AreaError):
        parse_area(text)


# Statistics -------------------------------------------------------------------------------
def test_rate_test_is_the_exact_conditional_binomial_test() -> None:
    test = stats.rate_test(30, 12)
    assert test.p_value == pytest.approx(scipy_stats.binomtest(30, 42, 0.5).pvalue)
    assert test.rate_ratio == pytest.approx(2.5)
    assert test.ci_low < 2.5 < test.ci_high and test.ci_low > 1  # a significant rise
    # Unequal lengths: 31 days against 30 shifts the null share.
    assert stats.rate_test(31, 30, 31, 30).p_value == pytest.approx(1.0)
    assert stats.rate_test(3, 2) is None  # too few to say anything
    assert stats.rate_test(None, 20) is None


def test_holm_adjustment() -> None:
    assert stats.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06], nan_ok=True)
    assert stats.holm([]) == []


def test_share_test_is_fisher() -> None:
    p = stats.share_test(30, 100, 50, 100)
    assert p == pytest.approx(scipy_stats.fisher_exact([[30, 70], [50, 50]]).pvalue)


def test_number_formats(settings: Settings) -> None:
    sv, en = Texts("sv", settings), Texts("en", settings)
    assert sv.int(1234567) == "1\u00a0234\u00a0567" and en.int(1234567) == "1,234,567"
    assert sv.pct(12.34) == "+12,3\u00a0%" and en.pct(-5) == "−5.0%"
    assert sv.p(0.0004) == "< 0,001" and en.p(0.0123) == "0.012"
    assert sv.int(None) == "–"
    assert sv.column("grp_brott") == "Brott" and en.column("light_darkness") == "Darkness"
    assert sv.emerging("persistent_hot") == "ihållande (het)"
