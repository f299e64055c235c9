"""Thread count independence, BLAS oversubscription and concurrent use from Python threads."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import stochastic_quantization._state as state_module
import stochastic_quantization.estimator as estimator_module
from stochastic_quantization import StochasticQuantization, kernels

N_JOBS = (1, 2, 3, 8)


def blobs(n_samples: int, n_features: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=8.0, size=(6, n_features))
    return centers[rng.integers(0, 6, n_samples)] + rng.normal(size=(n_samples, n_features))


# The core gives each thread at least 2**21 multiply-adds, so these sizes make the work large
# enough for several threads. The work is samples x centres x features per loss pass, batch x
# centres x features per step, and samples x trials x features per k-means++ centre.
CASES = {
    "online_3d": dict(n_samples=50_000, n_features=3, params=dict(n_clusters=40)),
    "batch_adam_16d": dict(
        n_samples=40_000,
        n_features=16,
        params=dict(n_clusters=40, batch_size=8192, optimizer="adam"),
    ),
    "kmeans_plusplus_40d": dict(
        n_samples=60_000,
        n_features=40,
        params=dict(n_clusters=14, batch_size=4096, averaging=True, max_iter=1),
    ),
    "rank_1_momentum": dict(
        n_samples=30_000,
        n_features=5,
        params=dict(n_clusters=30, rank=1.0, optimizer="momentum", batch_size=512),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_results_independent_of_n_jobs(case, dtype):
    X = blobs(CASES[case]["n_samples"], CASES[case]["n_features"]).astype(dtype)
    params = dict(random_state=7, max_iter=2, tol=None)
    params.update(CASES[case]["params"])
    models = [StochasticQuantization(n_jobs=n_jobs, **params).fit(X) for n_jobs in N_JOBS]
    reference = models[0]

    for n_jobs, model in zip(N_JOBS, models):
        np.testing.assert_array_equal(
            model.cluster_centers_, reference.cluster_centers_, err_msg=str(n_jobs)
        )
        np.testing.assert_array_equal(model.labels_, reference.labels_)
        np.testing.assert_array_equal(model.loss_history_, reference.loss_history_)
        assert model.inertia_ == reference.inertia_
        assert model.score(X) == reference.score(X)
        np.testing.assert_array_equal(model.transform(X[:50]), reference.transform(X[:50]))


def test_kernels_independent_of_n_jobs():
    X = blobs(200_000, 7)
    centers, indices = kernels.kmeans_plusplus(X, 12, random_state=3, n_jobs=1)
    labels, distances = kernels.assign(X, centers, n_jobs=1)

    for n_jobs in N_JOBS[1:]:
        np.testing.assert_array_equal(
            kernels.kmeans_plusplus(X, 12, random_state=3, n_jobs=n_jobs)[1], indices
        )
        other_labels, other_distances = kernels.assign(X, centers, n_jobs=n_jobs)
        np.testing.assert_array_equal(other_labels, labels)
        np.testing.assert_array_equal(other_distances, distances)


class RecordingCore:
    """Stand-in for the compiled module that records BLAS thread limits during each call."""

    def __init__(self, core):
        self._core = core
        self.calls = []

    def __getattr__(self, name):
        function = getattr(self._core, name)

        def wrapper(*args, **kwargs):
            n_threads = kwargs.get("n_threads", args[-1] if args else None)
            blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
            self.calls.append((name, n_threads, blas))
            return function(*args, **kwargs)

        return wrapper


@pytest.mark.skipif(
    not any(info["user_api"] == "blas" for info in threadpool_info()),
    reason="no BLAS library loaded",
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_blas_single_threaded_while_core_runs(method, monkeypatch):
    recorder = RecordingCore(state_module.core)
    monkeypatch.setattr(state_module, "core", recorder)
    monkeypatch.setattr(estimator_module, "core", recorder)
    X = blobs(2000, 20)

    getattr(StochasticQuantization(n_clusters=5, n_jobs=2, random_state=0, max_iter=2), method)(X)

    assert {name for name, _, _ in recorder.calls} >= {
        "kmeans_plusplus",
        "run",
        "objective",
        "assign",
    }
    for name, n_threads, blas in recorder.calls:
        assert n_threads == 2, name
        assert all(limit == 1 for limit in blas), (name, blas)


def test_predict_from_python_threads_matches_serial():
    X = blobs(20_000, 16)
    model = StochasticQuantization(n_clusters=9, random_state=0, max_iter=2, n_jobs=2).fit(X)
    chunks = np.array_split(X, 40)
    expected_labels = [model.predict(chunk) for chunk in chunks]
    expected_distances = [model.transform(chunk) for chunk in chunks]
    expected_scores = [model.score(chunk) for chunk in chunks]

    with ThreadPoolExecutor(max_workers=8) as pool:
        labels = list(pool.map(model.predict, chunks))
        distances = list(pool.map(model.transform, chunks))
        scores = list(pool.map(model.score, chunks))

    for i in range(len(chunks)):
        np.testing.assert_array_equal(labels[i], expected_labels[i])
        np.testing.assert_array_equal(distances[i], expected_distances[i])
        assert scores[i] == expected_scores[i]


def test_huge_n_jobs_accepted():
    X = blobs(2000, 3)
    expected = StochasticQuantization(n_clusters=4, random_state=0, n_jobs=1).fit(X)

    model = StochasticQuantization(n_clusters=4, random_state=0, n_jobs=2**40).fit(X)

    np.testing.assert_array_equal(model.cluster_centers_, expected.cluster_centers_)
    np.testing.assert_array_equal(model.predict(X), expected.predict(X))


THREAD_LIMIT_SCRIPT = r"""
import resource
import numpy as np
from stochastic_quantization import kernels

rng = np.random.default_rng(0)
X = rng.normal(size=(100_000, 8))
centers = X[:64].copy()
expected = kernels.assign(X, centers, n_jobs=1)[0]

# Leave about 24 MB of address space: a thread stack takes 8 MB, so most of the requested
# threads cannot start.
with open("/proc/self/status") as status:
    size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
limit = (size_kb + 24 * 1024) * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
labels = kernels.assign(X, centers, n_jobs=64)[0]
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print("equal" if np.array_equal(labels, expected) else "different")
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_threads_that_cannot_start_do_not_crash():
    result = subprocess.run(
        [sys.executable, "-c", THREAD_LIMIT_SCRIPT], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "equal"
