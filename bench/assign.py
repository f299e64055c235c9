"""Nearest-centre assignment of 1M float32 points against FAISS, scikit-learn and NumPy.

For each (d, k) the script times stochastic_quantization's `assign`, FAISS
IndexFlatL2.search(x, 1), scikit-learn's pairwise_distances_argmin and NumPy GEMM + argmin, all
with the same thread count, and prints the speed-ups with the FLOP rates beside NumPy's sgemm
rate measured in the same run (2 n d k flops per assignment).
"""

# Each lambda below is called in the loop iteration that creates it, so late binding of the
# loop variables is intended.
# ruff: noqa: B023

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

SHAPES = ((3, 10), (32, 64), (128, 256))
CHUNK = 16384  # rows per NumPy GEMM block: the distance block stays in the L2 cache


def numpy_assign(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Return argmin_k ||x - c_k||^2 by GEMM (-2 X C^T + ||c||^2) and argmin, block by block."""
    norms = np.einsum("kd,kd->k", centers, centers)
    labels = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), CHUNK):
        scores = X[start : start + CHUNK] @ centers.T
        scores *= -2.0
        scores += norms
        labels[start : start + CHUNK] = scores.argmin(axis=1)
    return labels


def numpy_gemm_only(X: np.ndarray, centers: np.ndarray) -> None:
    """Run the GEMM of numpy_assign alone: sgemm at the assignment's shape."""
    transposed = np.ascontiguousarray(centers.T)
    for start in range(0, len(X), CHUNK):
        X[start : start + CHUNK] @ transposed


def square_sgemm_rate(repeats: int) -> float:
    """Return NumPy's sgemm rate in GFLOP/s on 2048 x 2048 float32 matrices."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = rng.standard_normal((2048, 2048), dtype=np.float32)
    seconds = _common.best_time(lambda: a @ b, repeats)
    return 2 * 2048**3 / seconds / 1e9


def main() -> None:
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.set_threads(args.threads)
    import faiss
    from sklearn.metrics import pairwise_distances_argmin

    from stochastic_quantization._kernels import core

    n_samples = 200_000 if args.quick else 1_000_000
    rng = np.random.default_rng(0)
    peak = square_sgemm_rate(args.repeats)
    rows, plot_rows = [], []
    for n_features, n_clusters in SHAPES:
        X = rng.standard_normal((n_samples, n_features), dtype=np.float32)
        centers = X[rng.choice(n_samples, n_clusters, replace=False)].copy()
        index = faiss.IndexFlatL2(n_features)
        index.add(centers)

        ours = _common.best_time(lambda: core.assign(X, centers, args.threads), args.repeats)
        theirs = _common.best_time(lambda: index.search(X, 1), args.repeats)
        sklearn_time = _common.best_time(
            lambda: pairwise_distances_argmin(X, centers), max(1, args.repeats - 2)
        )
        numpy_time = _common.best_time(lambda: numpy_assign(X, centers), args.repeats)
        gemm_time = _common.best_time(lambda: numpy_gemm_only(X, centers), args.repeats)

        labels, _ = core.assign(X, centers, args.threads)
        _, faiss_labels = index.search(X, 1)
        agree = float(np.mean(labels == faiss_labels[:, 0]))
        flops = 2.0 * n_samples * n_features * n_clusters
        rate = flops / ours / 1e9
        rows.append(
            [
                f"({n_features}, {n_clusters})",
                f"{ours * 1e3:.1f}",
                f"{theirs * 1e3:.1f}",
                f"{sklearn_time * 1e3:.1f}",
                f"{numpy_time * 1e3:.1f}",
                f"**{theirs / ours:.1f}x**",
                f"{sklearn_time / ours:.1f}x",
                f"{numpy_time / ours:.1f}x",
                f"{rate:.1f}",
                f"{flops / gemm_time / 1e9:.1f}",
                f"**{100 * rate / peak:.0f} %**",
                f"{agree:.6f}",
            ]
        )
        plot_rows.append(
            (f"d={n_features}, k={n_clusters}", ours, theirs, sklearn_time, numpy_time)
        )

    header = [
        "(d, k)",
        "ours ms",
        "FAISS ms",
        "sklearn ms",
        "NumPy ms",
        "vs FAISS",
        "vs sklearn",
        "vs NumPy",
        "ours GFLOP/s",
        "sgemm at this shape GFLOP/s",
        "ours / square sgemm",
        "labels equal to FAISS",
    ]
    body = (
        f"{n_samples:,} float32 points, standard normal; centres drawn from the points; "
        f"minimum of {args.repeats} runs after a warm-up. NumPy's square sgemm "
        f"(2048^3, float32) runs at **{peak:.1f} GFLOP/s** here; 'ours / square sgemm' divides "
        f"our rate (2 n d k flops per assignment) by it.\n\n"
        + _common.markdown_table(header, rows)
        + "\n\n"
        + _common.environment(args.threads)
        + "\n\nLabels differ from FAISS only on near-ties of float32 rounding."
    )
    _common.write_report(
        "assign", "Nearest-centre assignment", body, _common.command_line("assign.py", args)
    )
    plot(plot_rows)


def plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["stochastic_quantization", "FAISS IndexFlatL2", "scikit-learn", "NumPy GEMM + argmin"]
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.2
    for position, name in enumerate(names):
        axis.bar(
            [i + position * width for i in range(len(rows))],
            [row[1 + position] * 1e3 for row in rows],
            width,
            label=name,
        )
    axis.set_xticks([i + 1.5 * width for i in range(len(rows))], [row[0] for row in rows])
    axis.set_yscale("log")
    axis.set_ylabel("time for all points (ms, log scale)")
    axis.set_title("Nearest-centre assignment")
    axis.legend()
    _common.save_plot(figure, "assign")


if __name__ == "__main__":
    main()
