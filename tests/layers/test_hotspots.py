"""Gi*, FDR, Mann-Kendall and emerging hot spots (estgeo.layers.hotspots)."""

from __future__ import annotations

import h3.api.basic_int as h3i
import numpy as np
import pytest
from scipy import stats

from estgeo.layers import hotspots
from estgeo.layers.hotspots import EMERGING_CLASSES, emerging_hotspots

#: Pure computation: runs in the embedded pass only (tests/conftest.py).
pytestmark = pytest.mark.store_independent


@pytest.fixture(scope="module")
def cells():
    centre = h3i.latlng_to_cell(59.8366, 13.1433, 9)
    incident_cells = np.array(h3i.grid_disk(centre, 3), dtype=np.uint64)[::3]
    return hotspots.study_area(incident_cells, 1)


def test_kring_weights(cells):
    w = hotspots.kring_weights(cells, 1)
    assert (w != w.T).nnz == 0
    assert (w.diagonal() == 1).all()
    sizes = np.diff(w.indptr)
    assert sizes.max() == 7 and sizes.min() >= 2  # edge cells lose neighbours outside the area
    for i in [0, len(cells) // 2]:
        expected = set(h3i.grid_disk(int(cells[i]), 1)) & set(int(c) for c in cells)
        assert set(int(c) for c in cells[w[i].indices]) == expected


@pytest.mark.parametrize("k", [1, 2])
def test_gi_star_equals_esda(cells, k):
    esda = pytest.importorskip("esda")
    from libpysal.weights import WSP

    rng = np.random.default_rng(k)
    y = rng.poisson(2.0, cells.size).astype(float)
    y[: cells.size // 5] += rng.poisson(8.0, cells.size // 5)
    w = hotspots.kring_weights(cells, k)
    pysal_w = WSP(w).to_W(silence_warnings=True)
    reference = esda.G_Local(y, pysal_w, transform="B", star=True, permutations=0)
    z = hotspots.gi_star(y, w)
    np.testing.assert_allclose(z, reference.Zs, atol=1e-6, rtol=0)
    np.testing.assert_allclose(hotspots.p_value(z), 2 * reference.p_norm, atol=1e-9)
    # Many periods at once give the same as one at a time.
    two = hotspots.gi_star(np.c_[y, y[::-1]], w)
    np.testing.assert_allclose(two[:, 0], z, atol=1e-12)
    np.testing.assert_allclose(two[:, 1], hotspots.gi_star(y[::-1], w), atol=1e-12)


def test_gi_star_without_variation_is_zero(cells):
    w = hotspots.kring_weights(cells, 1)
    assert (hotspots.gi_star(np.zeros(cells.size), w) == 0).all()


def test_fdr_matches_benjamini_hochberg():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.02, 30), rng.uniform(0, 1, 300)])
    np.testing.assert_allclose(hotspots.fdr_adjusted(p[:, None])[:, 0], stats.false_discovery_control(p, method="bh"))
    z = stats.norm.isf(p / 2) * np.where(np.arange(p.size) % 2, 1, -1)
    bins = hotspots.fdr_bins(z)
    q = stats.false_discovery_control(p, method="bh")
    expected = np.sign(z) * np.select([q <= 0.01, q <= 0.05, q <= 0.10], [3, 2, 1], 0)
    np.testing.assert_array_equal(bins, expected)


def _mann_kendall_brute(x):
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    _, ties = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
    z = (s - np.sign(s)) / np.sqrt(var) if var > 0 else 0.0
    return s, 2 * stats.norm.sf(abs(z))


def test_mann_kendall_matches_brute_force():
    rng = np.random.default_rng(1)
    series = np.round(rng.normal(size=(20, 15)), 1)
    series[0] = np.arange(15)
    series[1] = 3.0
    s, p = hotspots.mann_kendall(series)
    for row in range(series.shape[0]):
        s_ref, p_ref = _mann_kendall_brute(series[row])
        assert s[row] == s_ref
        assert p[row] == pytest.approx(p_ref)


def _classify(bins, z=None):
    bins = np.asarray(bins, dtype=np.int8)[None, :]
    z = np.asarray(z if z is not None else bins * 3.0, dtype=float).reshape(bins.shape)
    return EMERGING_CLASSES[emerging_hotspots(z, bins)[0]]


def test_emerging_hot_spot_classes():
    n = 12
    hot = np.full(n, 2)
    assert _classify([0] * (n - 1) + [3]) == "new_hot"
    assert _classify([0] * (n - 3) + [1, 2, 3]) == "consecutive_hot"
    assert _classify(hot, z=np.linspace(2, 9, n)) == "intensifying_hot"
    assert _classify(hot, z=[3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4]) == "persistent_hot"
    assert _classify(hot, z=np.linspace(9, 2, n)) == "diminishing_hot"
    assert _classify([0, 2, 0, 0, 1, 0, 2, 0, 0, 0, 0, 3]) == "sporadic_hot"
    assert _classify([0, -2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]) == "oscillating_hot"
    assert _classify([2] * (n - 1) + [0]) == "historical_hot"
    assert _classify([0] * n) == "none"
    assert _classify([0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == "none"
    assert _classify([0] * (n - 1) + [-3]) == "new_cold"
    assert _classify(-hot, z=np.linspace(-2, -9, n)) == "intensifying_cold"
    assert _classify(-hot, z=np.linspace(-9, -2, n)) == "diminishing_cold"
    assert _classify([0, 2, 0, -2, 0, 0, 0, 0, 0, 0, 0, -3]) == "oscillating_cold"
    assert _classify([-2] * (n - 1) + [0]) == "historical_cold"


def test_ninety_percent_rule_uses_the_share_of_periods():
    # 11 of 12 periods hot (92 %) including the last, the one gap in the middle: persistent.
    bins = [2] * 5 + [0] + [2] * 6
    assert _classify(bins, z=[3, 4, 3, 4, 3, 0, 3, 4, 3, 4, 3, 4]) == "persistent_hot"
    # 10 of 12 (83 %): on and off, never cold: sporadic.
    assert _classify([2] * 5 + [0, 0] + [2] * 5) == "sporadic_hot"


def test_fdr_bins_on_many_periods_match_adjusted_p_values():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(400, 30)) + np.where(rng.random((400, 30)) < 0.05, 4.0, 0.0)
    q = hotspots.fdr_adjusted(hotspots.p_value(z))
    expected = np.sign(z) * np.select([q <= 0.01, q <= 0.05, q <= 0.10], [3, 2, 1], 0)
    np.testing.assert_array_equal(hotspots.fdr_bins(z), expected)
