"""Precision far from the origin: float32 coordinates in the millions and large squared norms.

Distances are computed from coordinate differences (or a norm expansion around the centres'
mean), never from ||x||^2 - 2 x.c + ||c||^2 around the coordinate origin, so a float32 query a few
units from a centre millions of units from the origin is still assigned to it.
"""

from __future__ import annotations

import numpy as np
import pytest

from stochastic_quantization import StochasticQuantization, kernels
from stochastic_quantization._kernels import core

FAR = np.array([4.2e6, 2.3e6, 4.2e6])
# Centre B is 950 units from the query along the second axis; the query is sqrt(53) ~ 7.28 units
# from centre A. Every value is exact in float32 (the spacing near 4.2e6 is 0.5).
OFFSET_A = np.array([0.0, 0.0, 0.0])
OFFSET_B = np.array([0.0, -948.0, 0.0])
OFFSET_QUERY = np.array([7.0, 2.0, 0.0])
DISTANCES = (np.sqrt(53.0), np.hypot(7.0, 950.0))


def far_points(n_features: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Return centres A, B and the query, padded with far coordinates up to n_features."""
    base = np.resize(FAR, n_features)
    offsets = np.zeros((3, n_features))
    offsets[:, :3] = [OFFSET_A, OFFSET_B, OFFSET_QUERY]
    points = (base + offsets).astype(dtype)
    return points[:2].copy(), points[2:].copy()


def fixed_model(centers: np.ndarray) -> StochasticQuantization:
    """Fit on the centres themselves from init=centres: every gradient is zero, nothing moves."""
    model = StochasticQuantization(n_clusters=2, init=centers, max_iter=1, random_state=0)
    model.fit(centers)
    np.testing.assert_array_equal(model.cluster_centers_, centers)
    return model


# 3 features use direct differences; 24 features use the batched norm expansion.
@pytest.mark.parametrize("n_features", [3, 24])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_far_query_assigned_to_near_centre(n_features, dtype):
    centers, query = far_points(n_features, dtype)
    model = fixed_model(centers)
    batch = np.repeat(query, 64, axis=0)

    assert model.predict(query).tolist() == [0]
    assert model.predict(batch).tolist() == [0] * 64
    assert kernels.assign(batch, centers)[0].tolist() == [0] * 64
    np.testing.assert_allclose(model.transform(query)[0], DISTANCES, rtol=1e-6)
    np.testing.assert_allclose(model.transform(batch), np.tile(DISTANCES, (64, 1)), rtol=1e-6)
    assert model.score(batch) == pytest.approx(-64 * 53.0, rel=1e-5)


@pytest.mark.parametrize("n_features", [3, 24])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_far_query_in_mini_batch_step(n_features, dtype):
    # Inside fit, a batch of 64 queries is assigned with the batched kernel: all go to A, so only
    # A moves, to the queries' mean (one full batch, constant rate 1 / rank).
    centers, query = far_points(n_features, dtype)
    batch = np.repeat(query, 64, axis=0)
    model = StochasticQuantization(
        n_clusters=2,
        init=centers,
        batch_size=64,
        schedule="constant",
        learning_rate=0.5,
        max_iter=1,
        tol=None,
        random_state=0,
    ).fit(batch)

    np.testing.assert_array_equal(model.cluster_centers_[0], query[0])
    np.testing.assert_array_equal(model.cluster_centers_[1], centers[1])
    assert model.labels_.tolist() == [0] * 64


def two_far_clusters(dtype, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers, _ = far_points(3, np.float64)
    X = np.concatenate([c + rng.normal(scale=50.0, size=(200, 3)) for c in centers])
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shift_by_million_keeps_labels(dtype):
    X = two_far_clusters(dtype)
    centers, _ = far_points(3, dtype)
    shift = dtype(1e6)
    params = dict(n_clusters=2, max_iter=3, batch_size=8, random_state=0)

    model = StochasticQuantization(init=centers, **params).fit(X)
    shifted = StochasticQuantization(init=centers + shift, **params).fit(X + shift)

    np.testing.assert_array_equal(shifted.labels_, model.labels_)
    np.testing.assert_array_equal(shifted.predict(X + shift), model.predict(X))
    np.testing.assert_array_equal(
        kernels.assign(X + shift, centers + shift)[0], kernels.assign(X, centers)[0]
    )
    np.testing.assert_allclose(shifted.cluster_centers_ - shift, model.cluster_centers_, atol=2.0)


def large_norm_samples() -> np.ndarray:
    """200 000 float32 points in 3-D around (33 790, 14 420, -2 311), spread 30: squared norms
    near 1.4e9, where float32 norm expansions lose every digit of the distances."""
    rng = np.random.default_rng(12)
    X = np.array([33790.0, 14420.0, -2311.0]) + rng.normal(scale=30.0, size=(200_000, 3))
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def large_norm_X() -> np.ndarray:
    return large_norm_samples()


@pytest.mark.parametrize("n_clusters", [5, 6, 7, 8])
def test_kmeans_plusplus_index_in_range(large_norm_X, n_clusters):
    X = large_norm_X
    n_samples = X.shape[0]

    for seed in range(3):
        _, indices = kernels.kmeans_plusplus(X, n_clusters, random_state=seed)
        assert indices.min() >= 0
        assert indices.max() < n_samples
        assert len(set(indices.tolist())) == n_clusters

    # The largest double below 1 as every uniform draw: the target equals the running total
    # up to rounding, the case that selects one past the end without a clamp.
    trials = 2 + int(np.log(n_clusters))
    uniforms = np.full(1 + (n_clusters - 1) * trials, np.nextafter(1.0, 0.0))
    indices = core.kmeans_plusplus(X, None, n_clusters, uniforms, trials, 2)
    assert indices.min() >= 0
    assert indices.max() < n_samples
    assert len(set(indices.tolist())) == n_clusters


def test_estimator_on_large_norms(large_norm_X):
    X = large_norm_X[:20_000]
    model = StochasticQuantization(n_clusters=6, random_state=0, max_iter=2, batch_size=64).fit(X)

    assert model.cluster_centers_.dtype == np.float32
    assert np.all(np.isfinite(model.cluster_centers_))
    assert model.labels_.min() >= 0
    assert model.labels_.max() < 6
    # Every centre lies inside the data's bounding box, where an accurate fit must put it.
    assert np.all(model.cluster_centers_ >= X.min(axis=0) - 1.0)
    assert np.all(model.cluster_centers_ <= X.max(axis=0) + 1.0)
