"""SQ epoch throughput (samples/s) of each optimizer against the per-sample Python loop.

The Python loop is the form of the paper's published code: for each sample, the nearest centre
is the argmin of NumPy norms, and that one centre moves by the optimizer's rule written in
NumPy. It is timed on a prefix of the epoch (its rate is flat in n); SQ runs whole 1M-sample
epochs with batch_size=1 through the compiled core, as StochasticQuantization.fit does.
"""

# Each lambda below is called in the loop iteration that creates it, so late binding of the
# loop variables is intended.
# ruff: noqa: B023

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from stochastic_quantization._state import STATE_ARRAYS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

SHAPES = ((3, 10), (32, 64))
OPTIMIZERS = ("sgd", "momentum", "nag", "adagrad", "rmsprop", "adam")
ADAPTIVE = ("adagrad", "rmsprop", "adam")
MOMENTUM, BETA, BETA1, BETA2, EPSILON = 0.9, 0.9, 0.9, 0.999, 1e-8


def python_loop(X, order, centers, optimizer, learning_rate):
    """Run one SQ pass over X[order] one sample at a time in NumPy; return the centres."""
    first = np.zeros_like(centers)
    second = np.zeros_like(centers)
    moves = np.zeros(len(centers), dtype=np.int64)
    for i in order:
        x = X[i]
        k = np.argmin(np.linalg.norm(centers - x, axis=1))
        moves[k] += 1
        if optimizer == "nag":
            lookahead = centers[k] + MOMENTUM * first[k]
            gradient = 2.0 * (lookahead - x)
            previous = centers[k].copy()
            centers[k] = lookahead - learning_rate * gradient
            first[k] = centers[k] - previous
            continue
        gradient = 2.0 * (centers[k] - x)
        if optimizer == "sgd":
            centers[k] -= learning_rate * gradient
        elif optimizer == "momentum":
            previous = centers[k].copy()
            centers[k] += -learning_rate * gradient + MOMENTUM * first[k]
            first[k] = centers[k] - previous
        elif optimizer == "adagrad":
            first[k] += gradient**2
            centers[k] -= learning_rate * gradient / (np.sqrt(first[k]) + EPSILON)
        elif optimizer == "rmsprop":
            first[k] = BETA * first[k] + (1 - BETA) * gradient**2
            centers[k] -= learning_rate * gradient / (np.sqrt(first[k]) + EPSILON)
        else:
            first[k] = BETA1 * first[k] + (1 - BETA1) * gradient
            second[k] = BETA2 * second[k] + (1 - BETA2) * gradient**2
            m = first[k] / (1 - BETA1 ** moves[k])
            v = second[k] / (1 - BETA2 ** moves[k])
            centers[k] -= learning_rate * m / (np.sqrt(v) + EPSILON)
    return centers


def core_epoch(core, X, order, centers, optimizer):
    """Run one SQ epoch over X[order] through the compiled core (batch_size=1)."""
    n_clusters = len(centers)
    arrays = STATE_ARRAYS[optimizer]
    empty = np.empty((0, 0), X.dtype)
    core.run(
        X, None, order, centers,
        np.zeros_like(centers) if arrays >= 1 else empty,
        np.zeros_like(centers) if arrays >= 2 else empty,
        empty, np.zeros(n_clusters, np.int64), np.ones(n_clusters), np.zeros(n_clusters), 0, 0.0,
        rank=2.0, optimizer=optimizer, momentum=MOMENTUM, beta=BETA, beta1=BETA1, beta2=BETA2,
        epsilon=EPSILON, schedule="inverse_time" if optimizer in ADAPTIVE else "count",
        learning_rate=0.01 if optimizer in ADAPTIVE else 1.0, t0=float(len(order)), power=1.0,
        batch_size=1, log_step=0, averaging=False, lower=None, upper=None, n_threads=1,
    )  # fmt: skip


def main() -> None:
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.set_threads(args.threads)
    from stochastic_quantization._kernels import core

    n_samples = 200_000 if args.quick else 1_000_000
    n_python = 2_000 if args.quick else 10_000
    rng = np.random.default_rng(0)
    rows = []
    plot_rows = []
    for n_features, n_clusters in SHAPES:
        X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
        order = rng.permutation(n_samples).astype(np.int64)
        initial = X[rng.choice(n_samples, n_clusters, replace=False)].copy()
        for optimizer in OPTIMIZERS:
            seconds = _common.best_time(
                lambda: core_epoch(core, X, order, initial.copy(), optimizer), args.repeats
            )
            started = time.perf_counter()
            python_loop(X, order[:n_python], initial.copy(), optimizer, 0.01)
            python_seconds = time.perf_counter() - started
            ours = n_samples / seconds
            theirs = n_python / python_seconds
            rows.append(
                [
                    f"({n_features}, {n_clusters})",
                    optimizer,
                    f"{ours / 1e6:.1f} M",
                    f"{1e9 / ours:.0f}",
                    f"{theirs / 1e3:.0f} k",
                    f"**{ours / theirs:.0f}x**",
                ]
            )
            plot_rows.append((f"({n_features}, {n_clusters}) {optimizer}", ours / theirs))

    header = [
        "(d, k)",
        "optimizer",
        "SQ samples/s",
        "SQ ns/sample",
        "Python loop samples/s",
        "ratio",
    ]
    body = (
        f"SQ: one epoch of {n_samples:,} float32 standard-normal samples in a random order, "
        f"batch_size=1, one thread (each step depends on the previous one), minimum of "
        f"{args.repeats} runs. Python loop: the first {n_python:,} samples of the same order, "
        "argmin of `np.linalg.norm(centers - x, axis=1)` and one NumPy centre update per "
        "sample.\n\n"
        + _common.markdown_table(header, rows)
        + "\n\n"
        + _common.environment(args.threads)
    )
    _common.write_report("fit", "SQ epoch throughput", body, _common.command_line("fit.py", args))
    plot(plot_rows)


def plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4))
    axis.barh([row[0] for row in rows], [row[1] for row in rows])
    axis.axvline(1000, color="black", linestyle="--", label="1000x")
    axis.set_xscale("log")
    axis.set_xlabel("SQ samples/s divided by the per-sample Python loop's")
    axis.legend()
    _common.save_plot(figure, "fit")


if __name__ == "__main__":
    main()
