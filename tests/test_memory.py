"""Memory of predict and fit on many samples and many centres stays within a fixed budget.

A distance matrix of 250 000 samples x 6 000 centres would take 12 GB in float64; the kernels
work in blocks of rows, so the extra memory is O(n_samples + n_clusters * n_features) plus a
per-thread block. Each case runs in a fresh process and reads the peak resident set size
(VmHWM in /proc/self/status) before and after the call, with tracemalloc for NumPy
allocations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="needs /proc/self/status (Linux)"
)

# Extra peak memory allowed beyond X, the initial centres and the outputs (labels: 2 MB).
BUDGET_MB = 64

SCRIPT = r"""
import json, sys, tracemalloc
import numpy as np
from stochastic_quantization import StochasticQuantization

def peak_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024

n_samples, n_clusters, n_jobs, action, init = sys.argv[1:6]
n_samples, n_clusters, n_jobs = int(n_samples), int(n_clusters), int(n_jobs)
rng = np.random.default_rng(0)
X = rng.normal(size=(n_samples, 2))
start = X[rng.choice(n_samples, n_clusters, replace=False)] if init == "array" else init
model = StochasticQuantization(
    n_clusters=n_clusters, init=start, max_iter=1, tol=None, random_state=0, n_jobs=n_jobs
)
if action == "predict":
    model.fit(X[:n_clusters])
before = peak_mb()
tracemalloc.start()
if action == "predict":
    labels = model.predict(X)
else:
    labels = model.fit(X).labels_
traced = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps({"extra": peak_mb() - before, "traced": traced, "n_labels": len(labels)}))
"""


def measure(n_samples: int, n_clusters: int, n_jobs: int, action: str, init: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(n_samples), str(n_clusters), str(n_jobs), action, init],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("n_jobs", [1, 8])
def test_predict_memory_bounded(n_jobs):
    usage = measure(250_000, 6_000, n_jobs, "predict", "array")

    assert usage["n_labels"] == 250_000
    assert usage["extra"] < BUDGET_MB, usage
    assert usage["traced"] < BUDGET_MB / 2, usage


def test_fit_memory_bounded_small_k():
    usage = measure(250_000, 600, 2, "fit", "array")

    assert usage["extra"] < BUDGET_MB, usage
    assert usage["traced"] < BUDGET_MB / 2, usage


@pytest.mark.slow
@pytest.mark.parametrize(("n_jobs", "init"), [(1, "array"), (8, "array"), (2, "k-means++")])
def test_fit_memory_bounded(n_jobs, init):
    n_samples = 250_000 if init == "array" else 50_000
    usage = measure(n_samples, 6_000, n_jobs, "fit", init)

    assert usage["extra"] < BUDGET_MB, usage
    assert usage["traced"] < BUDGET_MB / 2, usage
