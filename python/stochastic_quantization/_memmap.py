"""Bounded resident memory for passes over memmaps larger than RAM."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

# Bytes of X per chunk of a full pass; after each chunk a memmap's pages are released.
CHUNK_BYTES = 1 << 28


def release_mapped_pages(X: np.ndarray) -> None:
    """Drop the pages of a file-backed memmap under X from this process's resident set.

    The pages stay in the kernel's page cache, so reading them again costs a minor fault. Only
    shared mappings (modes "r", "r+", "w+") are released: for a copy-on-write memmap (mode "c")
    dropping pages would discard the caller's writes. Other arrays are left alone.
    """
    array = X
    while isinstance(array, np.ndarray) and not isinstance(array, np.memmap):
        array = array.base
    if not isinstance(array, np.memmap) or array.mode not in ("r", "r+", "w+"):
        return
    handle = getattr(array, "_mmap", None)
    if handle is None and isinstance(array.base, mmap.mmap):
        handle = array.base
    if handle is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    handle.madvise(mmap.MADV_DONTNEED)


def row_chunks(X: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row, rows) of X in chunks of about CHUNK_BYTES, releasing memmap pages."""
    row_bytes = max(1, X.itemsize * int(np.prod(X.shape[1:], dtype=np.int64)))
    rows = max(1, CHUNK_BYTES // row_bytes)
    if X.shape[0] <= rows:
        yield 0, X
        return
    for start in range(0, X.shape[0], rows):
        yield start, X[start : start + rows]
        release_mapped_pages(X)


def take_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return a C-contiguous copy of X[rows] for sorted row indices, reading chunk by chunk.

    Scattered reads of a memmap map whole neighbourhoods of each row (kernel fault-around and
    readahead), so gathering rows across a large file at once can map most of it. Releasing the
    pages after each chunk keeps the resident set near one chunk.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if X.shape[0] * X.itemsize * int(np.prod(X.shape[1:], dtype=np.int64)) <= CHUNK_BYTES:
        return np.ascontiguousarray(X[rows])
    out = np.empty((len(rows), *X.shape[1:]), dtype=X.dtype)
    for start, chunk in row_chunks(X):
        first, last = np.searchsorted(rows, [start, start + chunk.shape[0]])
        out[first:last] = chunk[rows[first:last] - start]
    return out
