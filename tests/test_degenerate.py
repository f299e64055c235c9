"""Degenerate data: as many centres as points, identical rows, fewer distinct points than centres.

Fewer distinct points than n_clusters is not an error: the fit succeeds, the surplus centres
duplicate other centres, and a ConvergenceWarning states how many distinct points X has.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from stochastic_quantization import StochasticQuantization

OPTIMIZERS = ("sgd", "momentum", "nag", "adagrad", "rmsprop", "adam")
FIVE_POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [2.0, -3.0]])


def assert_finite_model(model: StochasticQuantization) -> None:
    assert np.all(np.isfinite(model.cluster_centers_))
    assert np.isfinite(model.inertia_)
    assert np.all(np.isfinite(model.loss_history_))
    assert np.all(np.isfinite(model._state.first))
    assert np.all(np.isfinite(model._state.second))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_five_points_five_centres(optimizer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = StochasticQuantization(n_clusters=5, optimizer=optimizer, random_state=0).fit(
            FIVE_POINTS
        )

    order = np.lexsort(model.cluster_centers_.T[::-1])
    np.testing.assert_array_equal(
        model.cluster_centers_[order], FIVE_POINTS[np.lexsort(FIVE_POINTS.T[::-1])]
    )
    assert model.inertia_ == 0.0
    assert sorted(model.labels_.tolist()) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(model.cluster_centers_[model.labels_], FIVE_POINTS)
    assert_finite_model(model)


def test_five_points_one_centre_full_batch_is_mean():
    # One full batch with a constant rate 1 / rank moves the centre exactly to the mean.
    model = StochasticQuantization(
        n_clusters=1,
        batch_size=5,
        schedule="constant",
        learning_rate=0.5,
        max_iter=1,
        tol=None,
        random_state=0,
    ).fit(FIVE_POINTS)

    np.testing.assert_allclose(model.cluster_centers_[0], FIVE_POINTS.mean(axis=0), rtol=1e-15)
    expected_inertia = ((FIVE_POINTS - FIVE_POINTS.mean(axis=0)) ** 2).sum()
    assert model.inertia_ == pytest.approx(expected_inertia, rel=1e-12)


def test_five_points_one_centre_default_near_mean():
    # With the default online schedule the initial centre counts as one sample, so the centre
    # approaches the mean as epochs accumulate rather than landing on it.
    model = StochasticQuantization(n_clusters=1, random_state=0, max_iter=200, tol=None).fit(
        FIVE_POINTS
    )

    np.testing.assert_allclose(model.cluster_centers_[0], FIVE_POINTS.mean(axis=0), atol=1e-2)
    assert_finite_model(model)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_identical_rows_warn_and_stay_finite(optimizer, method):
    X = np.full((5, 3), 7.25)
    model = StochasticQuantization(n_clusters=5, optimizer=optimizer, random_state=0)

    with pytest.warns(
        ConvergenceWarning,
        match=r"X has only 1 distinct points, fewer than "
        r"n_clusters=5; 4 centres duplicate others",
    ):
        getattr(model, method)(X)

    np.testing.assert_array_equal(model.cluster_centers_, X)
    assert model.inertia_ == 0.0
    np.testing.assert_array_equal(model.predict(X), np.zeros(5))
    assert_finite_model(model)


def nine_locations() -> np.ndarray:
    """Return 17 points at 9 distinct locations (8 locations with two points, one with one)."""
    locations = np.array([[i, (i * 7) % 5] for i in range(9)], dtype=np.float64)
    return np.repeat(locations, 2, axis=0)[:17]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_nine_locations_ten_centres(optimizer):
    X = nine_locations()
    model = StochasticQuantization(n_clusters=10, optimizer=optimizer, random_state=0)

    with pytest.warns(
        ConvergenceWarning,
        match=r"X has only 9 distinct points, fewer than "
        r"n_clusters=10; 1 centres duplicate others",
    ):
        model.fit(X)

    assert_finite_model(model)
    assert model.inertia_ == 0.0
    assert len(np.unique(model.cluster_centers_, axis=0)) == 9
    np.testing.assert_array_equal(model.cluster_centers_[model.labels_], X)


def test_nine_locations_with_weights_counts_positive_weight():
    X = nine_locations()
    weights = np.ones(17)
    weights[[0, 1]] = 0.0  # both copies of the first location

    with pytest.warns(
        ConvergenceWarning,
        match=r"X has only 8 distinct points with positive "
        r"weight, fewer than n_clusters=9",
    ):
        StochasticQuantization(n_clusters=9, random_state=0).fit(X, sample_weight=weights)


def test_enough_distinct_points_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StochasticQuantization(n_clusters=9, random_state=0).fit(nine_locations())


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unused_centre_keeps_finite_state(optimizer, dtype):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 2)).astype(dtype)
    # The third centre is far from every sample, so it never receives one.
    init = np.array([[-1.0, 0.0], [1.0, 0.0], [1e4, 1e4]], dtype=dtype)
    model = StochasticQuantization(
        n_clusters=3, init=init, optimizer=optimizer, random_state=0, max_iter=5
    ).fit(X)

    np.testing.assert_array_equal(model.cluster_centers_[2], init[2])
    assert np.all(model._state.first[2] == 0)
    if optimizer == "adam":
        assert np.all(model._state.second[2] == 0)
    assert model._state.updates[2] == 0
    assert_finite_model(model)
    np.testing.assert_array_equal(np.isfinite(model.transform(X)), True)


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
def test_zero_gradient_keeps_finite_state(optimizer):
    # Samples exactly on their centres give a zero gradient and a zero squared-gradient
    # statistic: the step is 0 / (0 + epsilon), never 0 / 0.
    X = np.array([[0.0, 0.0], [3.0, 4.0]] * 4)
    model = StochasticQuantization(
        n_clusters=2, init=X[:2].copy(), optimizer=optimizer, random_state=0, max_iter=3
    ).fit(X)

    np.testing.assert_array_equal(model.cluster_centers_, X[:2])
    assert np.all(model._state.updates > 0)
    assert_finite_model(model)
