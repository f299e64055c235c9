"""Greedy k-means++ against scikit-learn's kmeans_plusplus at n=1M, k=64.

Both draw 2 + floor(ln k) candidates per centre and keep the one that lowers the potential
sum_i D_i^2 most. The table shows the time and the potential of the chosen centres (its quality)
for several seeds, since the potential of one draw varies from seed to seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

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

    n_samples = 200_000 if args.quick else 1_000_000
    seeds = SEEDS[:1] if args.quick else SEEDS
    rows = []
    plot_rows = []
    for n_features, n_clusters in SHAPES:
        X, _ = make_blobs(n_samples, n_features, centers=n_clusters, cluster_std=2.0, random_state=0)
        X = X.astype(np.float32)
        our_times, their_times, our_losses, their_losses = [], [], [], []
        for seed in seeds:
            seconds = _common.best_time(lambda seed=seed: ours(core, X, n_clusters, seed, args.threads), 1)
            centers = ours(core, X, n_clusters, seed, args.threads)
            our_times.append(seconds)
            our_losses.append(core.objective(X, None, centers, 2.0, args.threads)[0])
            seconds = _common.best_time(
                lambda seed=seed: kmeans_plusplus(X, n_clusters, random_state=seed), 1
            )
            centers, _ = kmeans_plusplus(X, n_clusters, random_state=seed)
            their_times.append(seconds)
            their_losses.append(core.objective(X, None, centers.astype(np.float32), 2.0, args.threads)[0])
        mean_ours, mean_theirs = np.mean(our_times), np.mean(their_times)
        rows.append(
            [
                f"{n_samples:,} x {n_features}, k={n_clusters}",
                f"{mean_ours:.3f}",
                f"{mean_theirs:.3f}",
                f"**{mean_theirs / mean_ours:.1f}x**",
                f"{np.mean(our_losses) / n_samples:.4g}",
                f"{np.mean(their_losses) / n_samples:.4g}",
            ]
        )
        plot_rows.append((f"d={n_features}, k={n_clusters}", mean_ours, mean_theirs))

    header = ["data", "ours s", "sklearn s", "speed-up", "ours potential / n", "sklearn potential / n"]
    body = (
        f"float32 blobs (make_blobs, cluster_std=2); times are the mean over seeds {list(seeds)} "
        "of one run each after a warm-up; the potential is sum_i min_k ||x_i - c_k||^2 of the "
        "chosen centres, averaged over the same seeds (equal quality: both run the same greedy "
        "algorithm on all points).\n\n"
        + _common.markdown_table(header, rows)
        + "\n\n"
        + _common.environment(args.threads)
    )
    _common.write_report("init", "k-means++ initialisation", body, _common.command_line("init.py", args))
    plot(plot_rows)


def plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    positions = np.arange(len(rows))
    axis.bar(positions - 0.2, [row[1] for row in rows], 0.4, label="stochastic_quantization")
    axis.bar(positions + 0.2, [row[2] for row in rows], 0.4, label="scikit-learn kmeans_plusplus")
    axis.set_xticks(positions, [row[0] for row in rows])
    axis.set_ylabel("seconds")
    axis.set_title("k-means++ at n=1M")
    axis.legend()
    _common.save_plot(figure, "init")


if __name__ == "__main__":
    main()
