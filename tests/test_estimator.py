"""The scikit-learn estimator contract and the estimator's behaviour on toy and real data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.utils.estimator_checks import parametrize_with_checks

from stochastic_quantization import StochasticQuantization

# Checks skipped, with the reason:
SKIPPED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "repeating a row changes n_samples, hence the random sample order and k-means++ draws, "
        "so a stochastic fit cannot give the same centres as the weighted fit"
    ),
}


@parametrize_with_checks(
    [StochasticQuantization(n_clusters=3, random_state=0, max_iter=5)],
    expected_failed_checks=lambda estimator: SKIPPED_CHECKS,
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_toy_two_clusters():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    model = StochasticQuantization(n_clusters=2, random_state=0).fit(X)
    order = np.argsort(model.cluster_centers_[:, 0])
    np.testing.assert_allclose(model.cluster_centers_[order], [[0.0, 0.5], [10.0, 0.5]], atol=0.2)
    assert model.labels_[0] == model.labels_[1] != model.labels_[2] == model.labels_[3]
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_macqueen_count_schedule_gives_running_mean():
    """With the count schedule, rank 2 and rate 1, a centre is the mean of its samples."""
    X = np.array([[1.0, 0.0], [4.0, 0.0], [2.5, 3.0]])
    model = StochasticQuantization(
        n_clusters=1, init=np.zeros((1, 2)), schedule="count", learning_rate=1.0,
        sampling="sequential", max_iter=1, tol=None,
    ).fit(X)  # fmt: skip
    # The initial centre (0, 0) counts as one sample of weight 1.
    np.testing.assert_allclose(model.cluster_centers_, [[7.5 / 4, 3.0 / 4]])


def test_attributes_and_shapes(digits):
    model = StochasticQuantization(n_clusters=10, random_state=0, max_iter=3, tol=None).fit(digits)
    assert model.cluster_centers_.shape == (10, 64)
    assert model.labels_.shape == (len(digits),)
    assert model.n_iter_ == 3
    assert model.n_steps_ == 3 * len(digits)
    assert model.n_features_in_ == 64
    assert model.loss_history_.shape == (4, 2)
    np.testing.assert_array_equal(model.loss_history_[:, 0], [0, 1797, 2 * 1797, 3 * 1797])
    assert model.transform(digits[:5]).shape == (5, 10)
    assert model.inertia_ == pytest.approx(-model.score(digits), rel=1e-9)


def test_log_step_records_loss(digits):
    model = StochasticQuantization(10, random_state=0, max_iter=1, tol=None, log_step=500)
    model.fit(digits)
    np.testing.assert_array_equal(model.loss_history_[:, 0], [0, 500, 1000, 1500, 1797])
    assert np.all(np.isfinite(model.loss_history_[:, 1]))


def test_float32_stays_float32(digits):
    X = digits.astype(np.float32)
    model = StochasticQuantization(10, random_state=0, max_iter=2).fit(X)
    assert model.cluster_centers_.dtype == np.float32
    assert model.transform(X).dtype == np.float32


def test_same_seed_same_result(digits):
    first = StochasticQuantization(10, random_state=7, max_iter=3).fit(digits)
    second = StochasticQuantization(10, random_state=7, max_iter=3).fit(digits)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)


def test_transform_is_euclidean_distance(digits):
    model = StochasticQuantization(10, random_state=0, max_iter=2).fit(digits)
    expected = np.linalg.norm(digits[:20, None, :] - model.cluster_centers_[None], axis=2)
    np.testing.assert_allclose(model.transform(digits[:20]), expected, rtol=1e-12)


def test_defaults_match_kmeans_on_digits(digits):
    """Rank 2 with the defaults ends within 2 % of scikit-learn KMeans, averaged over seeds."""
    ours, theirs = [], []
    for seed in range(3):
        ours.append(StochasticQuantization(10, random_state=seed).fit(digits).inertia_)
        theirs.append(KMeans(10, n_init=1, random_state=seed).fit(digits).inertia_)
    assert np.mean(ours) <= 1.02 * np.mean(theirs)


def test_compute_labels_false_skips_labels(digits):
    with_labels = StochasticQuantization(10, random_state=0, max_iter=2).fit(digits)
    without = StochasticQuantization(10, random_state=0, max_iter=2, compute_labels=False)
    without.fit(digits)
    assert not hasattr(without, "labels_")
    assert without.inertia_ == pytest.approx(with_labels.inertia_, rel=1e-12)
    np.testing.assert_array_equal(without.cluster_centers_, with_labels.cluster_centers_)
