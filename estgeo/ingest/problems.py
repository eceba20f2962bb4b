"""Problems found in input rows, collected column-wise.

Validation is vectorised, so a problem is not raised per row: each check returns a
mask of bad rows, and `Problems` gathers them as one frame (row position, field, value,
reason, suggestion) that becomes the quarantine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COLUMNS = ["pos", "field", "value", "reason", "suggestion"]


@dataclass
class Problems:
    parts: list[pd.DataFrame] = field(default_factory=list)
    #: Notes about rows that are ingested all the same (e.g. a time in the autumn
    #: daylight-saving overlap, whose window was widened): reported, never quarantined.
    notes: Problems | None = None

    def note(self, mask: np.ndarray | pd.Series, field_name: str, values: pd.Series | None, reason: str | pd.Series) -> None:
        """Record a note (not a problem) for every row where `mask` is true."""
        if self.notes is None:
            self.notes = Problems()
        self.notes.add(mask, field_name, values, reason)

    def add(
        self,
        mask: np.ndarray | pd.Series,
        field_name: str,
        values: pd.Series | Callable[[], pd.Series] | None,
        reason: str | pd.Series | Callable[[], pd.Series],
        suggestion: str | pd.Series | None = None,
    ) -> None:
        """Record `reason` for every row where `mask` is true.

        `values` and `reason` may be callables, so that text built from whole columns is
        only built when some row is actually bad.
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if callable(values):
            values = values()
        assert values is None or isinstance(values, pd.Series)
        if callable(reason):
            reason = reason()
        pos = np.flatnonzero(mask)
        value = (
            values.iloc[pos].astype("string").fillna("").to_numpy(dtype=object)
            if values is not None
            else np.full(len(pos), "", dtype=object)
        )

        def pick(x: str | pd.Series | None) -> np.ndarray:
            if isinstance(x, pd.Series):
                return x.iloc[pos].fillna("").to_numpy(dtype=object)
            return np.full(len(pos), x or "", dtype=object)

        self.parts.append(
            pd.DataFrame(
                {
                    "pos": pos,
                    "field": field_name,
                    "value": value,
                    "reason": pick(reason),
                    "suggestion": pick(suggestion),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        return pd.concat(self.parts, ignore_index=True).sort_values(["pos", "field"], kind="stable")

    def absorb(self, other: Problems, offset: int) -> None:
        """Take over the problems and notes of a slice of rows that starts at row `offset`."""
        self.parts.extend(part.assign(pos=part["pos"] + offset) for part in other.parts)
        if other.notes is not None:
            if self.notes is None:
                self.notes = Problems()
            self.notes.absorb(other.notes, offset)

    def bad_rows(self, n: int) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for part in self.parts:
            mask[part["pos"].to_numpy()] = True
        return mask
