"""Grouping and summing counts by (segment, sub-key) in linear time, for the density table.

The density table's rows are (H3 cell, period) pairs sorted by cell, then period. A
general group-by (sorting a combined key) costs O(n log n) per resolution and period
kind; here the items are sorted by cell once, and the sub-key (the period) is a small
range, so a per-cell scratch table of periods groups them in O(n). A coarser
resolution's rows come from a finer one's in one pass the same way: a parent's children
are consecutive, as H3 parents are monotone in the index. The kernels are numba-compiled and release the GIL, so a thread can run them
beside Python work.
"""

from __future__ import annotations

import numba
import numpy as np


def unique(values: np.ndarray) -> np.ndarray:
    """Sorted unique values, as ``np.unique``: by a sort and a comparison of neighbours.
    numpy 2's ``np.unique`` goes through a hash table, many times slower on the
    millions of integer keys here."""
    ordered = np.sort(np.asarray(values).ravel())
    if ordered.size < 2:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def group_by_segment(segment: np.ndarray, sub: np.ndarray, n_sub: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the distinct (segment, sub) pairs, sorted by segment then sub.

    Returns the row of each item and, per row, its segment and sub-key: the same as
    ``np.unique(segment * n_sub + sub, return_inverse=True)``. Sorted segments (the
    usual case here) need no sort at all; others are sorted first.
    """
    segment = np.ascontiguousarray(segment, dtype=np.int64)
    sub = np.ascontiguousarray(sub, dtype=np.int64)
    if segment.size < 2 or not (segment[1:] < segment[:-1]).any():
        return _group_sorted(segment, sub, n_sub)
    order = np.argsort(segment, kind="stable")
    row_of_sorted, row_segment, row_sub = _group_sorted(segment[order], sub[order], n_sub)
    row_of_item = np.empty_like(row_of_sorted)
    row_of_item[order] = row_of_sorted
    return row_of_item, row_segment, row_sub


@numba.njit(nogil=True, cache=True)
def _group_sorted(segment, sub, n_sub):  # pragma: no cover - compiled
    """`group_by_segment` on sorted segments: a scratch table of sub-keys per segment."""
    n = segment.size
    slot = np.full(n_sub, -1, dtype=np.int64)
    seen = np.empty(n_sub, dtype=np.int64)
    row_of_item = np.empty(n, dtype=np.int64)
    row_segment = np.empty(n, dtype=np.int64)
    row_sub = np.empty(n, dtype=np.int64)
    n_rows = 0
    lo = 0
    while lo < n:
        hi = lo
        while hi < n and segment[hi] == segment[lo]:
            hi += 1
        m = 0
        for j in range(lo, hi):
            k = sub[j]
            if slot[k] < 0:
                slot[k] = 0
                seen[m] = k
                m += 1
        _insertion_sort(seen, m)  # a cell has few periods: cheaper than np.sort's new array
        for j in range(m):
            slot[seen[j]] = n_rows + j
            row_segment[n_rows + j] = segment[lo]
            row_sub[n_rows + j] = seen[j]
        for j in range(lo, hi):
            row_of_item[j] = slot[sub[j]]
        for j in range(m):
            slot[seen[j]] = -1
        n_rows += m
        lo = hi
    return row_of_item, row_segment[:n_rows].copy(), row_sub[:n_rows].copy()


@numba.njit(nogil=True, cache=True, inline="always")
def _insertion_sort(a, m):  # pragma: no cover - compiled
    for i in range(1, m):
        v = a[i]
        j = i - 1
        while j >= 0 and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


def sum_rows(values: np.ndarray, row: np.ndarray, n_rows: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Sum of the rows of `values` (items × columns, int32) that share a `row`; written
    into `out` (C-contiguous int32, rows × columns) when given."""
    if out is None:
        if n_rows is None:
            raise ValueError("sum_rows: give n_rows or out")
        out = np.empty((n_rows, values.shape[1]), dtype=np.int32)
    _sum_rows(np.ascontiguousarray(values, dtype=np.int32), np.ascontiguousarray(row, dtype=np.int64), out)
    return out


@numba.njit(nogil=True, cache=True)
def _sum_rows(values, row, out):  # pragma: no cover - compiled
    out[:] = 0
    for i in range(row.size):
        r = row[i]
        for j in range(values.shape[1]):
            out[r, j] += values[i, j]
