"""Pickle, deepcopy and clone: identical predictions, and partial_fit resumes exactly.

The fit state (centres, optimizer moments, step counters, random generator) is kept in NumPy
arrays and a NumPy Generator, so a pickle contains no native pointers and a model loaded in another
process continues a stream bit for bit.
"""

from __future__ import annotations

import copy
import io
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone

from stochastic_quantization import StochasticQuantization

OPTIMIZERS = ("sgd", "momentum", "nag", "adagrad", "rmsprop", "adam")
RNG = np.random.default_rng(5)
CHUNKS = [RNG.normal(size=(300, 4)) + shift for shift in (0.0, 3.0, -2.0)]
FITTED_ATTRIBUTES = (
    "cluster_centers_",
    "labels_",
    "inertia_",
    "n_iter_",
    "n_steps_",
    "loss_history_",
    "learning_rate_",
    "n_features_in_",
)


def model_for(optimizer: str, **params) -> StochasticQuantization:
    return StochasticQuantization(
        n_clusters=5,
        optimizer=optimizer,
        batch_size=4,
        averaging=optimizer == "nag",
        projection="data" if optimizer == "adam" else None,
        random_state=3,
        **params,
    )


def assert_same_model(a: StochasticQuantization, b: StochasticQuantization) -> None:
    for name in FITTED_ATTRIBUTES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("centers", "first", "second", "averaged", "updates", "mass", "marks"):
        np.testing.assert_array_equal(
            getattr(a._state, name), getattr(b._state, name), err_msg=name
        )
    assert a._state.step == b._state.step
    assert a._state.rate_sum == b._state.rate_sum
    assert a._rng.bit_generator.state == b._rng.bit_generator.state


class RecordingUnpickler(pickle.Unpickler):
    """Unpickler that records the module of every class or function the pickle refers to."""

    def __init__(self, payload: bytes):
        super().__init__(io.BytesIO(payload))
        self.modules = set()

    def find_class(self, module, name):
        self.modules.add(module)
        return super().find_class(module, name)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_pickle_round_trip_predicts_identically(optimizer):
    model = model_for(optimizer, max_iter=3).fit(CHUNKS[0])
    loaded = pickle.loads(pickle.dumps(model))

    assert_same_model(loaded, model)
    X = np.concatenate(CHUNKS)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    assert loaded.score(X) == model.score(X)


def test_pickle_unfitted_model():
    model = StochasticQuantization(n_clusters=3, optimizer="adam", random_state=1)
    loaded = pickle.loads(pickle.dumps(model))

    assert loaded.get_params() == model.get_params()
    assert not hasattr(loaded, "cluster_centers_")
    np.testing.assert_array_equal(
        loaded.fit(CHUNKS[0]).cluster_centers_, model.fit(CHUNKS[0]).cluster_centers_
    )


def test_pickle_holds_no_native_objects():
    model = model_for("adam").fit(CHUNKS[0])
    unpickler = RecordingUnpickler(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    unpickler.load()
    modules = unpickler.modules

    assert not any(module.startswith("stochastic_quantization._core") for module in modules)
    allowed = ("stochastic_quantization", "numpy", "builtins", "copyreg", "_codecs")
    assert all(module.split(".")[0] in allowed for module in modules), modules


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_partial_fit_resumes_after_pickle(optimizer):
    uninterrupted = model_for(optimizer)
    for chunk in CHUNKS:
        uninterrupted.partial_fit(chunk)

    resumed = model_for(optimizer)
    for chunk in CHUNKS:
        resumed = pickle.loads(pickle.dumps(resumed))
        resumed.partial_fit(chunk)

    assert_same_model(resumed, uninterrupted)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_then_partial_fit_resumes_after_pickle(optimizer):
    model = model_for(optimizer, max_iter=2).fit(CHUNKS[0])
    loaded = pickle.loads(pickle.dumps(model))

    model.partial_fit(CHUNKS[1])
    loaded.partial_fit(CHUNKS[1])

    assert_same_model(loaded, model)


@pytest.mark.parametrize("optimizer", ["rmsprop", "nag"])
def test_deepcopy_is_independent_and_resumes(optimizer):
    model = model_for(optimizer).partial_fit(CHUNKS[0])
    copied = copy.deepcopy(model)
    assert_same_model(copied, model)

    copied.partial_fit(CHUNKS[1])
    model.partial_fit(CHUNKS[1])
    assert_same_model(copied, model)

    before = model.cluster_centers_.copy()
    copied.partial_fit(CHUNKS[2])
    np.testing.assert_array_equal(model.cluster_centers_, before)


def test_clone_is_unfitted_with_same_parameters():
    model = model_for("adam", max_iter=2).fit(CHUNKS[0])
    cloned = clone(model)

    assert cloned.get_params() == model.get_params()
    assert not hasattr(cloned, "cluster_centers_")
    assert not hasattr(cloned, "_state")
    assert_same_model(cloned.fit(CHUNKS[0]), model)


FRESH_PROCESS = r"""
import pickle, sys
import numpy as np
model = pickle.loads(sys.stdin.buffer.read())
chunk = np.load(sys.argv[1])
labels = model.predict(chunk)
model.partial_fit(chunk)
sys.stdout.buffer.write(pickle.dumps((labels, model)))
"""


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_pickle_in_fresh_process(optimizer, tmp_path):
    model = model_for(optimizer).partial_fit(CHUNKS[0])
    np.save(tmp_path / "chunk.npy", CHUNKS[1])

    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "chunk.npy")],
        input=pickle.dumps(model),
        capture_output=True,
        timeout=120,
        check=True,
    )
    labels, continued = pickle.loads(result.stdout)

    np.testing.assert_array_equal(labels, model.predict(CHUNKS[1]))
    model.partial_fit(CHUNKS[1])
    assert_same_model(continued, model)
