"""The statistics behind the report's analysis: did a count change more than chance allows?

**Rate change.** Two counts of incidents, `a` in a window of length `t_a` and `b` in one of
length `t_b`, are modelled as Poisson with rates λ_a, λ_b. Given the total n = a + b, `a`
is Binomial(n, π) with π = t_a λ_a / (t_a λ_a + t_b λ_b); under "no change" (λ_a = λ_b)
π = t_a / (t_a + t_b). The exact binomial test of that π is the exact conditional test
of equal Poisson rates (Przyborowski & Wilenski 1940), and the Clopper–Pearson interval
of π turns into an interval for the rate ratio λ_a/λ_b = (π / (1 − π)) · (t_b / t_a).

**Share change.** The share of incidents after dark in two windows: Fisher's exact test
on the 2 × 2 table (dark, not dark) × (window a, window b).

**Many tests at once.** A report tests every category group; with six groups one
"significant" result at 5 % comes by chance about a quarter of the time. p-values of one
family are adjusted with Holm's step-down method, which controls the family-wise error
without assuming independence, and a finding is stated as significant only after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Significance level of the report's statements.
ALPHA = 0.05
#: Below this many incidents in both windows together, no test is run (too little to say).
MIN_TOTAL = 10


@dataclass(frozen=True)
class RateTest:
    a: int
    b: int
    p_value: float | None
    rate_ratio: float | None
    ci_low: float | None
    ci_high: float | None

    def to_json(self) -> dict[str, float | int | None]:
        return {"a": self.a, "b": self.b, "p_value": _round(self.p_value, 6), "rate_ratio": _round(self.rate_ratio, 4),
                "ci_low": _round(self.ci_low, 4), "ci_high": _round(self.ci_high, 4)}


def rate_test(a: float | None, b: float | None, t_a: float = 1.0, t_b: float = 1.0, min_total: int = MIN_TOTAL) -> RateTest | None:
    """Exact conditional test of equal Poisson rates; None when a count is missing or the total is too small."""
    if a is None or b is None or np.isnan(a) or np.isnan(b):
        return None
    a, b = int(a), int(b)
    n = a + b
    if n < min_total:
        return None
    share = t_a / (t_a + t_b)
    result = stats.binomtest(a, n, share)
    low, high = result.proportion_ci(confidence_level=0.95, method="exact")
    scale = t_b / t_a
    return RateTest(a, b, float(result.pvalue), _ratio(a / n, scale), _ratio(low, scale), _ratio(high, scale))


def _ratio(pi: float, scale: float) -> float | None:
    return None if pi >= 1.0 else float(pi / (1.0 - pi) * scale)


def share_test(yes_a: float | None, n_a: float | None, yes_b: float | None, n_b: float | None) -> float | None:
    """Two-sided p of Fisher's exact test that a share is the same in two windows."""
    values = [yes_a, n_a, yes_b, n_b]
    if any(v is None or np.isnan(v) for v in values):
        return None
    yes_a, n_a, yes_b, n_b = (int(v) for v in values if v is not None)
    if n_a == 0 or n_b == 0 or n_a + n_b < MIN_TOTAL:
        return None
    return float(stats.fisher_exact([[yes_a, n_a - yes_a], [yes_b, n_b - yes_b]]).pvalue)


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (None stays None and does not count as a test)."""
    present = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    m = len(present)
    running = 0.0
    given = {i: float(p) for i, p in enumerate(p_values) if p is not None}
    for rank, i in enumerate(sorted(present, key=given.__getitem__)):
        running = max(running, min(1.0, (m - rank) * given[i]))
        adjusted[i] = running
    return adjusted


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
