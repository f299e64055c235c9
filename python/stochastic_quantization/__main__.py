"""Command line: cluster a data set with SQ and compare with scikit-learn KMeans.

python -m stochastic_quantization [DATA] [options]        cluster DATA (default: digits)
python -m stochastic_quantization experiment [options]    the semi-supervised experiment
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .estimator import StochasticQuantization, logger


def _learning_rate(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _rank(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}") from None
    if not value >= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value:g}")
    return value


def _output_path(text: str) -> Path:
    """Return the .npz path np.savez writes, checking its folder before any work is done."""
    path = Path(text)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if not path.parent.is_dir():
        folder = str(path.parent)
        raise argparse.ArgumentTypeError(f"folder {folder!r} of the output file not found")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stochastic_quantization",
        description="Cluster a data set with Stochastic Quantization and compare the loss and "
        "wall time with scikit-learn KMeans (k-means++, n_init=1). Run "
        "'python -m stochastic_quantization experiment --help' for the semi-supervised experiment.",
    )
    parser.add_argument(
        "data",
        nargs="?",
        help="a .npy or .csv file of shape (n_samples, n_features); default: scikit-learn's "
        "bundled handwritten digits (1797 x 64, no download)",
    )
    parser.add_argument(
        "--n-clusters", type=_positive_int, default=10, help="number of centres (default 10)"
    )
    parser.add_argument(
        "--rank", type=_rank, default=2.0, help="exponent r >= 1 of the loss (default 2)"
    )
    parser.add_argument(
        "--optimizer",
        default="sgd",
        choices=["sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"],
        help="update rule (default sgd)",
    )
    parser.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default="auto",
        help="initial step size rho_0, or 'auto' to scale it to the data (default auto)",
    )
    parser.add_argument(
        "--max-iter", type=_positive_int, default=20, help="maximum epochs (default 20)"
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=1, help="samples per step (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--n-jobs", type=int, default=None, help="threads (default: all cores)")
    parser.add_argument(
        "--output",
        type=_output_path,
        help="save centres, labels and the loss history to this .npz file ('.npz' is added "
        "when missing)",
    )
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the scikit-learn KMeans comparison"
    )
    return parser


def _load(path: str | None) -> tuple[np.ndarray, str]:
    if path is None:
        from sklearn.datasets import load_digits

        return load_digits().data, "scikit-learn digits"
    from .datasets import load_samples

    return load_samples(path), path


class _EpochPrinter(logging.Handler):
    """Print each epoch's log record as a line, or advance a progress bar when tqdm exists."""

    def __init__(self, total: int) -> None:
        super().__init__(logging.INFO)
        self.bar = None
        if sys.stdout.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="epoch", leave=False)
            except ImportError:
                self.bar = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.write("  " + message)
        else:
            print("  " + message, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        super().close()


def cluster(args: argparse.Namespace) -> int:
    X, name = _load(args.data)
    print(f"data: {name}, {X.shape[0]} samples x {X.shape[1]} features ({X.dtype})")
    model = StochasticQuantization(
        n_clusters=args.n_clusters,
        rank=args.rank,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        batch_size=args.batch_size,
        random_state=args.seed,
        n_jobs=args.n_jobs,
        verbose=1,
    )
    printer = _EpochPrinter(args.max_iter)
    logger.addHandler(printer)
    logger.setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        model.fit(X)
    finally:
        logger.removeHandler(printer)
        printer.close()
    seconds = time.perf_counter() - started
    loss = model.loss_history_[-1, 1]
    print(
        f"SQ ({args.optimizer}, rank {args.rank:g}): loss {loss:.6g} after {model.n_iter_} "
        f"epochs, {model.n_steps_} steps, {seconds:.3f} s"
    )

    if not args.no_compare and args.rank == 2.0:
        from sklearn.cluster import KMeans

        started = time.perf_counter()
        kmeans = KMeans(args.n_clusters, n_init=1, random_state=args.seed).fit(X)
        kmeans_seconds = time.perf_counter() - started
        kmeans_loss = kmeans.inertia_ / X.shape[0]
        print(
            f"scikit-learn KMeans (k-means++, n_init=1): loss {kmeans_loss:.6g} after "
            f"{kmeans.n_iter_} iterations, {kmeans_seconds:.3f} s"
        )
        print(
            f"SQ / KMeans: loss ratio {loss / kmeans_loss:.4f}, "
            f"time ratio {seconds / kmeans_seconds:.3f}"
        )
    elif not args.no_compare:
        print("(the KMeans comparison needs --rank 2: KMeans minimises the rank-2 loss)")

    if args.output:
        np.savez(
            args.output,
            cluster_centers=model.cluster_centers_,
            labels=model.labels_,
            loss_history=model.loss_history_,
        )
        print(f"saved centres, labels and loss history to {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["experiment"]:
        try:
            import torch  # noqa: F401
        except ImportError:
            print(
                "error: the experiment needs PyTorch; install it with "
                "pip install 'stochastic-quantization[experiment]'",
                file=sys.stderr,
            )
            return 2
        from .experiment.cli import main as experiment_main

        return experiment_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return cluster(args)
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
