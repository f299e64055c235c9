"""Property tests over shapes, dtypes and parameters: no crash, finite results, and agreement
with the NumPy reference.

The default profile runs a few dozen examples per property; HYPOTHESIS_PROFILE=fuzz (registered
in conftest.py) runs hundreds.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import ConvergenceWarning

from stochastic_quantization import StochasticQuantization, kernels, reference
from stochastic_quantization._validation import MAX_COORDINATE

OPTIMIZERS = ("sgd", "momentum", "nag", "adagrad", "rmsprop", "adam")
# An explicit max_examples would override the loaded profile, so the fuzz budget is read from it.
DEFAULT_EXAMPLES = (
    settings.get_profile("fuzz").max_examples
    if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
    else 25
)


@st.composite
def samples(draw, max_rows: int = 40, max_features: int = 20):
    """Draw X of any accepted dtype, with 1..max_rows rows and 1..max_features features."""
    n_samples = draw(st.integers(1, max_rows))
    n_features = draw(st.sampled_from([1, 2, 3, 5, 15, 16, 17, max_features]))
    dtype = draw(st.sampled_from(["float64", "float32", "int32", "uint8", "bool"]))
    shape = (n_samples, n_features)
    if dtype == "bool":
        X = draw(arrays(np.bool_, shape))
    elif dtype in ("int32", "uint8"):
        X = draw(arrays(dtype, shape, elements=st.integers(0, 200)))
    else:
        scale = draw(st.sampled_from([1e-3, 1.0, 1e3, 1e6]))
        width = 32 if dtype == "float32" else 64
        X = draw(arrays(dtype, shape, elements=st.floats(-1, 1, width=width))) * np.asarray(
            scale, dtype
        )
        offset = draw(st.sampled_from([0.0, 1e4, -3e6]))
        X = X + np.asarray(offset, dtype)
    if draw(st.booleans()):
        X = np.asfortranarray(X)
    return X


@st.composite
def parameters(draw, n_samples: int):
    return dict(
        n_clusters=draw(st.integers(1, min(n_samples, 8))),
        rank=draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])),
        optimizer=draw(st.sampled_from(OPTIMIZERS)),
        batch_size=draw(st.sampled_from([1, 2, 7, 64])),
        init=draw(st.sampled_from(["k-means++", "sample", "random"])),
        sampling=draw(st.sampled_from(["permutation", "replacement", "sequential"])),
        averaging=draw(st.booleans()),
        projection=draw(st.sampled_from([None, "data"])),
        max_iter=draw(st.integers(1, 4)),
        n_jobs=draw(st.sampled_from([1, 2, None])),
        random_state=draw(st.integers(0, 2**16)),
    )


def tolerance(dtype) -> float:
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-9


@settings(max_examples=DEFAULT_EXAMPLES, deadline=None)
@given(data=st.data())
def test_fit_finite_and_consistent(data):
    X = data.draw(samples())
    params = data.draw(parameters(X.shape[0]))
    before = X.copy()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = StochasticQuantization(**params).fit(X)

    np.testing.assert_array_equal(X, before)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    centers = model.cluster_centers_
    assert centers.dtype == dtype
    assert centers.shape == (params["n_clusters"], X.shape[1])
    assert np.all(np.isfinite(centers))
    assert np.isfinite(model.inertia_)
    assert model.inertia_ >= 0
    assert np.all(np.isfinite(model.loss_history_))
    assert model.labels_.min() >= 0
    assert model.labels_.max() < params["n_clusters"]

    # predict is the nearest centre, up to near-ties, and matches labels_ and transform.
    X_float = np.asarray(X, dtype=dtype)
    labels = model.predict(X)
    np.testing.assert_array_equal(labels, model.labels_)
    squared = reference.squared_distances(X_float, centers)
    chosen = squared[np.arange(len(labels)), labels]
    best = squared.min(axis=1)
    # Round-off in a distance is relative to the size of the points, not of the distance.
    scale = float(np.abs(X_float).max()) + float(np.abs(centers).max())
    assert np.all(chosen <= best + tolerance(dtype) * (best + scale**2))
    np.testing.assert_allclose(
        model.transform(X) ** 2,
        squared,
        rtol=tolerance(dtype) * 10,
        atol=tolerance(dtype) * squared.max(),
    )
    expected_loss = float(reference.rank_loss(chosen, params["rank"]).sum())
    loss_slack = tolerance(dtype) * 100 * (expected_loss + len(X_float) * scale ** params["rank"])
    assert abs(model.inertia_ - expected_loss) <= loss_slack + 1e-300
    assert abs(-model.score(X) - model.inertia_) <= loss_slack + 1e-300


def reference_run_with_margin(X, centers, order, settings_):
    """Run the reference and return (state, conditioning margin of the run).

    The margin is the smallest relative gap between the nearest and the second-nearest centre
    over every assignment. For rank < 2 it is also capped by the smallest distance from a sample
    to a centre that has moved, relative to their size: there the gradient direction
    (y - xi) / ||y - xi|| turns on round-off, and two correct implementations part ways.
    """
    state = reference.State.start(centers)
    margin = np.inf
    scale = float(np.abs(X).max()) + float(np.abs(centers).max()) + 1e-300
    # Round-off in a squared distance of the core's dtype, relative to the size of the points:
    # below it (subnormals included) the two implementations may order centres differently.
    noise = 100 * float(np.finfo(X.dtype).eps) * scale**2
    for start in range(0, len(order), settings_.batch_size):
        batch = order[start : start + settings_.batch_size]
        squared = reference.squared_distances(X[batch], state.centers)
        if len(state.centers) > 1:
            ordered = np.sort(squared, axis=1)
            gaps = (ordered[:, 1] - ordered[:, 0] - noise) / (ordered[:, 1] + noise)
            margin = min(margin, float(gaps.min()))
        if settings_.rank < 2:
            nearest = squared.argmin(axis=1)
            moved = state.updates[nearest] > 0
            if np.any(moved):
                closest = np.sqrt(squared[np.arange(len(batch)), nearest][moved].min())
                margin = min(margin, closest / scale)
        reference.sq_step(X, batch, state, settings_)
    return state, margin


@settings(max_examples=DEFAULT_EXAMPLES, deadline=None)
@given(data=st.data())
def test_fit_matches_reference_step_for_step(data):
    X = data.draw(samples(max_rows=30))
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    X = np.ascontiguousarray(X, dtype=dtype)
    n_samples = X.shape[0]
    n_clusters = data.draw(st.integers(1, min(n_samples, 6)))
    optimizer = data.draw(st.sampled_from(OPTIMIZERS))
    schedule = data.draw(st.sampled_from(["constant", "inverse_time", "count"]))
    rank = data.draw(st.sampled_from([1.0, 1.5, 2.0, 3.0]))
    batch_size = data.draw(st.sampled_from([1, 3, 8]))
    learning_rate = data.draw(st.sampled_from([0.01, 0.1, 0.5]))
    init_rows = data.draw(st.permutations(range(n_samples)))[:n_clusters]
    init = X[list(init_rows)].copy()

    model = StochasticQuantization(
        n_clusters=n_clusters,
        init=init,
        optimizer=optimizer,
        schedule=schedule,
        rank=rank,
        batch_size=batch_size,
        learning_rate=learning_rate,
        sampling="sequential",
        max_iter=1,
        tol=None,
        decay_t0=2.0,
        random_state=0,
    )
    settings_ = reference.Settings(
        rank=rank,
        optimizer=optimizer,
        learning_rate=learning_rate,
        schedule=schedule,
        t0=2.0,
        batch_size=batch_size,
    )
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # A step size too large for the data scale overflows in the reference too.
        warnings.simplefilter("ignore", RuntimeWarning)
        state, margin = reference_run_with_margin(X, init, np.arange(n_samples), settings_)
        limit = MAX_COORDINATE[np.dtype(dtype)]
        finite = bool(np.all(np.abs(state.centers) <= limit)) and np.isfinite(
            reference.objective(X, state.centers, rank)
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if not finite:
            with pytest.raises(ValueError, match="the fit diverged"):
                model.fit(X)
            return
        model.fit(X)
    # A near-tie may send a sample to a different centre in the two implementations.
    assume(margin > 1e-3)

    scale = max(1.0, float(np.abs(X).max()))
    np.testing.assert_allclose(
        model.cluster_centers_, state.centers, rtol=tolerance(dtype), atol=tolerance(dtype) * scale
    )
    assert np.all(np.isfinite(model.cluster_centers_))


@settings(max_examples=DEFAULT_EXAMPLES, deadline=None)
@given(data=st.data())
def test_kernels_match_reference(data):
    X = data.draw(samples())
    n_clusters = data.draw(st.integers(1, min(X.shape[0], 8)))
    seed = data.draw(st.integers(0, 2**16))
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    X_float = np.asarray(X, dtype=dtype)

    centers, indices = kernels.kmeans_plusplus(X, n_clusters, random_state=seed)
    assert indices.min() >= 0
    assert indices.max() < X.shape[0]
    np.testing.assert_array_equal(centers, X_float[indices])

    labels, squared = kernels.assign(X, centers)
    expected = reference.squared_distances(X_float, centers)
    best = expected.min(axis=1)
    assert labels.min() >= 0
    assert labels.max() < n_clusters
    scale = float(np.abs(X_float).max()) + float(np.abs(centers).max())
    slack = tolerance(dtype) * (best + scale**2)
    assert np.all(expected[np.arange(len(labels)), labels] <= best + slack)
    np.testing.assert_allclose(
        squared,
        expected[np.arange(len(labels)), labels],
        rtol=tolerance(dtype) * 10,
        atol=float(slack.max()) + 1e-300,
    )
