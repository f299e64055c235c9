"""Validated entry points to the compiled kernels, for callers that need them without the estimator.

The compiled module (``stochastic_quantization._kernels.core``) takes exact dtypes and layouts and
assumes finite input; these wrappers check and convert the arguments once, with the same rules and
messages as :class:`~stochastic_quantization.StochasticQuantization`, and then call it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from . import _validation as checks
from ._kernels import core
from ._state import resolve_threads

__all__ = ["assign", "kmeans_plusplus"]


def _check_n_jobs(n_jobs: int | None) -> int:
    if n_jobs is not None:
        checks.check_number("n_jobs", n_jobs, integer=True)
        if n_jobs == 0:
            raise ValueError("n_jobs must be a positive integer, -1 or None, got 0")
    return resolve_threads(n_jobs)


def assign(X: Any, centers: Any, *, n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Find the nearest centre of every sample (ties go to the lowest index).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples; C-contiguous float32 and float64 arrays are used as they are, other input is
        converted once (bool and integers to float64).
    centers : array-like of shape (n_clusters, n_features)
        Centres, converted to the dtype of X.
    n_jobs : int or None, default=None
        Threads; None or -1 uses all cores. Results do not depend on it.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
    squared_distances : ndarray of shape (n_samples,), dtype of X
        Squared Euclidean distance of each sample to its nearest centre.
    """
    n_threads = _check_n_jobs(n_jobs)
    X = checks.check_samples("X", X)
    centers = checks.check_samples("centers", centers)
    if centers.shape[1] != X.shape[1]:
        raise ValueError(
            f"centers must have as many features as X ({X.shape[1]}), got {centers.shape[1]}"
        )
    if centers.dtype != X.dtype:
        checks.check_range("centers", centers, X.dtype)
        centers = centers.astype(X.dtype)
    return core.assign(X, centers, n_threads)


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    n_local_trials: int | None = None,
    random_state: Any = None,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose initial centres by greedy k-means++, as the estimator does for init="k-means++".

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples, converted as in :func:`assign`.
    n_clusters : int
        Number of centres, in [1, number of samples with positive weight].
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights; draws are proportional to them.
    n_local_trials : int or None, default=None
        Candidates per centre; None uses 2 + floor(ln n_clusters).
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), dtype of X
    indices : ndarray of shape (n_clusters,), int64
        Rows of X the centres were taken from.
    """
    n_threads = _check_n_jobs(n_jobs)
    checks.check_number("n_clusters", n_clusters, low=1, integer=True)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    checks.check_number("n_local_trials", n_local_trials, low=1, integer=True)
    X = checks.check_samples("X", X)
    weights = checks.check_sample_weight(sample_weight, X.shape[0], X.dtype)
    positive = X.shape[0] if weights is None else int(np.count_nonzero(weights))
    if n_clusters > positive:
        what = "n_samples" if weights is None else "the number of samples with positive weight"
        raise ValueError(f"n_clusters must be <= {what} = {positive}, got n_clusters={n_clusters}")

    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    uniforms = rng.random(1 + (n_clusters - 1) * n_local_trials)
    indices = core.kmeans_plusplus(X, weights, n_clusters, uniforms, n_local_trials, n_threads)
    return X[indices].copy(), indices
