"""PNG figures of the semi-supervised experiment (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets import ImageDataset


def save_figures(results: list[dict], data: ImageDataset, output: Path) -> None:
    """Save convergence, latent-space and confusion-matrix figures for every labeled fraction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for result in results:
        tag = f"{round(100 * result['fraction'])}"
        _convergence(plt, result, output / f"convergence-{tag}.png")
        _latent(plt, result, data, output / f"latent-{tag}.png")
        _confusion(plt, result, data, output / f"confusion-{tag}.png")


def _convergence(plt, result: dict, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, history in result["histories"].items():
        if "(paper)" in name:
            axis.plot(history[:, 0], history[:, 1], label=name.replace(" (paper)", ""))
    axis.set_xlabel("step")
    axis.set_ylabel("mean loss (rank 3)")
    axis.set_yscale("log")
    axis.set_title(f"SQ convergence, paper settings, {result['fraction']:.0%} labeled")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _latent(plt, result: dict, data: ImageDataset, path: Path) -> None:
    embedding = result["test_embedding"]
    centers = result["centers"]["SQ-adam (paper)"]
    figure, axis = plt.subplots(figsize=(6, 6))
    axis.scatter(embedding[:, 0], embedding[:, 1], c=data.test_labels, cmap="tab10", s=3, alpha=0.5)
    axis.scatter(centers[:, 0], centers[:, 1], c="black", marker="x", s=80, label="SQ-adam centres")
    axis.set_title(f"Test embeddings (first two latent axes), {result['fraction']:.0%} labeled")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _confusion(plt, result: dict, data: ImageDataset, path: Path) -> None:
    from sklearn.metrics import confusion_matrix

    names = list(result["predictions"])
    columns = 3
    rows = int(np.ceil(len(names) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 4 * rows))
    for axis, name in zip(axes.ravel(), names):
        matrix = confusion_matrix(data.test_labels, result["predictions"][name])
        axis.imshow(matrix, cmap="Blues")
        axis.set_title(f"{name}\nF1 {result['scores'][name]:.3f}", fontsize=9)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
    for axis in axes.ravel()[len(names) :]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
