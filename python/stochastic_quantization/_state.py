"""Fit state held in NumPy arrays, initial centres and sample orders for the estimator.

The C++ core updates the state arrays in place; keeping them here (not in a C++ object) makes a
fitted model picklable and lets a fit be rolled back by working on a copy.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._kernels import core
from ._memmap import release_mapped_pages, take_rows

OPTIMIZERS = ("sgd", "momentum", "nag", "adagrad", "rmsprop", "adam")
SCHEDULES = ("constant", "inverse_time", "count")
SAMPLINGS = ("permutation", "replacement", "sequential")
ADAPTIVE = ("adagrad", "rmsprop", "adam")
STATE_ARRAYS = {"sgd": 0, "momentum": 1, "nag": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}

# Defaults for schedule="auto" and learning_rate="auto", chosen on scikit-learn's digits (5 seeds,
# 10 centres, loss against KMeans): the count schedule for the momentum-free and heavy-ball
# rules, AdaGrad's own decay with a constant rate, and 1/t decay over epochs for RMSProp and Adam.
AUTO_SCHEDULES = {
    "sgd": "count",
    "momentum": "count",
    "nag": "count",
    "adagrad": "constant",
    "rmsprop": "inverse_time",
    "adam": "inverse_time",
}
# Multiples of the data scale s used as rho_0 by the adaptive rules, whose steps have data units.
AUTO_ADAPTIVE_RATES = {"adagrad": 0.1, "rmsprop": 0.03, "adam": 0.03}
# Upper bound on the thread count passed to the core.
MAX_THREADS = 1 << 12
# k-means++ runs on a uniform subsample of this many rows (at least 64 per centre) when X has
# more: its cost is O(n K log K d), and on 1M-row blobs the potential over all of X of centres
# drawn from 131,072 rows matches that of centres drawn from all rows (bench/init.py).
KMEANS_PLUSPLUS_SUBSAMPLE = 1 << 17

# Samples used to measure the data scale for learning_rate="auto".
SCALE_SUBSAMPLE = 10_000


def resolve_threads(n_jobs: int | None) -> int:
    """Return the thread count for n_jobs: None and -1 mean all cores, -2 all but one, ..."""
    cores = os.cpu_count() or 1
    if n_jobs is None:
        return cores
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    # The core takes a C int; beyond this many threads nothing is gained anyway.
    return min(n_jobs, MAX_THREADS)


# Epochs of more samples than this are generated and run chunk by chunk, so the sample order
# takes O(ORDER_CHUNK) memory (32 MB of int64) instead of O(n_samples).
ORDER_CHUNK = 1 << 22
# Rows per block of the block-shuffled permutation used for those large epochs.
ORDER_BLOCK = 1 << 16


def epoch_chunks(
    sampling: str, rng: np.random.Generator, n_samples: int, weights: np.ndarray | None
) -> Iterator[np.ndarray]:
    """Yield the sample indices of one epoch (int64) in chunks; zero-weight samples are left out.

    Up to ORDER_CHUNK samples the epoch is the single chunk of epoch_order(). Above it,
    "permutation" visits the blocks of ORDER_BLOCK consecutive rows in a random order and the
    rows of each block in a random order: every sample still comes once per epoch, and reads of
    a memmap stay within one block at a time, so an X larger than RAM is read from disk block by
    block. "replacement" and "sequential" draw the same distribution as below the threshold.
    """
    if n_samples <= ORDER_CHUNK:
        yield epoch_order(sampling, rng, n_samples, weights)
        return
    if sampling == "permutation":
        n_blocks = -(-n_samples // ORDER_BLOCK)
        pending: list[np.ndarray] = []
        pending_size = 0
        for block in rng.permutation(n_blocks):
            start = int(block) * ORDER_BLOCK
            rows = start + rng.permutation(min(ORDER_BLOCK, n_samples - start))
            pending.append(rows)
            pending_size += len(rows)
            if pending_size >= ORDER_CHUNK:
                yield _keep_weighted(np.concatenate(pending), weights)
                pending, pending_size = [], 0
        if pending:
            yield _keep_weighted(np.concatenate(pending), weights)
        return
    for start in range(0, n_samples, ORDER_CHUNK):
        size = min(ORDER_CHUNK, n_samples - start)
        if sampling == "replacement":
            chunk = rng.integers(0, n_samples, size=size)
        else:
            chunk = np.arange(start, start + size)
        yield _keep_weighted(chunk, weights)


def streamed_objective(
    X: np.ndarray, weights: np.ndarray | None, centers: np.ndarray, rank: float, n_threads: int
) -> tuple[float, float]:
    """Return (sum_i w_i min_k ||x_i - y_k||^rank, sum_i w_i) over X.

    Above ORDER_CHUNK rows the sums are taken over row chunks of that size, whatever kind of
    array X is, so a memmap and an array give the same bits. A memmap's pages are released
    after each chunk, which bounds the resident set for files larger than RAM.
    """
    if X.shape[0] <= ORDER_CHUNK:
        return core.objective(X, weights, centers, float(rank), n_threads)
    loss_sum = weight_sum = 0.0
    for start in range(0, X.shape[0], ORDER_CHUNK):
        rows = slice(start, start + ORDER_CHUNK)
        chunk_weights = None if weights is None else weights[rows]
        chunk_loss, chunk_weight = core.objective(
            X[rows], chunk_weights, centers, float(rank), n_threads
        )
        loss_sum += chunk_loss
        weight_sum += chunk_weight
        release_mapped_pages(X)
    return loss_sum, weight_sum


def _keep_weighted(order: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    if weights is not None:
        order = order[weights[order] > 0]
    return np.ascontiguousarray(order, dtype=np.int64)


def epoch_order(
    sampling: str, rng: np.random.Generator, n_samples: int, weights: np.ndarray | None
) -> np.ndarray:
    """Return the sample indices of one epoch (int64); zero-weight samples are left out."""
    if sampling == "permutation":
        order = rng.permutation(n_samples)
    elif sampling == "replacement":
        order = rng.integers(0, n_samples, size=n_samples)
    else:
        order = np.arange(n_samples)
    if weights is not None:
        order = order[weights[order] > 0]
    return np.ascontiguousarray(order, dtype=np.int64)


def initial_centers(
    model: Any, X: np.ndarray, weights: np.ndarray | None, rng: np.random.Generator, n_threads: int
) -> np.ndarray:
    """Return the (n_clusters, n_features) initial centres in X's dtype, as a new array."""
    n_clusters = model.n_clusters
    n_samples, n_features = X.shape
    init = model.init
    if not isinstance(init, str):
        centers = np.array(init, dtype=X.dtype, order="C", copy=True)
        if centers.shape != (n_clusters, n_features):
            raise ValueError(
                f"init array must have shape (n_clusters, n_features) = ({n_clusters}, "
                f"{n_features}), got {centers.shape}"
            )
        if not np.all(np.isfinite(centers)):
            raise ValueError("init array must be finite, got NaN or infinity")
        return centers

    positive = n_samples if weights is None else int(np.count_nonzero(weights))
    if n_clusters > positive:
        what = "n_samples" if weights is None else "the number of samples with positive weight"
        raise ValueError(
            f"n_clusters must be <= {what} = {positive}, got n_clusters={n_clusters}; "
            "lower n_clusters or pass more samples"
        )
    if init == "k-means++":
        trials = 2 + int(np.log(n_clusters))
        source, source_weights = X, weights
        subsample = max(KMEANS_PLUSPLUS_SUBSAMPLE, 64 * n_clusters)
        if n_samples > subsample:
            # Rows drawn uniformly without replacement (sorted, so a memmap is read in order);
            # weights come along, so the draws stay proportional to w_i * D_i^2.
            rows = np.sort(rng.choice(n_samples, size=subsample, replace=False, shuffle=False))
            source = take_rows(X, rows)
            source_weights = None if weights is None else np.ascontiguousarray(weights[rows])
            if source_weights is not None and np.count_nonzero(source_weights) < n_clusters:
                source, source_weights = X, weights
        uniforms = rng.random(1 + (n_clusters - 1) * trials)
        indices = core.kmeans_plusplus(
            source, source_weights, n_clusters, uniforms, trials, n_threads
        )
        centers = source[indices].copy()
        # NOTE: on a subsample the distinct count is that of the subsample, a lower bound.
        _warn_few_distinct(centers, weights is not None)
        return centers
    if init == "sample":
        p = None if weights is None else weights.astype(np.float64) / weights.sum(dtype=np.float64)
        indices = np.sort(rng.choice(n_samples, size=n_clusters, replace=False, p=p))
        return take_rows(X, indices)
    support = X if weights is None else X[weights > 0]
    low, high = support.min(axis=0), support.max(axis=0)
    return rng.uniform(low, high, size=(n_clusters, n_features)).astype(X.dtype)


def _warn_few_distinct(centers: np.ndarray, weighted: bool) -> None:
    """Warn when k-means++ had to repeat a point, which happens only when X has fewer distinct
    (positive-weight) points than n_clusters: while a point at positive distance from every
    chosen centre remains, the D^2 draw cannot pick a chosen one."""
    n_clusters = centers.shape[0]
    distinct = len(np.unique(centers, axis=0))
    if distinct < n_clusters:
        what = "distinct points with positive weight" if weighted else "distinct points"
        warnings.warn(
            f"X has only {distinct} {what}, fewer than n_clusters={n_clusters}; "
            f"{n_clusters - distinct} centres duplicate others and receive no samples",
            ConvergenceWarning,
            stacklevel=5,
        )


def _data_box(X: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    support = X if weights is None else X[weights > 0]
    return support.min(axis=0).astype(np.float64), support.max(axis=0).astype(np.float64)


def _projection_box(
    model: Any, X: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    projection = model.projection
    n_features = X.shape[1]
    if projection is None:
        return None, None
    if isinstance(projection, str):
        if projection != "data":
            raise ValueError(
                f"projection must be None, 'data' or (lower, upper), got {projection!r}"
            )
        return _data_box(X, weights)
    try:
        lower, upper = projection
    except (TypeError, ValueError):
        raise ValueError(
            f"projection must be None, 'data' or a pair (lower, upper), got {projection!r}"
        ) from None
    lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n_features,)).copy()
    upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n_features,)).copy()
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ValueError("projection bounds must be finite")
    if np.any(lower > upper):
        raise ValueError(f"projection lower bounds must be <= upper bounds, got {lower} > {upper}")
    return lower, upper


@dataclass
class FitState:
    """Centres, optimizer state and counters of a fit, plus the resolved step-size settings."""

    centers: np.ndarray
    first: np.ndarray
    second: np.ndarray
    averaged: np.ndarray
    updates: np.ndarray
    mass: np.ndarray
    marks: np.ndarray
    step: int
    rate_sum: float
    learning_rate: float
    schedule: str
    decay_t0: float
    lower: np.ndarray | None
    upper: np.ndarray | None

    @classmethod
    def start(
        cls,
        model: Any,
        centers: np.ndarray,
        X: np.ndarray,
        weights: np.ndarray | None,
        n_threads: int,
    ) -> FitState:
        """Return the state at step 0 for the given initial centres."""
        n_clusters = centers.shape[0]
        n_arrays = STATE_ARRAYS[model.optimizer]
        learning_rate = _resolve_learning_rate(model, X, centers, n_threads)
        schedule = model.schedule
        if schedule == "auto":
            schedule = AUTO_SCHEDULES[model.optimizer]
        decay_t0 = float(model.decay_t0) if model.decay_t0 is not None else None
        if decay_t0 is None:
            decay_t0 = max(1.0, X.shape[0] / model.batch_size)
        lower, upper = _projection_box(model, X, weights)
        return cls(
            centers=np.ascontiguousarray(centers),
            first=np.zeros_like(centers) if n_arrays >= 1 else np.empty((0, 0), centers.dtype),
            second=np.zeros_like(centers) if n_arrays >= 2 else np.empty((0, 0), centers.dtype),
            averaged=centers.copy() if model.averaging else np.empty((0, 0), centers.dtype),
            updates=np.zeros(n_clusters, dtype=np.int64),
            mass=np.ones(n_clusters),
            marks=np.zeros(n_clusters),
            step=0,
            rate_sum=0.0,
            learning_rate=learning_rate,
            schedule=schedule,
            decay_t0=decay_t0,
            lower=lower,
            upper=upper,
        )

    def copy(self) -> FitState:
        return copy.deepcopy(self)

    def extend_projection(self, model: Any, X: np.ndarray, weights: np.ndarray | None) -> None:
        """Grow a "data" projection box to cover a new chunk of a stream."""
        if isinstance(model.projection, str) and model.projection == "data":
            low, high = _data_box(X, weights)
            self.lower = np.minimum(self.lower, low)
            self.upper = np.maximum(self.upper, high)

    def output_centers(self) -> np.ndarray:
        """Return the centres the model reports: the averaged ones when averaging is on."""
        source = self.averaged if self.averaged.size else self.centers
        return source.copy()

    def mean_loss(
        self, X: np.ndarray, weights: np.ndarray | None, rank: float, n_threads: int
    ) -> float:
        """Return F(y) over X for the reported centres."""
        loss_sum, weight_sum = streamed_objective(
            X, weights, self.output_centers(), rank, n_threads
        )
        return loss_sum / weight_sum

    def run_epoch(
        self,
        model: Any,
        X: np.ndarray,
        weights: np.ndarray | None,
        rng: np.random.Generator,
        n_threads: int,
    ) -> np.ndarray:
        """Run one epoch of SQ over X in place, chunk by chunk; return the loss log, shape (m, 2).

        Each call of the core gets a whole number of batches (the rest waits for the next
        chunk), so the batches are those of the epoch's order taken in one piece.
        """
        batch_size = int(model.batch_size)
        logs = []
        leftover = np.empty(0, dtype=np.int64)
        for chunk in epoch_chunks(model.sampling, rng, X.shape[0], weights):
            order = np.concatenate([leftover, chunk]) if leftover.size else chunk
            whole = len(order) - len(order) % batch_size
            if whole:
                logs.append(self.run(model, X, weights, order[:whole], n_threads))
                if X.shape[0] > ORDER_CHUNK:
                    release_mapped_pages(X)
            leftover = order[whole:]
        if leftover.size or not logs:
            logs.append(self.run(model, X, weights, np.ascontiguousarray(leftover), n_threads))
        return logs[0] if len(logs) == 1 else np.vstack(logs)

    def run(
        self,
        model: Any,
        X: np.ndarray,
        weights: np.ndarray | None,
        order: np.ndarray,
        n_threads: int,
    ) -> np.ndarray:
        """Run SQ over X[order] in place; return the loss log, shape (m, 2)."""
        self.step, self.rate_sum, log = core.run(
            X,
            weights,
            order,
            self.centers,
            self.first,
            self.second,
            self.averaged,
            self.updates,
            self.mass,
            self.marks,
            self.step,
            self.rate_sum,
            rank=float(model.rank),
            optimizer=model.optimizer,
            momentum=float(model.momentum),
            beta=float(model.beta),
            beta1=float(model.beta1),
            beta2=float(model.beta2),
            epsilon=float(model.epsilon),
            schedule=self.schedule,
            learning_rate=self.learning_rate,
            t0=self.decay_t0,
            power=float(model.decay_power),
            batch_size=int(model.batch_size),
            log_step=int(model.log_step or 0),
            averaging=bool(model.averaging),
            lower=self.lower,
            upper=self.upper,
            n_threads=n_threads,
        )
        return log


def _resolve_learning_rate(model: Any, X: np.ndarray, centers: np.ndarray, n_threads: int) -> float:
    """Return rho_0: the given learning_rate, or the data-scaled default for "auto"."""
    if not isinstance(model.learning_rate, str):
        return float(model.learning_rate)
    stride = max(1, X.shape[0] // SCALE_SUBSAMPLE)
    subsample = take_rows(X, np.arange(0, X.shape[0], stride))
    loss_sum, weight_sum = core.objective(subsample, None, centers, 2.0, n_threads)
    scale = float(np.sqrt(loss_sum / weight_sum))
    if not scale > 0.0:
        scale = 1.0
    if model.optimizer in ADAPTIVE:
        return AUTO_ADAPTIVE_RATES[model.optimizer] * scale
    # The heavy-ball displacement sums up to 1 / (1 - gamma) steps, so rho_0 shrinks by 1 - gamma.
    damping = 1.0 - float(model.momentum) if model.optimizer in ("momentum", "nag") else 1.0
    return damping / scale ** (float(model.rank) - 2.0)
