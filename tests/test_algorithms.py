"""The algorithm family on real and synthetic data: optimizers, schedules, ranks, streaming."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from stochastic_quantization import StochasticQuantization
from stochastic_quantization.experiment.cli import PAPER_RATES

OPTIMIZERS = ["sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"]


@pytest.fixture(scope="module")
def kmeans_inertia() -> float:
    from sklearn.datasets import load_digits

    X = load_digits().data
    return float(np.mean([KMeans(10, n_init=1, random_state=s).fit(X).inertia_ for s in range(3)]))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_defaults_near_kmeans(digits, kmeans_inertia, optimizer):
    """Every optimizer with its documented defaults ends within 5 % of KMeans on the digits."""
    inertias = [
        StochasticQuantization(10, optimizer=optimizer, random_state=seed).fit(digits).inertia_
        for seed in range(3)
    ]
    assert np.mean(inertias) <= 1.05 * kmeans_inertia


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_paper_settings_converge(digits, optimizer):
    """Rank 3 with Kozyriev and Norkin's constant learning rates converges on scaled digits."""
    X = StandardScaler().fit_transform(digits)
    model = StochasticQuantization(
        10,
        rank=3.0,
        optimizer=optimizer,
        learning_rate=PAPER_RATES[optimizer],
        schedule="constant",
        max_iter=15,
        tol=None,
        random_state=0,
    ).fit(X)
    losses = model.loss_history_[:, 1]
    assert np.all(np.isfinite(losses))
    # A constant step converges to a neighbourhood of a minimum: the loss drops and then stays
    # within a band (momentum makes the widest band, about +-7 % here).
    tail = losses[-5:]
    assert tail.mean() < 0.8 * losses[0]
    assert np.all(np.abs(tail - tail.mean()) <= 0.15 * tail.mean())


def test_rank_below_two_resists_outliers():
    """With 2 % far outliers, rank 1.5 centres land nearer the true blob centres than rank 2."""
    rng = np.random.default_rng(0)
    truth = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    blobs = np.concatenate([c + rng.normal(size=(500, 2)) for c in truth])
    outliers = rng.uniform(-200, 200, size=(40, 2))
    X = np.concatenate([blobs, outliers])
    init = truth + rng.normal(scale=1.0, size=truth.shape)

    def center_error(rank: float) -> float:
        model = StochasticQuantization(
            4, rank=rank, init=init, max_iter=30, tol=None, random_state=0
        ).fit(X)
        distances = np.linalg.norm(model.cluster_centers_[:, None] - truth[None], axis=2)
        return float(distances.min(axis=0).mean())

    assert center_error(1.5) < center_error(2.0)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batch_size", [1, 7])
def test_partial_fit_chunks_equal_fit(digits, optimizer, batch_size):
    """partial_fit over chunks in order equals one sequential fit pass over all of them."""
    init = digits[:10].copy()
    settings = dict(
        optimizer=optimizer,
        init=init,
        learning_rate=0.05,
        schedule="inverse_time",
        decay_t0=500.0,
        batch_size=batch_size,
        sampling="sequential",
    )
    whole = StochasticQuantization(10, max_iter=1, tol=None, **settings).fit(digits)
    stream = StochasticQuantization(10, **settings)
    # Chunk boundaries fall on multiples of the batch size, so the batches are the same.
    for chunk in np.array_split(digits, np.arange(0, len(digits), 70 * batch_size)[1:]):
        stream.partial_fit(chunk)
    np.testing.assert_allclose(stream.cluster_centers_, whole.cluster_centers_, rtol=1e-12)
    assert stream.n_steps_ == whole.n_steps_


def test_idle_centre_keeps_finite_state():
    """A centre no sample is nearest to never moves and keeps zero, finite optimizer state."""
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1]])
    init = np.array([[0.0, 0.0], [100.0, 100.0]])
    for optimizer in ("adagrad", "rmsprop", "adam", "momentum"):
        model = StochasticQuantization(2, optimizer=optimizer, init=init, max_iter=3).fit(X)
        np.testing.assert_array_equal(model.cluster_centers_[1], [100.0, 100.0])
        assert np.all(np.isfinite(model.cluster_centers_))
        assert np.all(model._state.first[1] == 0)


def test_zero_weight_samples_never_pull(digits):
    weights = np.ones(len(digits))
    weights[::3] = 0.0
    settings = dict(init=digits[1:11].copy(), sampling="sequential", max_iter=2, tol=None)
    weighted = StochasticQuantization(10, **settings).fit(digits, sample_weight=weights)
    kept = StochasticQuantization(10, **settings).fit(digits[weights > 0])
    np.testing.assert_allclose(weighted.cluster_centers_, kept.cluster_centers_, rtol=1e-12)


@pytest.mark.parametrize(
    "weights, message",
    [
        (-np.ones(20), "sample_weight must be >= 0"),
        (np.full(20, np.nan), r"sample_weight must be finite, got sample_weight\[0\] = nan"),
        (np.zeros(20), "at least one positive"),
        (np.ones(19), r"shape \(20,\)"),
    ],
)
def test_bad_sample_weight(weights, message):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=message):
        StochasticQuantization(2).fit(X, sample_weight=weights)


def test_weighted_kmeans_plusplus_skips_zero_weight():
    X = np.array([[0.0], [1.0], [2.0], [50.0]])
    weights = np.array([1.0, 1.0, 1.0, 0.0])
    for seed in range(20):
        model = StochasticQuantization(3, random_state=seed, max_iter=1)
        model.fit(X, sample_weight=weights)
        assert np.all(model.cluster_centers_ < 10)


def test_projection_keeps_centres_in_box(digits):
    model = StochasticQuantization(
        10, projection=(2.0, 8.0), optimizer="adam", random_state=0, max_iter=3
    ).fit(digits)
    assert model.cluster_centers_.min() >= 2.0
    assert model.cluster_centers_.max() <= 8.0


def test_data_projection_keeps_centres_in_bounding_box(digits):
    model = StochasticQuantization(
        10, projection="data", optimizer="momentum", learning_rate=1.0, random_state=0
    ).fit(digits)
    assert np.all(model.cluster_centers_ >= digits.min(axis=0))
    assert np.all(model.cluster_centers_ <= digits.max(axis=0))


def test_averaging_reports_average(digits):
    model = StochasticQuantization(
        10, averaging=True, schedule="constant", learning_rate=0.01, random_state=0, max_iter=3
    ).fit(digits)
    assert not np.allclose(model.cluster_centers_, model._state.centers)
    np.testing.assert_array_equal(model.cluster_centers_, model._state.averaged)


def test_minibatch_close_to_kmeans(digits, kmeans_inertia):
    inertias = [
        StochasticQuantization(10, batch_size=32, random_state=seed, max_iter=50)
        .fit(digits)
        .inertia_
        for seed in range(3)
    ]
    assert np.mean(inertias) <= 1.05 * kmeans_inertia


def test_inverse_time_schedule_decays(digits):
    model = StochasticQuantization(
        10, schedule="inverse_time", learning_rate=0.2, decay_power=0.75, random_state=0
    ).fit(digits)
    assert model.loss_history_[-1, 1] < model.loss_history_[0, 1]
