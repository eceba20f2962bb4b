"""Grouping and summing counts by (segment, sub-key) in linear time, for the density table.

The density table's rows are (H3 cell, period) pairs sorted by cell, then period. A
general group-by (sorting a combined key) costs O(n log n) per resolution and period
kind; here the segment (the cell) is a small dense integer and the sub-key (the period)
is a small range, so a counting sort by segment plus a per-segment scratch table of
periods does the same in O(n), and a coarser resolution's rows come from a finer one's
in one pass (a parent's children are consecutive, as H3 parents are monotone in the
index). The kernels are numba-compiled and release the GIL, so a thread can run them
beside Python work.
"""

from __future__ import annotations

import numba
import numpy as np


def group_by_segment(segment: np.ndarray, n_segments: int, sub: np.ndarray, n_sub: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the distinct (segment, sub) pairs, sorted by segment then sub.

    Returns the row of each item and, per row, its segment and sub-key: the same as
    ``np.unique(segment * n_sub + sub, return_inverse=True)``, without the sort.
    """
    segment = np.ascontiguousarray(segment, dtype=np.int64)
    sub = np.ascontiguousarray(sub, dtype=np.int64)
    return _group_by_segment(segment, n_segments, sub, n_sub)


@numba.njit(nogil=True, cache=True)
def _group_by_segment(segment, n_segments, sub, n_sub):  # pragma: no cover - compiled
    n = segment.size
    ptr = np.zeros(n_segments + 1, dtype=np.int64)
    for i in range(n):
        ptr[segment[i] + 1] += 1
    for s in range(n_segments):
        ptr[s + 1] += ptr[s]
    order = np.empty(n, dtype=np.int64)
    fill = ptr[:-1].copy()
    for i in range(n):
        order[fill[segment[i]]] = i
        fill[segment[i]] += 1
    slot = np.full(n_sub, -1, dtype=np.int64)
    seen = np.empty(n_sub, dtype=np.int64)
    row_of_item = np.empty(n, dtype=np.int64)
    row_segment = np.empty(n, dtype=np.int64)
    row_sub = np.empty(n, dtype=np.int64)
    n_rows = 0
    for s in range(n_segments):
        m = 0
        for j in range(ptr[s], ptr[s + 1]):
            k = sub[order[j]]
            if slot[k] < 0:
                slot[k] = 0
                seen[m] = k
                m += 1
        keys = np.sort(seen[:m])
        for j in range(m):
            slot[keys[j]] = n_rows + j
            row_segment[n_rows + j] = s
            row_sub[n_rows + j] = keys[j]
        for j in range(ptr[s], ptr[s + 1]):
            row_of_item[order[j]] = slot[sub[order[j]]]
        for j in range(m):
            slot[keys[j]] = -1
        n_rows += m
    return row_of_item, row_segment[:n_rows].copy(), row_sub[:n_rows].copy()


def sum_rows(values: np.ndarray, row: np.ndarray, n_rows: int) -> np.ndarray:
    """Sum of the rows of `values` (items × columns, int32) that share a `row`."""
    return _sum_rows(np.ascontiguousarray(values, dtype=np.int32), np.ascontiguousarray(row, dtype=np.int64), n_rows)


@numba.njit(nogil=True, cache=True)
def _sum_rows(values, row, n_rows):  # pragma: no cover - compiled
    out = np.zeros((n_rows, values.shape[1]), dtype=np.int32)
    for i in range(row.size):
        r = row[i]
        for j in range(values.shape[1]):
            out[r, j] += values[i, j]
    return out
