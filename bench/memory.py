"""Peak memory of a fit over a float32 memmap much larger than the caches, and larger than RAM.

The data file is written chunk by chunk, then a child process opens it with np.memmap (mode
"r") and fits StochasticQuantization while a thread samples /proc/self/status. Pages of the
mapped file count in RSS while they are resident (RssFile) but belong to the page cache, so
the table reports the anonymous memory (RssAnon: what the fit allocates) beside the total.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

N_FEATURES = 32
N_CLUSTERS = 64
ROWS_PER_WRITE = 1 << 20

CHILD = r"""
import json, sys, threading, time
import numpy as np

def status():
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    return fields

path, n_rows, n_features, n_clusters, n_threads, compute_labels = sys.argv[1:7]
from stochastic_quantization import StochasticQuantization
X = np.memmap(path, dtype=np.float32, mode="r", shape=(int(n_rows), int(n_features)))
baseline = status()
peaks = dict(baseline)
done = False

def sample():
    while not done:
        for key, value in status().items():
            peaks[key] = max(peaks[key], value)
        time.sleep(0.02)

thread = threading.Thread(target=sample)
thread.start()
started = time.perf_counter()
model = StochasticQuantization(
    int(n_clusters), init="sample", max_iter=1, tol=None, random_state=0, n_jobs=int(n_threads),
    compute_labels=compute_labels == "1",
).fit(X)
seconds = time.perf_counter() - started
done = True
thread.join()
print(json.dumps({"baseline": baseline, "peaks": peaks, "seconds": seconds,
                  "labels_bytes": model.labels_.nbytes if hasattr(model, "labels_") else 0,
                  "steps": model.n_steps_}))
"""


def write_blobs(path: Path, n_rows: int) -> None:
    """Write n_rows x N_FEATURES float32 Gaussian blobs to path, chunk by chunk."""
    rng = np.random.default_rng(0)
    means = rng.uniform(-20, 20, size=(N_CLUSTERS, N_FEATURES)).astype(np.float32)
    with open(path, "wb") as handle:
        for start in range(0, n_rows, ROWS_PER_WRITE):
            size = min(ROWS_PER_WRITE, n_rows - start)
            chunk = rng.standard_normal((size, N_FEATURES), dtype=np.float32)
            chunk += means[rng.integers(0, N_CLUSTERS, size=size)]
            handle.write(chunk.tobytes())


def measure(path: Path, n_rows: int, n_threads: int, compute_labels: bool) -> dict:
    """Fit over the memmap in a child process; return its figures."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(path),
            str(n_rows),
            str(N_FEATURES),
            str(N_CLUSTERS),
            str(n_threads),
            "1" if compute_labels else "0",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 0.5 GB file only")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--gigabytes", type=float, default=4.0, help="size of the in-RAM file (GB)")
    parser.add_argument(
        "--beyond-ram",
        type=float,
        default=0.0,
        metavar="GB",
        help="also run over a file of this many GB (for example 32 on a 24 GB machine); "
        "needs that much free disk and takes minutes",
    )
    parser.add_argument(
        "--no-labels",
        action="store_true",
        help="fit with compute_labels=False, without the O(n) labels_ (saved as memory_no_labels)",
    )
    parser.add_argument(
        "--directory",
        default=str(Path(__file__).resolve().parent / "data"),
        help="where the data files are written (deleted afterwards)",
    )
    args = parser.parse_args()
    if args.quick:
        _common.mark_quick()
    sizes = [0.5] if args.quick else [args.gigabytes]
    if args.beyond_ram > 0 and not args.quick:
        sizes.append(args.beyond_ram)

    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    total_ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    rows = []
    for gigabytes in sizes:
        n_rows = int(gigabytes * 1e9) // (4 * N_FEATURES)
        free = shutil.disk_usage(directory).free
        if n_rows * 4 * N_FEATURES > free - (2 << 30):
            rows.append(
                [f"{gigabytes:g} GB", "skipped: not enough free disk", "", "", "", "", "", ""]
            )
            continue
        path = directory / f"blobs_{gigabytes:g}GB.f32"
        try:
            write_blobs(path, n_rows)
            figures = measure(path, n_rows, args.threads, not args.no_labels)
        finally:
            path.unlink(missing_ok=True)
        peaks, baseline = figures["peaks"], figures["baseline"]
        extra = peaks["RssAnon"] - baseline["RssAnon"]
        order_bytes = 8 * min(n_rows, 1 << 22)  # the epoch order of one chunk
        rows.append(
            [
                f"{n_rows * 4 * N_FEATURES / 1e9:.1f} GB ({n_rows:,} x {N_FEATURES})",
                f"{n_rows * 4 * N_FEATURES / total_ram:.2f}",
                f"{figures['seconds']:.0f}",
                f"{peaks['VmHWM'] / 2**20:,.0f}",
                f"{peaks['RssFile'] / 2**20:,.0f}",
                f"{extra / 2**20:,.0f}",
                f"{(figures['labels_bytes'] * 1.5) / 2**20:,.0f}",
                f"{(extra - figures['labels_bytes'] * 1.5 - order_bytes) / 2**20:,.0f}",
            ]
        )

    header = [
        "file",
        "file / RAM",
        "fit s",
        "peak RSS MiB",
        "peak file-backed RSS MiB",
        "peak anonymous MiB above start",
        "labels_ + distances MiB",
        "rest MiB",
    ]
    body = (
        f"StochasticQuantization(n_clusters={N_CLUSTERS}, init='sample', max_iter=1, tol=None) "
        f"fitted on a float32 np.memmap (mode 'r') of {N_FEATURES}-feature blobs; RAM "
        f"{total_ram / 2**30:.1f} GiB. 'labels_ + distances' is the O(n) output the fit must "
        "return (labels_ int64, plus the float32 distances that give inertia_, 12 bytes per "
        "row); 'rest' subtracts it and the 32 MB order chunk from the anonymous peak, leaving "
        "the O(K*d + batch) working memory plus allocator slack.\n\n"
        + _common.markdown_table(header, rows)
        + "\n\n"
        + _common.environment(args.threads)
    )
    command = "python bench/memory.py" + (
        " --quick" if args.quick else f" --gigabytes {args.gigabytes:g}"
    )
    if args.beyond_ram > 0 and not args.quick:
        command += f" --beyond-ram {args.beyond_ram:g}"
    name = "memory"
    if args.no_labels:
        command += " --no-labels"
        name = "memory_no_labels"
    _common.write_report(name, "Peak memory over a memmap", body, command)


if __name__ == "__main__":
    main()
