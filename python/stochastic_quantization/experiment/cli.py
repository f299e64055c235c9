"""``python -m stochastic_quantization experiment``: the semi-supervised image experiment.

For each labeled fraction, the Triplet Network encoder trains on the labeled training images
and embeds all images. Six SQ variants fitted on all training embeddings then classify the test
images, beside K-Means and K-Means++ (scikit-learn, centres labeled by majority vote) and a kNN
on the labeled embeddings. The command prints the weighted F1 table and saves PNG figures.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..datasets import ImageDataset, load_dataset
from ..estimator import StochasticQuantization
from ..semi_supervised import UNLABELED, SQClassifier, label_centers_by_vote

OPTIMIZERS = ["sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"]
# Settings of Kozyriev and Norkin's experiments (arXiv:2409.02066): rank 3 with a constant
# learning rate per optimizer.
PAPER_RATES = {
    "sgd": 0.001,
    "momentum": 0.001,
    "nag": 0.001,
    "rmsprop": 0.001,
    "adagrad": 0.1,
    "adam": 0.01,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stochastic_quantization experiment",
        description="Semi-supervised classification: Triplet Network embedding, then SQ.",
    )
    parser.add_argument(
        "--dataset",
        default="digits",
        help="'digits', 'fashion-mnist' or 'idx:<folder of MNIST-format IDX files>'",
    )
    parser.add_argument(
        "--labeled",
        default="0.25,0.5,0.75,1.0",
        help="comma-separated labeled fractions of the training set (default 0.25,0.5,0.75,1.0)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="encoder epochs at 100%% labels (default 30 on digits, 8 otherwise); a fraction f "
        "trains for epochs / f epochs, so every fraction takes the same number of steps",
    )
    parser.add_argument(
        "--max-train",
        type=int,
        default=None,
        help="use at most this many training images (default: 12000 for IDX data, all digits)",
    )
    parser.add_argument("--n-components", type=int, default=3, help="latent dimension (default 3)")
    parser.add_argument("--sq-epochs", type=int, default=10, help="SQ epochs (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--output", default="experiment-output", help="folder for figures and table"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    return parser


def _subsample(data: ImageDataset, max_train: int | None, seed: int) -> ImageDataset:
    if max_train is None or max_train >= len(data.train_images):
        return data
    from sklearn.model_selection import train_test_split

    images, _, labels, _ = train_test_split(
        data.train_images,
        data.train_labels,
        train_size=max_train,
        stratify=data.train_labels,
        random_state=seed,
    )
    return ImageDataset(images, labels, data.test_images, data.test_labels, data.name)


def _labeled_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Stratified choice of the labeled training samples."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, round(fraction * len(members)))
        mask[rng.choice(members, size=count, replace=False)] = True
    return mask


def _methods(seed: int, sq_epochs: int) -> dict[str, SQClassifier]:
    methods = {}
    for optimizer in OPTIMIZERS:
        paper = StochasticQuantization(
            rank=3.0,
            optimizer=optimizer,
            learning_rate=PAPER_RATES[optimizer],
            schedule="constant",
            max_iter=sq_epochs,
            tol=None,
            log_step=500,
            random_state=seed,
        )
        methods[f"SQ-{optimizer} (paper)"] = SQClassifier(quantizer=paper)
    ours = StochasticQuantization(max_iter=sq_epochs, random_state=seed, optimizer="adam")
    methods["SQ-adam (ours: rank 2, auto rate)"] = SQClassifier(quantizer=ours)
    return methods


def _kmeans_f1(train, y_train, labeled, test, y_test, init: str, seed: int, classes) -> tuple:
    from sklearn.cluster import KMeans
    from sklearn.metrics import f1_score

    kmeans = KMeans(len(classes), init=init, n_init=1, random_state=seed).fit(train)
    center_labels = label_centers_by_vote(
        kmeans.cluster_centers_,
        kmeans.predict(train[labeled]),
        train[labeled],
        y_train[labeled],
        classes,
    )
    predicted = center_labels[kmeans.predict(test)]
    return f1_score(y_test, predicted, average="weighted"), predicted


def run_fraction(data: ImageDataset, fraction: float, args: argparse.Namespace) -> dict:
    from sklearn.metrics import f1_score
    from sklearn.neighbors import KNeighborsClassifier

    from .encoder import TripletEncoder

    labeled = _labeled_mask(data.train_labels, fraction, args.seed)
    started = time.perf_counter()
    # Equal gradient steps for every fraction: with fixed epochs a small labeled set would get
    # proportionally fewer updates, and its weaker embedding would be blamed on the clustering.
    epochs = math.ceil(args.epochs / fraction)
    encoder = TripletEncoder(
        args.n_components, epochs=epochs, random_state=args.seed, verbose=1
    ).fit(data.train_images[labeled], data.train_labels[labeled])
    train = encoder.transform(data.train_images).astype(np.float64)
    test = encoder.transform(data.test_images).astype(np.float64)
    encoder_seconds = time.perf_counter() - started

    y_train = np.where(labeled, data.train_labels, UNLABELED)
    classes = np.unique(data.train_labels)
    scores, predictions, histories, centers = {}, {}, {}, {}
    started = time.perf_counter()
    for name, classifier in _methods(args.seed, args.sq_epochs).items():
        classifier.fit(train, y_train)
        predictions[name] = classifier.predict(test)
        scores[name] = f1_score(data.test_labels, predictions[name], average="weighted")
        histories[name] = classifier.quantizer_.loss_history_
        centers[name] = classifier.quantizer_.cluster_centers_
    for name, init in (("K-Means", "random"), ("K-Means++", "k-means++")):
        scores[name], predictions[name] = _kmeans_f1(
            train, data.train_labels, labeled, test, data.test_labels, init, args.seed, classes
        )
    knn = KNeighborsClassifier(5).fit(train[labeled], data.train_labels[labeled])
    predictions["Triplet + kNN"] = knn.predict(test)
    scores["Triplet + kNN"] = f1_score(
        data.test_labels, predictions["Triplet + kNN"], average="weighted"
    )
    clustering_seconds = time.perf_counter() - started
    return {
        "fraction": fraction,
        "scores": scores,
        "predictions": predictions,
        "histories": histories,
        "test_embedding": test,
        "centers": centers,
        "encoder_seconds": encoder_seconds,
        "clustering_seconds": clustering_seconds,
    }


def format_table(results: list[dict]) -> str:
    """Return the weighted-F1 table, one row per method and one column per labeled fraction."""
    names = list(results[0]["scores"])
    header = "| method | " + " | ".join(f"{r['fraction']:.0%} labeled" for r in results) + " |"
    lines = [header, "|---" * (len(results) + 1) + "|"]
    for name in names:
        cells = " | ".join(f"{r['scores'][name]:.3f}" for r in results)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        fractions = [float(part) for part in args.labeled.split(",")]
    except ValueError:
        parser.error(f"--labeled must be comma-separated numbers, got {args.labeled!r}")
    if not all(0.0 < f <= 1.0 for f in fractions):
        parser.error(f"--labeled fractions must be in (0, 1], got {args.labeled!r}")
    try:
        data = load_dataset(args.dataset)
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
    is_digits = data.name == "digits"
    max_train = args.max_train
    if max_train is None and not is_digits:
        max_train = 12000
    if args.epochs is None:
        args.epochs = 30 if is_digits else 8
    data = _subsample(data, max_train, args.seed)
    print(
        f"data: {data.name}, {len(data.train_images)} train / {len(data.test_images)} test images "
        f"of {data.image_shape}; encoder {args.epochs} epochs, latent dimension {args.n_components}"
    )

    started = time.perf_counter()
    results = []
    for fraction in fractions:
        result = run_fraction(data, fraction, args)
        results.append(result)
        best = max(result["scores"], key=result["scores"].get)
        print(
            f"{fraction:.0%} labeled: encoder {result['encoder_seconds']:.1f} s, clustering "
            f"{result['clustering_seconds']:.1f} s, best {best} F1 {result['scores'][best]:.3f}"
        )
    table = format_table(results)
    total = time.perf_counter() - started
    print("\nWeighted F1 on the test set\n")
    print(table)
    print(f"\nwall time {total:.1f} s")

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "table.md").write_text(
        f"Data: {data.name}, seed {args.seed}, encoder epochs {args.epochs}, "
        f"wall time {total:.1f} s\n\n{table}\n"
    )
    if not args.no_plots:
        from .figures import save_figures

        save_figures(results, data, output)
        print(f"saved the table and figures under {output}/")
    return 0
