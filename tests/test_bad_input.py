"""Bad input, odd dtypes and layouts at every public entry point.

Every rejection is a ValueError whose message names the argument, the rule and the value. The
raw compiled functions never convert, so a wrong dtype or layout there is a TypeError. The
caller's array and a fitted model are left unchanged.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd
import pytest

from stochastic_quantization import StochasticQuantization, kernels
from stochastic_quantization._kernels import core

RNG = np.random.default_rng(0)
X_GOOD = RNG.normal(size=(30, 3))
CENTERS = X_GOOD[:2].copy()


def digest(array) -> str:
    """Return a hash of an array's bytes, shape, dtype and flags that matter to a caller."""
    array = np.asarray(array)
    header = f"{array.shape}{array.dtype}{array.flags.writeable}".encode()
    if array.dtype.kind in "OU":
        return hashlib.sha256(header + repr(array.tolist()).encode()).hexdigest()
    return hashlib.sha256(header + np.ascontiguousarray(array).tobytes()).hexdigest()


def model_digest(model: StochasticQuantization) -> str:
    return hashlib.sha256(pickle.dumps(model)).hexdigest()


def fitted_model() -> StochasticQuantization:
    return StochasticQuantization(n_clusters=2, random_state=0, max_iter=3).fit(X_GOOD)


# Each entry point takes X and does its work; fitted models are built fresh for every call.
ENTRY_POINTS = {
    "fit": lambda X: StochasticQuantization(n_clusters=2, random_state=0).fit(X),
    "partial_fit_first": lambda X: StochasticQuantization(n_clusters=2, random_state=0).partial_fit(
        X
    ),
    "partial_fit_later": lambda X: fitted_model().partial_fit(X),
    "predict": lambda X: fitted_model().predict(X),
    "transform": lambda X: fitted_model().transform(X),
    "score": lambda X: fitted_model().score(X),
    "kernels.assign": lambda X: kernels.assign(X, CENTERS),
    "kernels.kmeans_plusplus": lambda X: kernels.kmeans_plusplus(X, 2, random_state=0),
}


def with_value(value, dtype=np.float64, row=2, column=1) -> np.ndarray:
    X = X_GOOD.astype(dtype)
    X[row, column] = value
    return X


def with_object_text() -> np.ndarray:
    """Return X_GOOD as an object array with one element that is not a number."""
    X = X_GOOD.astype(object)
    X[2, 1] = "a"
    return X


BAD_SAMPLES = {
    "nan": (with_value(np.nan), r"X must contain only finite values, got nan at row 2, column 1"),
    "+inf": (with_value(np.inf), r"X must contain only finite values, got inf at row 2, column 1"),
    "-inf": (
        with_value(-np.inf),
        r"X must contain only finite values, got -inf at row 2, column 1",
    ),
    "nan_float32": (
        with_value(np.nan, np.float32, 7, 0),
        r"X must contain only finite values, got nan at row 7, column 0",
    ),
    "float32_3e38": (
        with_value(3e38, np.float32),
        r"X has values up to 3e\+38 in magnitude, above 3\.\d+e\+16, where squared "
        r"distances overflow float32",
    ),
    "float64_1e200": (
        with_value(1e200),
        r"X has values up to 1e\+200 in magnitude, above 2\.\d+e\+151, where squared "
        r"distances overflow float64",
    ),
    "no_rows": (np.empty((0, 3)), r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\)"),
    "no_columns": (np.empty((5, 0)), r"Found array with 0 feature\(s\) \(shape=\(5, 0\)\)"),
    "one_dimensional": (X_GOOD[:, 0].copy(), r"Expected 2D array, got 1D array"),
    "three_dimensional": (X_GOOD.reshape(10, 3, 3), r"Found array with dim 3"),
    "object": (with_object_text(), r"X must contain real numbers .* got dtype object"),
    "string": (X_GOOD.astype(str), r"X must contain real numbers .* got dtype <U"),
    "complex": (X_GOOD.astype(complex), r"X must contain real numbers.* got dtype complex128"),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", list(BAD_SAMPLES))
def test_bad_samples_rejected(entry, case):
    X, message = BAD_SAMPLES[case]
    before = digest(X)

    with pytest.raises(ValueError, match=message):
        ENTRY_POINTS[entry](X)

    assert digest(X) == before


def test_float64_beyond_float32_model_rejected():
    model = StochasticQuantization(n_clusters=2, random_state=0).fit(X_GOOD.astype(np.float32))
    before = model_digest(model)
    X = with_value(1e20)

    for method in (model.predict, model.transform, model.score):
        with pytest.raises(ValueError, match=r"X has values up to 1e\+20 .* overflow float32"):
            method(X)

    assert model_digest(model) == before


@pytest.mark.parametrize("method", ["predict", "transform", "score", "partial_fit"])
def test_feature_count_mismatch(method):
    model = fitted_model()
    before = model_digest(model)
    X = X_GOOD[:, :2].copy()

    with pytest.raises(
        ValueError,
        match=r"X has 2 features, but StochasticQuantization is "
        r"expecting 3 features",
    ):
        getattr(model, method)(X)

    assert model_digest(model) == before
    assert model.n_features_in_ == 3


def test_failed_refit_leaves_model_unchanged():
    model = fitted_model()
    before = model_digest(model)

    # The new X passes validation, so n_features_in_ was already reset when init fails.
    with pytest.raises(ValueError, match=r"n_clusters must be <= n_samples = 1, got n_clusters=2"):
        model.fit(np.ones((1, 5)))

    assert model_digest(model) == before
    assert model.predict(X_GOOD[:4]).shape == (4,)


def test_failed_first_fit_leaves_model_unfitted():
    model = StochasticQuantization(n_clusters=5)
    with pytest.raises(ValueError, match="n_clusters must be <= n_samples = 2"):
        model.fit(np.ones((2, 3)))
    assert vars(model) == vars(StochasticQuantization(n_clusters=5))
    with pytest.raises(ValueError, match="n_clusters must be <= n_samples = 2"):
        model.partial_fit(np.ones((2, 3)))
    assert not hasattr(model, "n_features_in_")


# Integer and bool samples are converted to float64, so centres can be fractional. One batch of
# both samples with a constant rate 0.5 puts the single centre exactly at their mean.
EXACT_MEAN = dict(
    n_clusters=1, batch_size=2, schedule="constant", learning_rate=0.5, max_iter=1, tol=None
)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.uint64])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_integer_samples_give_fractional_centres(dtype, method):
    X = np.array([[1, 0], [4, 0]], dtype=dtype)

    model = getattr(StochasticQuantization(random_state=0, **EXACT_MEAN), method)(X)

    assert model.cluster_centers_.dtype == np.float64
    np.testing.assert_array_equal(model.cluster_centers_, [[2.5, 0.0]])
    assert model.predict(X).tolist() == [0, 0]
    assert model.score(X) == pytest.approx(-4.5)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bool_samples_give_fractional_centres(method):
    X = np.array([[True, False], [False, False]])

    model = getattr(StochasticQuantization(random_state=0, **EXACT_MEAN), method)(X)

    np.testing.assert_array_equal(model.cluster_centers_, [[0.5, 0.0]])


def test_integer_samples_through_kernels():
    labels, distances = kernels.assign(np.array([[1, 0], [4, 0]]), np.array([[2.5, 0.0]]))
    assert labels.tolist() == [0, 0]
    np.testing.assert_array_equal(distances, [2.25, 2.25])


def layouts(X: np.ndarray, tmp_path) -> dict:
    """Return X in every accepted layout; each contains the same values as X."""
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
    wide[:, ::2] = X
    read_only = X.copy()
    read_only.flags.writeable = False
    memmap = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    memmap[:] = X
    memmap.flush()
    return {
        "fortran": np.asfortranarray(X),
        "strided": wide[:, ::2],
        "read_only": read_only,
        "memmap": np.load(tmp_path / "X.npy", mmap_mode="r"),
        "list": X.tolist(),
        "dataframe": pd.DataFrame(X),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_give_same_results(dtype, tmp_path):
    X = RNG.normal(size=(200, 3)).astype(dtype)
    params = dict(n_clusters=4, random_state=1, max_iter=3, batch_size=4)
    expected = StochasticQuantization(**params).fit(X)

    for name, variant in layouts(X, tmp_path).items():
        before = digest(variant)
        model = StochasticQuantization(**params).fit(variant)
        # A list loses the float32 dtype and is converted to float64.
        if name == "list":
            reference = StochasticQuantization(**params).fit(X.astype(np.float64))
        else:
            reference = expected
        np.testing.assert_array_equal(
            model.cluster_centers_, reference.cluster_centers_, err_msg=name
        )
        np.testing.assert_array_equal(expected.predict(variant), expected.predict(X), err_msg=name)
        np.testing.assert_array_equal(
            expected.transform(variant), expected.transform(X), err_msg=name
        )
        assert expected.score(variant) == expected.score(X), name
        assert digest(variant) == before, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_through_partial_fit_and_kernels(dtype, tmp_path):
    X = RNG.normal(size=(100, 3)).astype(dtype)
    expected = StochasticQuantization(n_clusters=3, random_state=2).partial_fit(X)
    expected_labels = kernels.assign(X, CENTERS)[0]
    expected_indices = kernels.kmeans_plusplus(X, 3, random_state=4)[1]

    for name, variant in layouts(X, tmp_path).items():
        if name == "list":
            continue
        model = StochasticQuantization(n_clusters=3, random_state=2).partial_fit(variant)
        np.testing.assert_array_equal(
            model.cluster_centers_, expected.cluster_centers_, err_msg=name
        )
        np.testing.assert_array_equal(kernels.assign(variant, CENTERS)[0], expected_labels)
        np.testing.assert_array_equal(
            kernels.kmeans_plusplus(variant, 3, random_state=4)[1], expected_indices
        )


def test_contiguous_and_memmap_samples_not_copied(tmp_path):
    model = fitted_model()
    np.save(tmp_path / "X.npy", X_GOOD)
    for X in (X_GOOD, X_GOOD.astype(np.float32), np.load(tmp_path / "X.npy", mmap_mode="r")):
        assert np.shares_memory(model._validate_samples(X, reset=False), X)


BAD_PARAMETERS = [
    ({"n_clusters": 0}, r"n_clusters must be >= 1, got 0"),
    ({"n_clusters": -3}, r"n_clusters must be >= 1, got -3"),
    ({"n_clusters": 2.5}, r"n_clusters must be an integer, got 2.5 of type float"),
    ({"n_clusters": "3"}, r"n_clusters must be an integer, got '3' of type str"),
    ({"n_clusters": 31}, r"n_clusters must be <= n_samples = 30, got n_clusters=31"),
    ({"learning_rate": 0.0}, r"learning_rate must be > 0.0, got 0.0"),
    ({"learning_rate": -0.1}, r"learning_rate must be > 0.0, got -0.1"),
    ({"learning_rate": float("nan")}, r"learning_rate must be finite, got nan"),
    ({"learning_rate": float("inf")}, r"learning_rate must be finite, got inf"),
    ({"learning_rate": "fast"}, r"learning_rate must be 'auto' or a number > 0, got 'fast'"),
    ({"rank": 0.5}, r"rank must be >= 1.0, got 0.5"),
    ({"rank": 0}, r"rank must be >= 1.0, got 0"),
    ({"rank": float("nan")}, r"rank must be finite, got nan"),
    ({"optimizer": "adamw"}, r"optimizer must be one of 'sgd', .*'adam', got 'adamw'"),
    ({"schedule": "cosine"}, r"schedule must be one of 'auto', .*, got 'cosine'"),
    (
        {"init": "kmeans++"},
        r"init must be one of 'k-means\+\+', 'sample', 'random', got 'kmeans\+\+'",
    ),
    ({"sampling": "shuffle"}, r"sampling must be one of .*, got 'shuffle'"),
    ({"projection": "box"}, r"projection must be None, 'data' or \(lower, upper\), got 'box'"),
    ({"init": np.zeros((2, 2))}, r"init array must have shape .* = \(2, 3\), got \(2, 2\)"),
    ({"init": np.full((2, 3), np.nan)}, r"init array must be finite"),
    ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
    ({"max_iter": 0}, r"max_iter must be >= 1, got 0"),
    ({"epsilon": 0.0}, r"epsilon must be > 0.0, got 0.0"),
    ({"momentum": 1.0}, r"momentum must be < 1.0, got 1.0"),
    ({"n_jobs": 0}, r"n_jobs must be a positive integer, -1 or None, got 0"),
]


@pytest.mark.parametrize(("params", "message"), BAD_PARAMETERS, ids=lambda p: str(p)[:40])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_parameters_rejected(params, message, method):
    X = X_GOOD.copy()
    before = digest(X)
    model = StochasticQuantization(**{"n_clusters": 2, "random_state": 0, **params})

    with pytest.raises(ValueError, match=message):
        getattr(model, method)(X)

    assert digest(X) == before
    assert not hasattr(model, "cluster_centers_")


KERNEL_ERRORS = [
    (
        lambda: kernels.assign(X_GOOD, X_GOOD[:2, :2]),
        r"centers must have as many features as X \(3\), got 2",
    ),
    (lambda: kernels.assign(X_GOOD, np.empty((0, 3))), r"Found array with 0 sample"),
    (lambda: kernels.assign(X_GOOD, [[np.nan, 0, 0]]), r"centers must contain only finite values"),
    (lambda: kernels.assign(X_GOOD, CENTERS, n_jobs=0), r"n_jobs must be a positive integer"),
    (lambda: kernels.kmeans_plusplus(X_GOOD, 0), r"n_clusters must be >= 1, got 0"),
    (lambda: kernels.kmeans_plusplus(X_GOOD, 31), r"n_clusters must be <= n_samples = 30"),
    (lambda: kernels.kmeans_plusplus(X_GOOD, 2, n_local_trials=0), r"n_local_trials must be >= 1"),
    (
        lambda: kernels.kmeans_plusplus(X_GOOD, 2, sample_weight=-np.ones(30)),
        r"sample_weight must be >= 0",
    ),
    (
        lambda: kernels.kmeans_plusplus(X_GOOD, 3, sample_weight=np.r_[1.0, 1.0, np.zeros(28)]),
        r"n_clusters must be <= the number of samples with positive weight = 2, got n_clusters=3",
    ),
]


@pytest.mark.parametrize(("call", "message"), KERNEL_ERRORS)
def test_kernel_wrappers_reject(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# The raw compiled functions convert nothing: a wrong dtype or layout is a TypeError.
def raw_calls(X: np.ndarray, centers: np.ndarray) -> dict:
    return {
        "assign": lambda: core.assign(X, centers, 1),
        "objective": lambda: core.objective(X, None, centers, 2.0, 1),
        "kmeans_plusplus": lambda: core.kmeans_plusplus(X, None, 2, np.full(3, 0.5), 2, 1),
    }


@pytest.mark.parametrize(
    ("variant", "function"),
    [
        (variant, function)
        for variant in ("fortran", "strided", "int64", "float32_with_float64_centres", "list")
        for function in ("assign", "objective", "kmeans_plusplus")
        # kmeans_plusplus takes no centres, so float32 samples alone are valid there.
        if (variant, function) != ("float32_with_float64_centres", "kmeans_plusplus")
    ],
)
def test_raw_core_rejects_wrong_layout(variant, function):
    X = RNG.normal(size=(20, 3))
    centers = X[:2].copy()
    X = {
        "fortran": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
        "int64": X.astype(np.int64),
        "float32_with_float64_centres": X.astype(np.float32),
        "list": X.tolist(),
    }[variant]

    with pytest.raises(TypeError, match="incompatible function arguments"):
        raw_calls(X, centers)[function]()


RAW_VALUE_ERRORS = [
    (
        lambda: core.assign(X_GOOD, X_GOOD[:2, :2].copy(), 1),
        r"samples have 3 features but the centres have 2",
    ),
    (
        lambda: core.assign(X_GOOD, np.empty((0, 3)), 1),
        r"centers must have at least one row and one column, got 0 x 3",
    ),
    (
        lambda: core.objective(X_GOOD, None, X_GOOD[:2, :2].copy(), 2.0, 1),
        r"samples have 3 features but the centres have 2",
    ),
    (
        lambda: core.kmeans_plusplus(X_GOOD, None, 0, np.zeros(1), 1, 1),
        r"n_clusters must be in \[1, n_samples=30\], got 0",
    ),
    (
        lambda: core.kmeans_plusplus(X_GOOD, None, 31, np.zeros(31), 1, 1),
        r"n_clusters must be in \[1, n_samples=30\], got 31",
    ),
    (
        lambda: core.kmeans_plusplus(X_GOOD, None, 3, np.ones(5), 2, 1),
        r"uniforms must lie in \[0, 1\), got uniforms\[0\] = 1",
    ),
    (
        lambda: core.kmeans_plusplus(X_GOOD, None, 3, np.full(5, np.nan), 2, 1),
        r"uniforms must lie in \[0, 1\), got uniforms\[0\] = nan",
    ),
    (
        lambda: core.kmeans_plusplus(X_GOOD, None, 3, np.zeros(4), 2, 1),
        r"needs 1 \+ \(n_clusters - 1\) \* n_local_trials = 5 uniforms, got 4",
    ),
    (
        lambda: core.kmeans_plusplus(X_GOOD, -np.ones(30), 3, np.zeros(5), 2, 1),
        r"sample_weight must be finite and >= 0, got sample_weight\[0\] = -1",
    ),
    (
        lambda: core.kmeans_plusplus(X_GOOD, np.zeros(30), 3, np.zeros(5), 2, 1),
        r"n_clusters must be <= the number of samples with positive weight = 0, got 3",
    ),
]


@pytest.mark.parametrize(("call", "message"), RAW_VALUE_ERRORS)
def test_raw_core_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def raw_run(**overrides):
    centers = X_GOOD[:2].copy()
    arguments = dict(
        rank=2.0,
        optimizer="adam",
        momentum=0.9,
        beta=0.9,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-8,
        schedule="constant",
        learning_rate=0.1,
        t0=1.0,
        power=1.0,
        batch_size=1,
        log_step=0,
        averaging=False,
        lower=None,
        upper=None,
        n_threads=1,
    )
    arguments.update(overrides)
    order = overrides.pop("order", np.arange(30, dtype=np.int64))
    arguments.pop("order", None)
    return core.run(
        X_GOOD,
        None,
        order,
        centers,
        np.zeros_like(centers),
        np.zeros_like(centers),
        np.empty((0, 0)),
        np.zeros(2, dtype=np.int64),
        np.ones(2),
        np.zeros(2),
        0,
        0.0,
        **arguments,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learning_rate": 0.0}, r"learning_rate must be finite and > 0, got 0"),
        ({"learning_rate": -1.0}, r"learning_rate must be finite and > 0, got -1"),
        ({"epsilon": 0.0}, r"epsilon must be finite and > 0, got 0"),
        ({"rank": 0.5}, r"rank must be >= 1, got 0.5"),
        ({"rank": float("inf")}, r"rank must be finite, got inf"),
        ({"beta2": 1.0}, r"beta2 must be in \[0, 1\), got 1"),
        ({"optimizer": "adamw"}, r"optimizer must be one of .*got 'adamw'"),
        ({"schedule": "cosine"}, r"schedule must be one of .*got 'cosine'"),
        ({"batch_size": 0}, r"batch_size must be >= 1, got 0"),
        ({"order": np.array([0, 30], dtype=np.int64)}, r"order\[1\] = 30 is outside \[0, 30\)"),
        ({"order": np.array([-1], dtype=np.int64)}, r"order\[0\] = -1 is outside \[0, 30\)"),
        ({"lower": np.ones(3), "upper": np.zeros(3)}, r"lower bounds must be <= upper bounds"),
        ({"lower": np.ones(3)}, r"lower and upper bounds must be given together"),
    ],
)
def test_raw_run_value_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        raw_run(**overrides)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_raw_core_survives_non_finite(value):
    # The raw functions assume finite input and do not scan for it; they must still return
    # labels in range rather than crash.
    X = with_value(value)
    labels, _ = core.assign(X, CENTERS, 2)
    assert labels.min() >= 0
    assert labels.max() < 2
    indices = core.kmeans_plusplus(X, None, 3, np.full(5, 0.5), 2, 2)
    assert indices.min() >= 0
    assert indices.max() < 30
