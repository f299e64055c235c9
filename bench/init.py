"""Greedy k-means++ against scikit-learn's kmeans_plusplus at n=1M, k=64.

Both draw 2 + floor(ln k) candidates per centre and keep the one that lowers the potential
sum_i D_i^2 most. Two of ours: the kernel on all rows, and what StochasticQuantization runs
(the same kernel on a uniform subsample of max(131,072, 64 k) rows). The table shows the time
and the potential over all of X of the chosen centres (their quality), averaged over seeds,
since the potential of one draw varies from seed to seed.
"""

# Each lambda below is called in the loop iteration that creates it, so late binding of the
# loop variables is intended.
# ruff: noqa: B023

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

SHAPES = ((3, 64), (32, 64))
SEEDS = (0, 1, 2)


def ours(core, X, n_clusters, seed, n_threads):
    """Return k-means++ centres drawn by stochastic_quantization's core."""
    rng = np.random.default_rng(seed)
    trials = 2 + int(np.log(n_clusters))
    uniforms = rng.random(1 + (n_clusters - 1) * trials)
    return X[core.kmeans_plusplus(X, None, n_clusters, uniforms, trials, n_threads)]


def main() -> None:
    args = _common.parse_args(__doc__.splitlines()[0])
    _common.set_threads(args.threads)
    from sklearn.cluster import kmeans_plusplus
    from sklearn.datasets import make_blobs

    from stochastic_quantization._kernels import core
    from stochastic_quantization._state import initial_centers

    n_samples = 200_000 if args.quick else 1_000_000
    seeds = SEEDS[:1] if args.quick else SEEDS
    rows = []
    plot_rows = []
    for n_features, n_clusters in SHAPES:
        X, _ = make_blobs(
            n_samples, n_features, centers=n_clusters, cluster_std=2.0, random_state=0
        )
        X = X.astype(np.float32)
        times = {"all": [], "subsample": [], "sklearn": []}
        losses = {"all": [], "subsample": [], "sklearn": []}
        model = SimpleNamespace(n_clusters=n_clusters, init="k-means++")
        kmeans_plusplus(X[:5000], n_clusters, random_state=0)  # first-call set-up, untimed
        for seed in seeds:
            runs = {
                "all": lambda seed=seed: ours(core, X, n_clusters, seed, args.threads),
                "subsample": lambda seed=seed: initial_centers(
                    model, X, None, np.random.default_rng(seed), args.threads
                ),
                "sklearn": lambda seed=seed: kmeans_plusplus(X, n_clusters, random_state=seed)[0],
            }
            for name, run in runs.items():
                started = time.perf_counter()
                centers = run()
                times[name].append(time.perf_counter() - started)
                centers = np.ascontiguousarray(centers, dtype=np.float32)
                losses[name].append(
                    core.objective(X, None, centers, 2.0, args.threads)[0] / n_samples
                )
        mean = {name: float(np.mean(values)) for name, values in times.items()}
        rows.append(
            [
                f"{n_samples:,} x {n_features}, k={n_clusters}",
                f"{mean['subsample']:.3f}",
                f"{mean['all']:.3f}",
                f"{mean['sklearn']:.3f}",
                f"**{mean['sklearn'] / mean['subsample']:.1f}x**",
                f"{mean['sklearn'] / mean['all']:.1f}x",
                f"{np.mean(losses['subsample']):.4g}",
                f"{np.mean(losses['all']):.4g}",
                f"{np.mean(losses['sklearn']):.4g}",
            ]
        )
        plot_rows.append(
            (f"d={n_features}, k={n_clusters}", mean["subsample"], mean["all"], mean["sklearn"])
        )

    header = [
        "data",
        "ours (subsample) s",
        "ours (all rows) s",
        "sklearn s",
        "speed-up (subsample)",
        "speed-up (all rows)",
        "potential / n: subsample",
        "all rows",
        "sklearn",
    ]
    body = (
        f"float32 blobs (make_blobs, cluster_std=2); one run per seed {list(seeds)}, times and "
        "potentials (sum_i min_k ||x_i - c_k||^2 over all of X, divided by n) averaged over the "
        "seeds. 'subsample' is the initialisation StochasticQuantization uses: k-means++ on "
        "max(131,072, 64 k) rows drawn uniformly.\n\n"
        + _common.markdown_table(header, rows)
        + "\n\n"
        + _common.environment(args.threads)
    )
    _common.write_report(
        "init", "k-means++ initialisation", body, _common.command_line("init.py", args)
    )
    plot(plot_rows)


def plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    positions = np.arange(len(rows))
    for offset, column, label in (
        (-0.27, 1, "ours, subsample"),
        (0.0, 2, "ours, all rows"),
        (0.27, 3, "scikit-learn kmeans_plusplus"),
    ):
        axis.bar(positions + offset, [row[column] for row in rows], 0.27, label=label)
    axis.set_xticks(positions, [row[0] for row in rows])
    axis.set_ylabel("seconds")
    axis.set_title("k-means++ at n=1M")
    axis.legend()
    _common.save_plot(figure, "init")


if __name__ == "__main__":
    main()
