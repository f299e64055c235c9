"""Compare the default thread count with one thread on small data (5 000 x 50, k = 2..14).

Prints, for fit and predict, the median time with n_jobs=None divided by the median time with
n_jobs=1, measured in the same run; a ratio above 1 means the default is slower.

    python bench/bench_threads.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from stochastic_quantization import StochasticQuantization


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per case (median)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 50))
    print(f"cores: {os.cpu_count()}")
    print("| k | batch_size | fit default / 1 thread | predict default / 1 thread |")
    print("|---|---|---|---|")
    for n_clusters in (2, 5, 8, 11, 14):
        for batch_size in (1, 256, 1024):
            ratios = []
            for action in ("fit", "predict"):
                seconds = {}
                for n_jobs in (None, 1):
                    model = StochasticQuantization(
                        n_clusters=n_clusters,
                        batch_size=batch_size,
                        max_iter=3,
                        tol=None,
                        random_state=0,
                        n_jobs=n_jobs,
                    )
                    if action == "fit":
                        seconds[n_jobs] = median_seconds(lambda m=model: m.fit(X), args.repeats)
                    else:
                        model.fit(X)
                        seconds[n_jobs] = median_seconds(lambda m=model: m.predict(X), args.repeats)
                ratios.append(seconds[None] / seconds[1])
            print(f"| {n_clusters} | {batch_size} | {ratios[0]:.2f} | {ratios[1]:.2f} |")


if __name__ == "__main__":
    main()
