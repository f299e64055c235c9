"""Fast kernels held to plain NumPy: nearest-centre assignment, SIMD tails, both builds, threads.

The SIMD kernels pad the centres to whole vectors and switch between direct differences (few
features) and the norm expansion (many features), so the cases below cross every padding tail
and both sides of the switch.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from stochastic_quantization import _core as portable
from stochastic_quantization import reference

avx2 = None
if portable.cpu_has_avx2_fma():
    try:
        avx2 = importlib.import_module("stochastic_quantization._core_avx2")
    except ImportError:
        avx2 = None

MODULES = [pytest.param(portable, id="portable")]
if avx2 is not None:
    MODULES.append(pytest.param(avx2, id="avx2"))

FEATURES = (1, 3, 15, 16, 17, 33)
CLUSTERS = (1, 3, 7, 8, 9, 16, 17, 33)


def squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Return the (n, K) squared distances by direct differences in float64."""
    diff = X.astype(np.float64)[:, None, :] - centers.astype(np.float64)[None, :, :]
    return np.einsum("nkd,nkd->nk", diff, diff)


def check_assignment(X, centers, labels, distances, rtol):
    """Assert labels are nearest up to rounding and distances are those of the labels."""
    exact = squared_distances(X, centers)
    chosen = exact[np.arange(len(X)), labels]
    best = exact.min(axis=1)
    scale = np.maximum(best, np.abs(X.astype(np.float64)).max() * 1e-3)
    # A different label is only allowed on a near-tie.
    assert np.all(chosen - best <= rtol * scale + 1e-300)
    np.testing.assert_allclose(distances, chosen, rtol=rtol, atol=rtol * scale.max() * 1e-3)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", FEATURES)
@pytest.mark.parametrize("n_clusters", CLUSTERS)
def test_assign_matches_numpy_argmin(module, dtype, n_features, n_clusters):
    rng = np.random.default_rng(n_features * 100 + n_clusters)
    # 263 rows: whole 256-row blocks, a tail, and tails of the 8- and 6-row SIMD tiles.
    X = rng.standard_normal((263, n_features)).astype(dtype)
    centers = rng.standard_normal((n_clusters, n_features)).astype(dtype)
    labels, distances = module.assign(X, centers, 1)
    assert labels.dtype == np.int64
    assert distances.dtype == dtype
    expected = np.argmin(squared_distances(X, centers), axis=1)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    check_assignment(X, centers, labels, distances, rtol)
    # Standard-normal data has no near-ties at this size, so the labels agree exactly.
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("n_features", [3, 33])
def test_assign_ties_lowest_index(module, n_features):
    centers = np.zeros((20, n_features))
    centers[5:] = 1.0  # centres 0..4 coincide, so do 5..19
    X = np.vstack([np.full((9, n_features), 0.1), np.full((9, n_features), 0.9)])
    labels, _ = module.assign(X, centers, 1)
    np.testing.assert_array_equal(labels, [0] * 9 + [5] * 9)


@pytest.mark.skipif(avx2 is None, reason="the CPU or the build has no AVX2 + FMA module")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", FEATURES)
def test_portable_and_avx2_agree(dtype, n_features):
    rng = np.random.default_rng(n_features)
    X = rng.standard_normal((1000, n_features)).astype(dtype)
    centers = rng.standard_normal((13, n_features)).astype(dtype)
    labels_portable, distances_portable = portable.assign(X, centers, 2)
    labels_avx2, distances_avx2 = avx2.assign(X, centers, 2)
    np.testing.assert_array_equal(labels_portable, labels_avx2)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(distances_portable, distances_avx2, rtol=rtol)


@pytest.mark.skipif(avx2 is None, reason="the CPU or the build has no AVX2 + FMA module")
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_portable_and_avx2_run_agree(optimizer, batch_size):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 5))
    order = rng.permutation(500).astype(np.int64)
    results = []
    for module in (portable, avx2):
        centers = X[:6].copy()
        results.append(run_module(module, X, order, centers, optimizer, batch_size))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-9)


def run_module(module, X, order, centers, optimizer, batch_size, log_step=0, n_threads=1):
    """Run one pass of SQ over X[order] from `centers` with `module`; return the centres."""
    n_clusters = centers.shape[0]
    arrays = {"sgd": 0, "adam": 2}.get(optimizer, 1)
    empty = np.empty((0, 0), X.dtype)
    first = np.zeros_like(centers) if arrays >= 1 else empty
    second = np.zeros_like(centers) if arrays >= 2 else empty
    module.run(
        X, None, order, centers, first, second, empty,
        np.zeros(n_clusters, np.int64), np.ones(n_clusters), np.zeros(n_clusters), 0, 0.0,
        rank=2.0, optimizer=optimizer, momentum=0.9, beta=0.9, beta1=0.9, beta2=0.999,
        epsilon=1e-8, schedule="inverse_time", learning_rate=0.05, t0=10.0, power=1.0,
        batch_size=batch_size, log_step=log_step, averaging=False, lower=None, upper=None,
        n_threads=n_threads,
    )  # fmt: skip
    return centers


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("n_features", [3, 33])
def test_results_independent_of_threads(module, n_features):
    rng = np.random.default_rng(11)
    # 40,000 rows: 157 blocks of 256, enough for the kernels to start every thread asked for.
    X = rng.standard_normal((40_000, n_features)).astype(np.float32)
    centers = rng.standard_normal((21, n_features)).astype(np.float32)
    labels_1, distances_1 = module.assign(X, centers, 1)
    loss_1 = module.objective(X, None, centers, 2.0, 1)
    for n_threads in (2, 3, 8):
        labels, distances = module.assign(X, centers, n_threads)
        np.testing.assert_array_equal(labels, labels_1)
        np.testing.assert_array_equal(distances, distances_1)
        assert module.objective(X, None, centers, 2.0, n_threads) == loss_1
    order = rng.permutation(40_000).astype(np.int64)
    runs = [
        run_module(module, X, order, X[:21].copy(), "sgd", 8192, n_threads=n_threads)
        for n_threads in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("n_features", [3, 32])
def test_float32_far_from_origin(module, n_features):
    # Coordinates near 4e6 (float32 spacing 0.25 to 0.5) with clusters 8 units apart: the plain
    # expansion ||x||^2 - 2 x.c + ||c||^2 would lose every digit of the distances.
    rng = np.random.default_rng(5)
    offset = np.float32(4e6)
    means = np.arange(6, dtype=np.float64)[:, None] * 8.0 + np.zeros((1, n_features))
    cluster_of = rng.integers(0, 6, size=2000)
    X64 = offset + means[cluster_of] + rng.standard_normal((2000, n_features))
    X = X64.astype(np.float32)
    centers = (offset + means).astype(np.float32)
    labels, distances = module.assign(X, centers, 2)
    exact = squared_distances(X, centers)
    np.testing.assert_array_equal(labels, exact.argmin(axis=1))
    np.testing.assert_allclose(distances, exact.min(axis=1), rtol=1e-5, atol=1e-2)
    loss_sum, _ = module.objective(X, None, centers, 2.0, 2)
    np.testing.assert_allclose(loss_sum, exact.min(axis=1).sum(), rtol=1e-4)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("n_features", [2, 17])
@pytest.mark.parametrize("n_clusters", [9, 70])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_per_sample_run_matches_reference(module, optimizer, n_features, n_clusters, dtype):
    # The batch_size == 1 fast path against the NumPy specification; 70 centres take the
    # 8-vector pass of the per-sample kernel as well as the shorter ones.
    rng = np.random.default_rng(17)
    X = rng.standard_normal((300, n_features)).astype(dtype)
    order = rng.permutation(300).astype(np.int64)
    initial = X[:n_clusters].copy()
    centers = initial.copy()
    run_module(module, X, order, centers, optimizer, 1)
    expected = reference_run(X, order, initial, optimizer)
    tolerance = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(centers, expected, rtol=tolerance, atol=tolerance)


def reference_run(X, order, initial, optimizer):
    """Run reference.py with the settings of run_module; return the centres."""
    settings = reference.Settings(
        rank=2.0, optimizer=optimizer, learning_rate=0.05, schedule="inverse_time", t0=10.0,
        power=1.0, batch_size=1,
    )  # fmt: skip
    state = reference.State.start(initial)
    reference.sq_run(X, order, state, settings)
    return state.centers


@pytest.mark.parametrize("module", MODULES)
def test_kmeans_plusplus_independent_of_threads(module):
    rng = np.random.default_rng(13)
    X = rng.standard_normal((40_000, 5)).astype(np.float32)
    trials = 2 + int(np.log(8))
    uniforms = rng.random(1 + 7 * trials)
    baseline = module.kmeans_plusplus(X, None, 8, uniforms, trials, 1)
    for n_threads in (2, 3):
        chosen = module.kmeans_plusplus(X, None, 8, uniforms, trials, n_threads)
        np.testing.assert_array_equal(chosen, baseline)
