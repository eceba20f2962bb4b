"""H3 index arithmetic shared by the builders (`estgeo.layers`) and the auditor
(`estgeo.audit`), which must not import each other's rooms (docs/architecture.md)."""

from __future__ import annotations

import numpy as np


def h3_parent(cells: np.ndarray, res: int) -> np.ndarray:
    """Parent of each H3 cell at the coarser `res`, by bit operations on the index.

    An H3 cell index holds its resolution in bits 52–55 and one 3-bit digit per finer
    resolution; the parent sets the resolution and fills the digits below it with 7.
    Written by hand because h3-py parents one cell per call (a Python loop over a
    million cells); this is one vectorised expression (tests/layers/test_density.py checks it
    against h3-py).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    res_mask = np.uint64(0xF << 52)
    unused = np.uint64((1 << (3 * (15 - res))) - 1)
    return (cells & ~res_mask) | np.uint64(res << 52) | unused
