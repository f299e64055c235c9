"""Plot the loss against the step for the six optimizers on the digits (docs/convergence.png).

Run: python docs/plot_convergence.py  (needs matplotlib)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits

from stochastic_quantization import StochasticQuantization

OPTIMIZERS = ["sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"]


def main() -> None:
    X = load_digits().data
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for optimizer in OPTIMIZERS:
        model = StochasticQuantization(
            10, optimizer=optimizer, random_state=0, log_step=200, max_iter=10, tol=None
        ).fit(X)
        axis.plot(model.loss_history_[:, 0], model.loss_history_[:, 1], label=optimizer)
    kmeans = KMeans(10, n_init=1, random_state=0).fit(X)
    axis.axhline(kmeans.inertia_ / len(X), color="black", linestyle="--", label="KMeans (final)")
    axis.set_xlabel("step (samples processed)")
    axis.set_ylabel("mean squared distance to the nearest centre")
    axis.set_title("SQ on scikit-learn digits, K = 10, default settings per optimizer")
    axis.set_ylim(top=1.3 * kmeans.inertia_ / len(X))
    axis.legend()
    figure.tight_layout()
    output = Path(__file__).with_name("convergence.png")
    figure.savefig(output, dpi=110)
    print(f"saved {output}")


if __name__ == "__main__":
    main()
