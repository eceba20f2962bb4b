"""How a layer publishes a count of incidents: `privacy.method` in config/estgeo.yml.

Two methods behind one `Disclosure` protocol, so a builder says "publish these counts"
and not how:

* ``cell-key`` (the default): every count is published, perturbed by the Cell Key Method
  (`estgeo.audit.cellkey`): small counts are never exact, none is blank on the map, and
  the same incidents always give the same value. The builder needs, besides each count,
  its cell key: the sum of the record keys of the incidents it counts (`key_sums`).
* ``suppression``: counts from 1 to ``min_count − 1`` are published as null with
  ``suppressed = true``; the density layers add secondary suppression
  (`estgeo.layers.privacy`), and with ``privacy.rows: grid`` rows whose existence tells
  nothing.

Both are audited the same way by `estgeo privacy audit` (`estgeo.build.audit`).
Everything a builder derives from a count (a change, a share, a score, a flag) is
computed from the published value, never from the true one: a derived column is the
count in disguise otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from estgeo.audit import cellkey
from estgeo.config import PRIVACY_METHODS, Settings
from estgeo.layers import privacy

METHODS = PRIVACY_METHODS


class Disclosure(Protocol):
    method: str
    min_count: int

    def keys(self, ids: pd.Series | np.ndarray) -> np.ndarray | None:
        """Record keys of incidents by id (cell-key); None when the method needs none."""
        ...

    def publish(self, counts: np.ndarray, cell_keys: np.ndarray | None,
                also_withheld: np.ndarray | None = None) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
        """Counts as published (nullable integers) and the mask of the withheld ones."""
        ...

    def score_value(self, published: pd.arrays.IntegerArray) -> np.ndarray:
        """What a score or a rank uses for a published count (a stand-in where withheld)."""
        ...

    def at_least(self, min_count: int) -> Disclosure:
        """The same method for a layer that protects more (a larger `min_count`)."""
        ...


@dataclass
class Suppression:
    min_count: int
    method: str = "suppression"

    def keys(self, ids: pd.Series | np.ndarray) -> np.ndarray | None:
        return None

    def publish(self, counts: np.ndarray, cell_keys: np.ndarray | None,
                also_withheld: np.ndarray | None = None) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
        values = np.asarray(counts, dtype=np.int64)
        hidden = (values > 0) & (values < self.min_count)
        if also_withheld is not None:
            hidden |= also_withheld
        return pd.arrays.IntegerArray(values, hidden.copy()), hidden

    def score_value(self, published: pd.arrays.IntegerArray) -> np.ndarray:
        return published.to_numpy(dtype=np.float64, na_value=privacy.stand_in(self.min_count))

    def at_least(self, min_count: int) -> Suppression:
        return dataclasses.replace(self, min_count=max(self.min_count, min_count))


@dataclass
class CellKey:
    min_count: int
    table: cellkey.PerturbationTable
    secret: str
    method: str = "cell-key"

    def keys(self, ids: pd.Series | np.ndarray) -> np.ndarray:
        return cellkey.record_keys(ids, self.secret)

    def publish(self, counts: np.ndarray, cell_keys: np.ndarray | None,
                also_withheld: np.ndarray | None = None) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
        if cell_keys is None:
            raise ValueError("privacy.method cell-key: a count needs its cell key (the sum of its records' keys)")
        values = self.table.perturb(np.asarray(counts, dtype=np.int64), cell_keys)  # int64
        # A count another layer withholds (the density's few, `protect_perturbed`) is
        # withheld here too: the same records give the same value, which would show it.
        hidden = np.zeros(values.shape, dtype=bool) if also_withheld is None else np.asarray(also_withheld, dtype=bool).copy()
        return pd.arrays.IntegerArray(values, hidden.copy()), hidden

    def score_value(self, published: pd.arrays.IntegerArray) -> np.ndarray:
        return published.to_numpy(dtype=np.float64, na_value=0.0)

    def at_least(self, min_count: int) -> CellKey:
        # The perturbation table was checked against the configured threshold; a layer's
        # larger one asks for a wider table (perturbation_table says so at the build).
        if min_count - 1 > self.table.max_perturbation:
            raise ValueError(f"a layer asks for min_count {min_count}: the perturbation table's largest perturbation "
                             f"{self.table.max_perturbation} must then be at least {min_count - 1}")
        return dataclasses.replace(self, min_count=max(self.min_count, min_count))


def method(settings: Settings) -> str:
    return settings.privacy_method


def perturbation_table(settings: Settings) -> cellkey.PerturbationTable:
    cfg = settings.project.get("privacy") or {}
    path = settings.config_dir / str(cfg.get("perturbation_table", "perturbation.csv"))
    if not path.exists():
        raise ValueError(f"privacy.method cell-key: the perturbation table {path} is missing "
                         f"(`estgeo privacy ptable -o {path}` writes one)")
    table = cellkey.PerturbationTable.from_csv(path)
    need = settings.privacy_min_count - 1
    if table.max_perturbation < need:
        raise ValueError(f"{path}: the largest perturbation is {table.max_perturbation}; with privacy.min_count "
                         f"{settings.privacy_min_count} it must be at least {need}, or a published 0 on a row "
                         f"tells 1 from {need}")
    return table


def secret_path(settings: Settings) -> Path:
    return settings.workspace / "privacy" / "cell-key.secret"


def secret(settings: Settings, create: bool = True) -> str:
    """The installation's cell-key secret: 16 random characters in
    `<workspace>/privacy/cell-key.secret` (mode 0600), made at the first build. Keep it
    with the store: with a new secret every published count moves once, and someone who
    could compare the two builds would average the noise away."""
    path = secret_path(settings)
    if path.exists():
        value = path.read_text(encoding="ascii").strip()
        if len(value) != 16 or not value.isascii():
            raise ValueError(f"{path}: a cell-key secret is 16 ASCII characters")
        return value
    if not create:
        raise ValueError(f"{path} is missing: the build that published these counts made it")
    alphabet = string.ascii_letters + string.digits
    return write_secret(settings, "".join(secrets.choice(alphabet) for _ in range(16)))


def write_secret(settings: Settings, value: str) -> str:
    """Keep `value` as the installation's secret unless there is one already (which wins)."""
    path = secret_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another build made it first
        return secret(settings, create=False)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
    return value


def from_settings(settings: Settings, create_secret: bool = True) -> Disclosure:
    if method(settings) == "suppression":
        return Suppression(settings.privacy_min_count)
    return CellKey(settings.privacy_min_count, perturbation_table(settings), secret(settings, create_secret))


def key_sums(group: np.ndarray, keys: np.ndarray | None, n_groups: int) -> np.ndarray | None:
    """Cell keys of counts made by counting `group` (one entry per counted incident)."""
    if keys is None:
        return None
    return cellkey.key_sums(group, keys, n_groups)
