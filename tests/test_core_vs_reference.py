"""The compiled core against reference.py, step by step, for every algorithmic option."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stochastic_quantization import reference
from stochastic_quantization._kernels import core

FEATURE_COUNTS = [1, 3, 15, 17, 33]
TOLERANCE = {np.float64: 1e-9, np.float32: 1e-4}
STATE_ARRAYS = {"sgd": 0, "momentum": 1, "nag": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}


def has_near_tie(samples: np.ndarray, centers: np.ndarray) -> bool:
    """Whether some sample's two nearest centres are too close to call in finite precision."""
    if len(centers) < 2:
        return False
    distances = np.sort(reference.squared_distances(samples, centers), axis=1)
    return bool(np.any(distances[:, 1] - distances[:, 0] <= 1e-3 * (distances[:, 0] + 1e-3)))


class CoreRun:
    """The core's state arrays for one run, driven one batch at a time."""

    def __init__(self, centers: np.ndarray, settings: reference.Settings) -> None:
        n_arrays = STATE_ARRAYS[settings.optimizer]
        empty = np.empty((0, 0), dtype=centers.dtype)
        self.centers = centers.copy()
        self.first = np.zeros_like(centers) if n_arrays >= 1 else empty
        self.second = np.zeros_like(centers) if n_arrays >= 2 else empty
        self.averaged = centers.copy() if settings.averaging else empty
        self.updates = np.zeros(len(centers), dtype=np.int64)
        self.mass = np.ones(len(centers))
        self.marks = np.zeros(len(centers))
        self.step, self.rate_sum = 0, 0.0
        self.settings = settings

    def run(self, samples: np.ndarray, order: np.ndarray, weights: np.ndarray | None) -> None:
        s = self.settings
        self.step, self.rate_sum, _ = core.run(
            samples, weights, order, self.centers, self.first, self.second, self.averaged,
            self.updates, self.mass, self.marks, self.step, self.rate_sum,
            rank=s.rank, optimizer=s.optimizer, momentum=s.momentum, beta=s.beta, beta1=s.beta1,
            beta2=s.beta2, epsilon=s.epsilon, schedule=s.schedule, learning_rate=s.learning_rate,
            t0=s.t0, power=s.power, batch_size=s.batch_size, log_step=0, averaging=s.averaging,
            lower=s.lower, upper=s.upper, n_threads=2,
        )  # fmt: skip


@st.composite
def sq_cases(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    n_features = draw(st.sampled_from(FEATURE_COUNTS))
    n_clusters = draw(st.integers(1, 6))
    n_samples = draw(st.integers(n_clusters, 30))
    samples = rng.normal(size=(n_samples, n_features)).astype(dtype)
    centers = (samples[rng.choice(n_samples, n_clusters, replace=False)]
               + 0.1 * rng.normal(size=(n_clusters, n_features))).astype(dtype)  # fmt: skip
    optimizer = draw(st.sampled_from(reference.OPTIMIZERS))
    schedule = draw(st.sampled_from(reference.SCHEDULES))
    adaptive = optimizer in ("adagrad", "rmsprop", "adam")
    settings = reference.Settings(
        rank=draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])),
        optimizer=optimizer,
        learning_rate=draw(st.sampled_from([0.01, 0.1] if adaptive else [0.01, 0.05, 1.0])),
        schedule=schedule,
        t0=draw(st.sampled_from([1.0, 5.0])),
        power=draw(st.sampled_from([0.75, 1.0])),
        batch_size=draw(st.integers(1, 4)),
        averaging=draw(st.booleans()),
    )
    if draw(st.booleans()):
        settings.lower = np.full(n_features, -0.5)
        settings.upper = np.full(n_features, 0.7)
    weights = None
    if draw(st.booleans()):
        weights = rng.choice([0.0, 0.5, 1.0, 2.0], size=n_samples).astype(dtype)
        weights[0] = 1.0
    order = rng.integers(0, n_samples, size=draw(st.integers(1, 25))).astype(np.int64)
    return samples, centers, settings, weights, order


@given(sq_cases())
def test_run_matches_reference_every_step(case):
    samples, centers, settings, weights, order = case
    tolerance = TOLERANCE[samples.dtype.type]
    ours = CoreRun(centers, settings)
    theirs = reference.State.start(centers)
    for start in range(0, len(order), settings.batch_size):
        batch = order[start : start + settings.batch_size]
        if has_near_tie(samples[batch], theirs.centers):
            return
        ours.run(samples, batch, weights)
        reference.sq_step(samples, batch, theirs, settings, weights)

        np.testing.assert_allclose(ours.centers, theirs.centers, rtol=tolerance, atol=tolerance)
        assert ours.step == theirs.step
        np.testing.assert_array_equal(ours.updates, theirs.updates)
        np.testing.assert_allclose(ours.mass, theirs.mass, rtol=1e-12)
        if ours.first.size:
            np.testing.assert_allclose(ours.first, theirs.first, rtol=tolerance, atol=tolerance)
        if ours.second.size:
            np.testing.assert_allclose(ours.second, theirs.second, rtol=tolerance, atol=tolerance)
        if settings.averaging:
            np.testing.assert_allclose(
                ours.averaged, theirs.averaged(), rtol=tolerance, atol=tolerance
            )
            assert ours.rate_sum == pytest.approx(theirs.rate_sum, rel=1e-12)


@given(
    seed=st.integers(0, 2**31 - 1),
    n_features=st.sampled_from(FEATURE_COUNTS),
    n_clusters=st.sampled_from([1, 2, 7, 8, 9, 17, 33]),
    n_samples=st.sampled_from([1, 5, 255, 256, 257, 600]),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_assign_matches_argmin(seed, n_features, n_clusters, n_samples, dtype):
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(n_samples, n_features)).astype(dtype)
    centers = rng.normal(size=(n_clusters, n_features)).astype(dtype)
    labels, squared = core.assign(samples, centers, 2)

    expected_labels, expected_squared = reference.nearest_centers(samples, centers)
    distances = reference.squared_distances(samples, centers)
    chosen = distances[np.arange(n_samples), labels]
    # Near-ties may go either way; the chosen centre must be as near as the best one.
    np.testing.assert_allclose(chosen, expected_squared, rtol=1e-4, atol=1e-5)
    clear = np.sort(distances, axis=1)
    if n_clusters > 1:
        clear = clear[:, 1] - clear[:, 0] > 1e-3 * (clear[:, 0] + 1e-3)
        np.testing.assert_array_equal(labels[clear], expected_labels[clear])
    np.testing.assert_allclose(squared, chosen, rtol=TOLERANCE[dtype] * 10, atol=1e-6)
    assert labels.dtype == np.int64
    assert squared.dtype == dtype


def test_assign_ties_go_to_lowest_index():
    samples = np.array([[0.5], [1.0]])
    centers = np.array([[0.0], [1.0], [1.0], [0.0]])
    labels, _ = core.assign(samples, centers, 1)
    np.testing.assert_array_equal(labels, [0, 1])


@given(
    seed=st.integers(0, 2**31 - 1),
    n_features=st.sampled_from(FEATURE_COUNTS),
    rank=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    weighted=st.booleans(),
)
def test_objective_matches_reference(seed, n_features, rank, weighted):
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(300, n_features))
    centers = rng.normal(size=(5, n_features))
    weights = rng.uniform(0, 2, size=300) if weighted else None
    loss_sum, weight_sum = core.objective(samples, weights, centers, rank, 2)
    expected = reference.objective(samples, centers, rank, weights)
    assert loss_sum / weight_sum == pytest.approx(expected, rel=1e-9)


@given(
    seed=st.integers(0, 2**31 - 1),
    n_features=st.sampled_from(FEATURE_COUNTS),
    n_clusters=st.integers(1, 9),
    weighted=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_kmeans_plusplus_matches_reference(seed, n_features, n_clusters, weighted, dtype):
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(200, n_features)).astype(dtype)
    weights = rng.uniform(0.1, 2, size=200).astype(dtype) if weighted else None
    trials = 2 + int(np.log(n_clusters))
    uniforms = rng.random(1 + (n_clusters - 1) * trials)
    ours = core.kmeans_plusplus(samples, weights, n_clusters, uniforms, trials, 2)
    theirs = reference.kmeans_plusplus(samples, n_clusters, uniforms, trials, weights)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("n_threads", [1, 2, 3, 8])
def test_kmeans_plusplus_same_for_any_thread_count(n_threads):
    rng = np.random.default_rng(3)
    samples = rng.normal(size=(5000, 4))
    uniforms = rng.random(1 + 9 * 4)
    baseline = core.kmeans_plusplus(samples, None, 10, uniforms, 4, 1)
    np.testing.assert_array_equal(
        core.kmeans_plusplus(samples, None, 10, uniforms, 4, n_threads), baseline
    )


def test_kmeans_plusplus_first_centre_uniform_then_d2():
    """First centre uniform; the second, with one trial, proportional to D^2 (chi-square)."""
    samples = np.array([[0.0], [1.0], [3.0]])
    rng = np.random.default_rng(12345)
    draws = 6000
    first_counts = np.zeros(3)
    second_given_first0 = np.zeros(3)
    for _ in range(draws):
        uniforms = rng.random(2)
        first, second = core.kmeans_plusplus(samples, None, 2, uniforms, 1, 1)
        first_counts[first] += 1
        if first == 0:
            second_given_first0[second] += 1
    expected_first = np.full(3, draws / 3)
    chi_first = np.sum((first_counts - expected_first) ** 2 / expected_first)
    # D^2 from sample 0: (0, 1, 9), so P = (0, 0.1, 0.9).
    total = second_given_first0.sum()
    assert second_given_first0[0] == 0
    expected_second = np.array([0.1, 0.9]) * total
    chi_second = np.sum((second_given_first0[1:] - expected_second) ** 2 / expected_second)
    # 99.9 % quantiles of chi-square with 2 and 1 degrees of freedom.
    assert chi_first < 13.8
    assert chi_second < 10.8


def test_rank_below_two_finite_at_coincident_point():
    samples = np.array([[1.0, 2.0]])
    for rank in (1.0, 1.5):
        run = CoreRun(samples.copy(), reference.Settings(rank=rank, learning_rate=0.5))
        run.run(samples, np.zeros(3, dtype=np.int64), None)
        np.testing.assert_array_equal(run.centers, samples)
