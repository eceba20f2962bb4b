"""Hot spots on H3 cells: Getis-Ord Gi*, FDR-corrected significance and emerging hot spots.

**Gi\\*** (Getis & Ord 1992; Ord & Getis 1995) with binary weights on an H3 k-ring that
includes the cell itself, computed for many periods at once (one column per period):

    z_i = (Σ_j w_ij x_j − x̄ Σ_j w_ij) / (S √((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))

with x̄ and S the mean and (population) standard deviation of x over the n cells of the
study area. This is esda's `G_Local(..., transform="B", star=True).Zs` (pinned in
tests/layers/test_hotspots.py) and what Esri's Hot Spot Analysis reports. p-values are two-sided.

**Study area**: every cell within `k` rings of a cell that has at least one incident in
the whole range, at that resolution. Cells in it without incidents count as 0; cells
outside it do not exist for the statistic, so a cell on the edge has a smaller
neighbourhood. The same study area serves every period, so z-scores of different
periods are comparable (which the emerging hot spot trend needs).

**Significance bins** (as Esri, with the False Discovery Rate correction): the
Benjamini–Hochberg procedure is applied per period over all cells of the study area at
α = 0.10, 0.05 and 0.01; a cell is ±3 when significant at 99 %, ±2 at 95 %, ±1 at 90 %,
else 0; the sign is the sign of z (+ hot, − cold).

**Emerging hot spots** (Esri's Emerging Hot Spot Analysis), per cell over a sequence of
n periods, with "hot"/"cold" = significant at 90 % or more (bin > 0 / bin < 0) and the
trend = Mann-Kendall test on the cell's Gi* z-scores (significant at `trend_alpha`):

* ``new``          hot in the final period and never hot before.
* ``consecutive``  a single uninterrupted run of at least two hot periods ending with the
  final one, never hot before that run, and hot in less than 90 % of the periods.
* ``intensifying`` hot in at least 90 % of the periods including the final one, with a
  significant upward trend in z.
* ``persistent``   hot in at least 90 % of the periods including the final one, no
  significant trend.
* ``diminishing``  hot in at least 90 % of the periods including the final one, with a
  significant downward trend in z.
* ``sporadic``     hot in the final period, hot on and off before, less than 90 % hot,
  never cold.
* ``oscillating``  hot in the final period, less than 90 % hot, cold in some earlier period.
* ``historical``   not hot in the final period, but hot in at least 90 % of the periods.
* ``none``         none of these.

Cold spots mirror each rule (cold for hot, a downward trend is *intensifying* for a cold
spot). Where Esri's definitions overlap (a cell never hot before the final period that
was once cold is both "new" and "oscillating"), the first rule in the list above wins.
Published classes are ``<rule>_hot`` / ``<rule>_cold`` or ``none``. Esri asks for at
least ten periods; with fewer the classes are still computed but mean little.
"""

from __future__ import annotations

import h3ronpy
import numpy as np
import pyarrow as pa
from scipy import sparse
from scipy.special import ndtr

from estgeo.layers import grouping

FDR_LEVELS = (0.10, 0.05, 0.01)
EMERGING_RULES = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical")
EMERGING_CLASSES = ("none", *(f"{rule}_{kind}" for kind in ("hot", "cold") for rule in EMERGING_RULES))


def _disks(cells: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """All cells within `k` rings of each cell, flattened, and how many per cell; h3ronpy
    asks H3 for the whole array at once, in Rust (h3-py takes a Python call per cell)."""
    if cells.size == 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    disks = pa.array(h3ronpy.grid_disk(pa.array(np.asarray(cells, dtype=np.uint64), type=pa.uint64()), k, flatten=False))
    return disks.values.to_numpy().astype(np.uint64, copy=False), np.diff(disks.offsets.to_numpy())


def study_area(cells: np.ndarray, k: int) -> np.ndarray:
    """Sorted unique H3 cells (uint64) within `k` rings of any of `cells`."""
    cells = grouping.unique(np.asarray(cells, dtype=np.uint64))
    if k == 0 or cells.size == 0:
        return cells
    return grouping.unique(_disks(cells, k)[0])


def kring_weights(cells: np.ndarray, k: int) -> sparse.csr_matrix:
    """Binary weights among sorted `cells`: 1 when within `k` rings, self included."""
    cells = np.asarray(cells, dtype=np.uint64)
    return _weights_from_disks(cells, *_disks(cells, k))


def study_area_weights(cells: np.ndarray, k: int) -> tuple[np.ndarray, sparse.csr_matrix]:
    """`study_area` of `cells` and its `kring_weights`."""
    area = study_area(cells, k)
    return area, kring_weights(area, k)


def _weights_from_disks(cells: np.ndarray, neighbours: np.ndarray, sizes: np.ndarray) -> sparse.csr_matrix:
    rows = np.repeat(np.arange(cells.size), sizes)
    pos = np.minimum(np.searchsorted(cells, neighbours), max(cells.size - 1, 0))
    inside = cells[pos] == neighbours
    data = np.ones(int(inside.sum()), dtype=np.float64)
    return sparse.csr_matrix((data, (rows[inside], pos[inside])), shape=(cells.size, cells.size))


def gi_star(x: np.ndarray, weights: sparse.spmatrix) -> np.ndarray:
    """Gi* z-scores; `x` is (n,) or (n, periods). A period without variation gives z = 0."""
    x = np.asarray(x, dtype=np.float64)
    column = x.ndim == 1
    x = x[:, None] if column else x
    n = x.shape[0]
    w = sparse.csr_matrix(weights)
    w_sum = np.asarray(w.sum(axis=1)).ravel()[:, None]
    w_sq = np.asarray(w.multiply(w).sum(axis=1)).ravel()[:, None]
    mean = x.mean(axis=0)
    sd = np.sqrt(np.maximum((x * x).mean(axis=0) - mean * mean, 0.0))
    lag = w @ x
    spread = np.sqrt(np.maximum(n * w_sq - w_sum * w_sum, 0.0) / max(n - 1, 1))
    denom = sd[None, :] * spread
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(denom > 0, (lag - w_sum * mean[None, :]) / denom, 0.0)
    return z[:, 0] if column else z


def p_value(z: np.ndarray) -> np.ndarray:
    """Two-sided p-value of a standard normal z."""
    return 2.0 * ndtr(-np.abs(z))


def fdr_adjusted(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values within each column (period).

    A value is significant at level α under the FDR correction exactly when its adjusted
    p-value is at most α (the step-up procedure: the largest rank k with p₍ₖ₎ ≤ kα/n).
    """
    p = np.asarray(p, dtype=np.float64)
    n = p.shape[0]
    order = np.argsort(p, axis=0, kind="stable")
    ranked = np.take_along_axis(p, order, axis=0) * n / np.arange(1, n + 1)[:, None]
    ranked = np.minimum.accumulate(ranked[::-1], axis=0)[::-1]
    adjusted = np.empty_like(ranked)
    np.put_along_axis(adjusted, order, np.minimum(ranked, 1.0), axis=0)
    return adjusted


def fdr_bins(z: np.ndarray, p: np.ndarray | None = None, levels=FDR_LEVELS) -> np.ndarray:
    """Significance bin −3..3 per value, Benjamini–Hochberg within each column (period).

    Only p-values up to the largest level can pass (p₍ₖ₎·n/k ≥ p₍ₖ₎), so only those are
    ranked: for each level the critical value is the largest p₍ₖ₎ with p₍ₖ₎ ≤ kα/n, and a
    value is significant when it is at most that. Same result as thresholding
    `fdr_adjusted`, at a fraction of the cost on many cells × periods.
    """
    z = np.asarray(z, dtype=np.float64)
    column = z.ndim == 1
    z = z.reshape(z.shape[0], -1)
    p = p_value(z) if p is None else np.asarray(p, dtype=np.float64).reshape(z.shape)
    n, periods = z.shape
    level = np.zeros(z.shape, dtype=np.int8)
    small_row, small_col = np.nonzero(p <= max(levels))
    if small_row.size:
        small_p = p[small_row, small_col]
        order = np.lexsort((small_p, small_col))
        col_sorted, p_sorted = small_col[order], small_p[order]
        first = np.searchsorted(col_sorted, np.arange(periods))
        rank = np.arange(col_sorted.size) - first[col_sorted] + 1
        for step, alpha in enumerate(sorted(levels, reverse=True), start=1):
            passing = p_sorted <= rank * alpha / n
            critical = np.full(periods, -1.0)
            np.maximum.at(critical, col_sorted[passing], p_sorted[passing])
            level[p <= critical[None, :]] = step
    bins = (np.sign(z) * level).astype(np.int8)
    return bins[:, 0] if column else bins


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall S and two-sided p-value for each row of `series` (cells × periods).

    Variance with the usual tie correction, continuity-corrected normal approximation.
    """
    x = np.asarray(series, dtype=np.float64)
    rows, t = x.shape
    s = np.zeros(rows, dtype=np.float64)
    for lag in range(1, t):
        s += np.sign(x[:, lag:] - x[:, :-lag]).sum(axis=1)
    # Ties: run lengths of equal values in each sorted row.
    ordered = np.sort(x, axis=1)
    new_run = np.ones(x.shape, dtype=bool)
    new_run[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run_id = np.cumsum(new_run.ravel()) - 1
    run_len = np.bincount(run_id).astype(np.float64)
    run_row = np.repeat(np.arange(rows), new_run.sum(axis=1))
    tie_term = np.bincount(run_row, weights=run_len * (run_len - 1) * (2 * run_len + 5), minlength=rows)
    var = (t * (t - 1) * (2 * t + 5) - tie_term) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    return s, p_value(z)


def emerging_hotspots(z: np.ndarray, bins: np.ndarray, trend_alpha: float = 0.05) -> np.ndarray:
    """Emerging hot spot class index (into `EMERGING_CLASSES`) per row of cells × periods."""
    z = np.asarray(z, dtype=np.float64)
    bins = np.asarray(bins)
    rows, t = z.shape
    out = np.zeros(rows, dtype=np.int8)
    if t == 0:
        return out
    hot, cold = bins > 0, bins < 0
    # The trend only matters where a cell was hot or cold in 90 % of the periods.
    trend = np.zeros(rows, dtype=np.int8)
    steady = np.flatnonzero((hot.sum(axis=1) >= 0.9 * t) | (cold.sum(axis=1) >= 0.9 * t))
    if t > 1 and steady.size:
        s, p = mann_kendall(z[steady])
        trend[steady] = np.where(p < trend_alpha, np.sign(s), 0)
    decided = np.zeros(rows, dtype=bool)

    def assign(mask, name):
        nonlocal decided
        mask = mask & ~decided
        out[mask] = EMERGING_CLASSES.index(name)
        decided |= mask

    for kind, this, other, rising in (("hot", hot, cold, 1), ("cold", cold, hot, -1)):
        share = this.sum(axis=1) / t
        final = this[:, -1]
        final_run = np.cumprod(this[:, ::-1], axis=1).sum(axis=1)
        only_final_run = final_run == this.sum(axis=1)
        mostly = share >= 0.9
        assign(final & ~mostly & only_final_run & (final_run == 1), f"new_{kind}")
        assign(final & ~mostly & only_final_run & (final_run >= 2), f"consecutive_{kind}")
        assign(final & mostly & (trend == rising), f"intensifying_{kind}")
        assign(final & mostly & (trend == 0), f"persistent_{kind}")
        assign(final & mostly & (trend == -rising), f"diminishing_{kind}")
        assign(final & ~mostly & ~other.any(axis=1), f"sporadic_{kind}")
        assign(final & ~mostly & other.any(axis=1), f"oscillating_{kind}")
    for kind, this in (("hot", hot), ("cold", cold)):
        assign(~this[:, -1] & (this.sum(axis=1) / t >= 0.9), f"historical_{kind}")
    return out
