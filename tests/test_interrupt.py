"""Ctrl-C (SIGINT) stops long calls quickly and leaves the estimator as it was.

Each case starts a fresh Python process that begins a long call, sends it SIGINT once the call
is under way, and reports when KeyboardInterrupt reached Python and whether the pickled model
is byte-for-byte the one before the call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")

# Seconds allowed between the signal and KeyboardInterrupt in Python.
LATENCY = 0.5
# Seconds to wait after the call started, so the signal lands inside the named phase.
SETTLE = 0.4

SCRIPT = r"""
import json, pickle, sys, time
import numpy as np
from stochastic_quantization import StochasticQuantization

phase = sys.argv[1]
rng = np.random.default_rng(0)
if phase == "run":
    # Online steps dominate: cheap initialisation, many epochs.
    X = rng.normal(size=(200_000, 3))
    model = StochasticQuantization(n_clusters=50, init="sample", max_iter=10_000, tol=None)
    call = lambda: model.fit(X)
elif phase == "partial_fit":
    # A fitted model continued on a chunk of 2 000 000 samples with 500 centres.
    X = rng.normal(size=(2_000_000, 3))
    model = StochasticQuantization(n_clusters=500, init="sample", random_state=0)
    model.partial_fit(X[:1000])
    call = lambda: model.partial_fit(X)
elif phase == "kmeans++":
    # 2 000 centres over 1 000 000 samples: milliseconds per centre, seconds in all.
    X = rng.normal(size=(1_000_000, 3))
    model = StochasticQuantization(n_clusters=2000, random_state=0)
    call = lambda: model.fit(X)
else:
    # predict or score: 2 000 000 samples against 6 000 centres in one kernel call.
    X = rng.normal(size=(2_000_000, 3))
    model = StochasticQuantization(n_clusters=6000, init="sample", max_iter=1, random_state=0)
    model.fit(X[:6000])
    method = getattr(model, phase)
    call = lambda: method(X)
before = pickle.dumps(model)
print("started", flush=True)
try:
    call()
    print(json.dumps({"finished": True}), flush=True)
except KeyboardInterrupt:
    caught = time.monotonic()
    print(json.dumps({"caught": caught, "unchanged": pickle.dumps(model) == before}), flush=True)
"""


@pytest.mark.parametrize("phase", ["run", "partial_fit", "kmeans++", "predict", "score"])
def test_sigint_interrupts_quickly(phase):
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, phase], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "started"
        time.sleep(SETTLE)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    report = json.loads(output.strip().splitlines()[-1])
    assert "caught" in report, report
    assert report["caught"] - sent < LATENCY
    assert report["unchanged"]
