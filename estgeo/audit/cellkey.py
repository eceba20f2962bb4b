"""The Cell Key Method: every published count is perturbed, deterministically, by its records.

As Statistics Sweden (from 2025), the ABS (TableBuilder) and the UK 2021 census do it:

* every record has a fixed random **record key**, a 32-bit number. Here it is not stored:
  it is a keyed hash (SipHash-2-4, through pandas' vectorised `hash_pandas_object`) of
  the record's id under the installation's secret, so the same incident has the same key
  in every build, and no one without the secret can compute it;
* a published count's **cell key** is the sum of the keys of the records it counts,
  modulo 2³², read as a fraction u ∈ [0, 1). The same set of records always gives the
  same cell key, whatever collection, resolution or period shows it: the same count is
  shown the same everywhere, and asking again (or through another collection) gives the
  same value, so repeating a query averages nothing away;
* a **perturbation table** (data: `config/perturbation.csv`) gives, for a true count i, the
  probabilities of each perturbation −D … D; u picks one through the cumulative
  probabilities. A true 0 stays 0 (no incidents are invented where there are none); every
  other count may move by up to D, unbiased, with the table's variance. Counts ≥ D all use
  the row of D.

The table is made by `generate` (maximum entropy under the constraints: probabilities sum
to 1, mean perturbation 0, variance V, the perturbed count ≥ 0), which is what the
`ptable` R package (sdcTools) computes for this purpose; it is written here because no
Python package offers it and it is 30 lines over scipy.

Why D = 8 for the default threshold 5: the audit's protection rule wants the attacker
unable to tell 1 from `min_count` − 1 for every small count, from everything published
together. A published row says its true total is ≥ 1 (rows exist only where there are
incidents), and the tables publish sums (categories, light conditions, child cells, weeks
in months): a parent pushed to the bottom of its range fixes children at their lower
bounds. On the demo (1.6 million published counts, 380,162 of them 1–4), D = 4 left 46,083
small counts known to ±1 (14,723 even without the existence bound); D = 8 with the same
variance left none. Large steps are possible but rare (the variance is 2: mean
|perturbation| about 1 on a non-zero count); making them more likely (a floor of 0.1 % on
every step) made more parents hit the bottom, and 318 small counts exposed. What is left
exposed in a build the density builder withholds (`estgeo.audit.density.protect_perturbed`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd

KEY_SPACE = 2**32


@dataclass(frozen=True)
class PerturbationTable:
    """Rows i = 0 … D: probabilities of perturbations −D … D (columns)."""

    max_perturbation: int
    probabilities: np.ndarray  # (D + 1) × (2D + 1)

    @property
    def cumulative(self) -> np.ndarray:
        cum = np.cumsum(self.probabilities, axis=1)
        cum[:, -1] = 1.0
        return cum

    @property
    def variance(self) -> np.ndarray:
        d = np.arange(-self.max_perturbation, self.max_perturbation + 1)
        return (self.probabilities * d**2).sum(axis=1)

    def perturb(self, counts: np.ndarray, cell_keys: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Published values of true `counts` whose records' keys sum (mod 2³²) to `cell_keys`:
        u = key / 2³² picks the perturbation as the number of the row's cumulative
        probabilities (all but the last) that u has passed; a true 0 stays 0.

        Compiled, one pass per count, and into `out` when given (`out` may be `counts`
        itself): the density's table of a million incidents (128 million counts) took
        33 s and 6.6 GB of temporaries as 16 whole-array numpy passes (a float per count
        for u, a gather of the cumulative row per pass), which put the build's peak
        there; compiled it takes 0.1 s and nothing beyond `out`. The same
        float comparisons give the same values (a test holds it to the numpy form).
        """
        counts = np.asarray(counts)
        keys = np.asarray(cell_keys)
        if keys.dtype != np.uint32:
            keys = keys.astype(np.uint32)
        if keys.shape != counts.shape:
            raise ValueError(f"{counts.shape} counts but {keys.shape} cell keys")
        if out is None:
            out = np.empty(counts.shape, dtype=counts.dtype if counts.dtype.kind in "iu" else np.int64)
        elif out.shape != counts.shape or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous array of the counts' shape")
        _perturb(counts.reshape(-1), keys.reshape(-1), np.ascontiguousarray(self.cumulative[:, :-1]),
                 self.max_perturbation, out.reshape(-1))
        return out

    def offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """The support as offsets: a published value v (values past the end share the last
        entry, ±D) comes from a true count in [v + lo[v], v + hi[v]]."""
        d = self.max_perturbation
        top = 4 * d + 1
        lo_small = np.full(top, -1, dtype=np.int64)
        hi_small = np.full(top, -1, dtype=np.int64)
        for i in range(top + d):
            row = self.probabilities[min(i, d)]
            for j, p in enumerate(row):
                v = 0 if i == 0 else i + j - d
                if i == 0 and j != d:
                    continue
                if p > 0 and 0 <= v < top:
                    lo_small[v] = i if lo_small[v] < 0 else min(lo_small[v], i)
                    hi_small[v] = max(hi_small[v], i)
        values = np.arange(top + 1)
        return np.append(lo_small - values[:top], -d), np.append(hi_small - values[:top], d)

    def support(self, published: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The true counts that could have been published as each value: [lo, hi]."""
        published = np.asarray(published, dtype=np.int64)
        # One lookup of an offset per count, not whole-array selections: 1.8 s → 0.3 s for
        # the 38 million counts of 200,000 incidents.
        off_lo, off_hi = self.offsets()
        at = np.clip(published, 0, off_lo.size - 1)
        return published + off_lo[at], published + off_hi[at]

    def bounds(self, published: np.ndarray, withheld: np.ndarray, lower: np.ndarray,
               none: int) -> tuple[np.ndarray, np.ndarray]:
        """The audit's bounds of each true count of a table (int32, `none`: no upper bound):
        a published one within its value's support, a withheld one at least 0; a row's
        total (column 0) at least `lower`, per row (its existence). One compiled pass:
        `support` and float tables took 2.4 s and 5 × 8 bytes a count at 200,000
        incidents (1.2 s and 8 bytes now); a test holds it to `support`."""
        off_lo, off_hi = self.offsets()
        values = np.ascontiguousarray(published)
        if values.shape != withheld.shape or lower.shape != values.shape[:1]:
            raise ValueError("bounds: the published values, withheld mask and lower bounds per row differ in shape")
        lo = np.empty(values.shape, dtype=np.int32)
        hi = np.empty(values.shape, dtype=np.int32)
        _bounds(values, np.ascontiguousarray(withheld, dtype=np.bool_), np.ascontiguousarray(lower), off_lo, off_hi,
                none, lo, hi)
        return lo, hi

    def to_csv(self, path: Path) -> None:
        d = self.max_perturbation
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["count", "perturbation", "probability"])
            for i in range(d + 1):
                for j in range(2 * d + 1):
                    if self.probabilities[i, j] > 0:
                        out.writerow([f"{i}" if i < d else f"{i}+", j - d, f"{self.probabilities[i, j]:.10f}"])

    @classmethod
    def from_csv(cls, path: Path) -> PerturbationTable:
        """Read `config/perturbation.csv`; a broken table is an error naming the row."""
        rows = list(csv.DictReader(open(path, encoding="utf-8")))
        if not rows:
            raise ValueError(f"{path}: no rows")
        try:
            d = max(int(r["count"].rstrip("+")) for r in rows)
            probs = np.zeros((d + 1, 2 * d + 1))
            for n, r in enumerate(rows, start=2):
                i, j, p = int(r["count"].rstrip("+")), int(r["perturbation"]), float(r["probability"])
                if abs(j) > d or i + j < 0 or p < 0:
                    raise ValueError(f"{path}, row {n}: count {r['count']}, perturbation {j} is outside the table")
                probs[i, j + d] = p
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: columns count, perturbation, probability are needed ({e})") from None
        sums = probs.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            bad = int(np.flatnonzero(~np.isclose(sums, 1.0, atol=1e-6))[0])
            raise ValueError(f"{path}: the probabilities of count {bad} sum to {sums[bad]:.6f}, not 1")
        if probs[0, d] != 1.0:
            raise ValueError(f"{path}: a count of 0 must stay 0 (perturbation 0 with probability 1)")
        return cls(d, probs / sums[:, None])


def generate(max_perturbation: int = 8, variance: float = 2.0, floor: float = 1e-6) -> PerturbationTable:
    """The maximum-entropy table (module docstring), every step of the support at least
    `floor` probable. Where the variance cannot be reached, the row takes the largest it can."""
    d = max_perturbation
    probs = np.zeros((d + 1, 2 * d + 1))
    probs[0, d] = 1.0
    for i in range(1, d + 1):
        steps = np.arange(-min(i, d), d + 1).astype(np.float64)
        v = variance
        result = _max_entropy(steps, v, floor)
        while not result.success and v > 0.1:
            v *= 0.9
            result = _max_entropy(steps, v, floor)
        if not result.success:
            raise ValueError(f"no perturbation table with D = {d} for count {i}: {result.message}")
        p = np.clip(result.x, 0.0, None)
        probs[i, d - min(i, d):] = p / p.sum()
    return PerturbationTable(d, probs)


def _max_entropy(steps: np.ndarray, variance: float, floor: float):
    """The distribution over `steps` with the largest entropy, mean 0 and `variance`."""
    from scipy.optimize import minimize

    def neg_entropy(p: np.ndarray) -> float:
        q = np.clip(p, 1e-15, 1.0)
        return float(np.sum(q * np.log(q)))

    cons = [{"type": "eq", "fun": lambda p: p.sum() - 1.0},
            {"type": "eq", "fun": lambda p: p @ steps},
            {"type": "eq", "fun": lambda p: p @ steps**2 - variance}]
    n = steps.size
    return minimize(neg_entropy, np.full(n, 1.0 / n), constraints=cons, bounds=[(floor, 1.0)] * n,
                    method="SLSQP", options={"maxiter": 500, "ftol": 1e-12})


def record_keys(ids: pd.Series | np.ndarray, secret: str) -> np.ndarray:
    """The record key (uint32) of each record id under `secret` (16 ASCII characters)."""
    values = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    hashed = pd.util.hash_pandas_object(values, index=False, hash_key=secret).to_numpy(dtype=np.uint64)
    return (hashed >> np.uint64(32)).astype(np.uint32)


def key_sums(group: np.ndarray, keys: np.ndarray, n_groups: int) -> np.ndarray:
    """Cell keys: per group, the sum of its records' keys modulo 2³² (uint32)."""
    out = np.zeros(n_groups, dtype=np.uint64)
    if len(group):
        np.add.at(out, np.asarray(group, dtype=np.intp), np.asarray(keys, dtype=np.uint64))
    return (out & np.uint64(KEY_SPACE - 1)).astype(np.uint32)


@numba.njit(cache=True, nogil=True, parallel=True)
def _perturb(counts, keys, cum, d, out):  # pragma: no cover - compiled
    for i in numba.prange(counts.size):
        c = np.int64(counts[i])
        if c <= 0:
            out[i] = 0
            continue
        row = min(c, d)
        u = np.float64(keys[i]) / KEY_SPACE
        step = 0
        for j in range(cum.shape[1]):
            if u >= cum[row, j]:
                step += 1
        out[i] = c + step - d


@numba.njit(cache=True, nogil=True, parallel=True)
def _bounds(values, withheld, lower, off_lo, off_hi, none, lo, hi):  # pragma: no cover - compiled
    n, w = values.shape
    last = off_lo.size - 1
    for i in numba.prange(n):
        for j in range(w):
            floor = np.int64(np.ceil(lower[i] - 1e-7)) if j == 0 else np.int64(0)
            if withheld[i, j]:
                lo[i, j] = max(floor, 0)
                hi[i, j] = none
            else:
                v = np.int64(np.rint(values[i, j]))
                at = min(max(v, 0), last)
                lo[i, j] = max(v + off_lo[at], floor)
                hi[i, j] = v + off_hi[at]
