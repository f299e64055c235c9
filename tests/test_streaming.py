"""Fitting over chunks: memmaps read block by block and Dask arrays."""

from __future__ import annotations

import numpy as np
import pytest

from stochastic_quantization import StochasticQuantization
from stochastic_quantization.streaming import fit_chunks, iter_row_chunks


def sequential_model(init: np.ndarray) -> StochasticQuantization:
    return StochasticQuantization(
        len(init),
        init=init,
        sampling="sequential",
        learning_rate=0.05,
        schedule="inverse_time",
        decay_t0=300.0,
        max_iter=1,
        tol=None,
    )


def test_memmap_chunks_equal_fit(tmp_path, digits):
    path = tmp_path / "digits.npy"
    np.save(path, digits)
    X = np.load(path, mmap_mode="r")
    init = digits[:8].copy()
    streamed = fit_chunks(sequential_model(init), iter_row_chunks(X, 256))
    whole = sequential_model(init).fit(digits)
    np.testing.assert_allclose(streamed.cluster_centers_, whole.cluster_centers_, rtol=1e-12)


def test_dask_blocks_equal_fit(digits):
    da = pytest.importorskip("dask.array", reason="Dask is the 'distributed' extra")
    X = da.from_array(digits, chunks=(300, 16))
    init = digits[:8].copy()
    streamed = fit_chunks(sequential_model(init), iter_row_chunks(X, 1))
    whole = sequential_model(init).fit(digits)
    np.testing.assert_allclose(streamed.cluster_centers_, whole.cluster_centers_, rtol=1e-12)


def test_chunk_weights_follow_chunks(digits):
    init = digits[:8].copy()
    weights = np.where(np.arange(len(digits)) % 2 == 0, 1.0, 0.0)
    streamed = fit_chunks(
        sequential_model(init),
        iter_row_chunks(digits, 100),
        sample_weights=iter_row_chunks(weights, 100),
    )
    whole = sequential_model(init).fit(digits[::2])
    np.testing.assert_allclose(streamed.cluster_centers_, whole.cluster_centers_, rtol=1e-12)


def test_chunk_rows_must_be_positive(digits):
    with pytest.raises(ValueError, match="chunk_rows must be >= 1"):
        next(iter_row_chunks(digits, 0))
