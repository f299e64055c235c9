"""Fitting over data that arrive in chunks: iterators, memmaps and Dask arrays."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .estimator import StochasticQuantization


def iter_row_chunks(X: Any, chunk_rows: int) -> Iterator[np.ndarray]:
    """Yield consecutive row blocks of an array-like (a memmap is read block by block).

    A Dask array yields its computed row blocks instead, in order, one at a time.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if hasattr(X, "to_delayed") and hasattr(X, "chunks"):
        # Dask: one row block in memory at a time; chunk_rows does not apply.
        if X.ndim != 2 or X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        for block in X.to_delayed()[:, 0]:
            yield np.asarray(block.compute())
        return
    for start in range(0, X.shape[0], chunk_rows):
        yield X[start : start + chunk_rows]


def fit_chunks(
    model: StochasticQuantization,
    chunks: Iterable[Any],
    *,
    sample_weights: Iterable[Any] | None = None,
) -> StochasticQuantization:
    """Run ``model.partial_fit`` over each chunk in turn and return the model.

    Memory beyond the model is one chunk at a time. For a memmap or a Dask array, pass
    ``iter_row_chunks(X, chunk_rows)``. With ``sampling="sequential"`` the result equals one
    pass of ``fit`` over the concatenated chunks (with the same initial centres).

    Parameters
    ----------
    model : StochasticQuantization
        Fitted or not; an unfitted model initialises from the first chunk.
    chunks : iterable of array-like of shape (n_chunk_samples, n_features)
    sample_weights : iterable of array-like of shape (n_chunk_samples,), optional
        One weight array per chunk.
    """
    weights = iter(sample_weights) if sample_weights is not None else None
    for chunk in chunks:
        weight = next(weights) if weights is not None else None
        model.partial_fit(chunk, sample_weight=weight)
    return model
