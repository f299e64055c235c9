"""Shared helpers of the benchmarks: timing, thread counts, markdown tables and environment notes.

Every script measures its peers in the same run and reports ratios, because the absolute
figures on a shared 2-core machine move by tens of percent between runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

# File-name suffix of the results: a --quick run writes <name>_quick.md and .png, so a smoke run
# leaves the committed full-run results alone.
_suffix = ""


def mark_quick() -> None:
    """Make write_report and save_plot use the <name>_quick file names."""
    global _suffix
    _suffix = "_quick"


def parse_args(description: str) -> argparse.Namespace:
    """Parse the options every benchmark takes: --quick, --threads and --repeats."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and one repeat (a smoke run)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="threads for every library (default: all cores)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per case; the minimum is reported"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
        mark_quick()
    return args


def best_time(function: Callable[[], object], repeats: int) -> float:
    """Return the minimum wall time in seconds of `repeats` calls, after one untimed warm-up."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def set_threads(n_threads: int) -> None:
    """Limit BLAS/OpenMP pools (NumPy, scikit-learn) and FAISS to n_threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n_threads)
    try:
        import faiss

        faiss.omp_set_num_threads(n_threads)
    except ImportError:
        pass


def environment(n_threads: int) -> str:
    """Return a markdown paragraph naming the machine, the libraries and the BLAS kernel."""
    from threadpoolctl import threadpool_info

    from stochastic_quantization._kernels import kernel_name

    parts = [
        f"CPU: {cpu_name()} ({os.cpu_count()} cores)",
        f"threads: {n_threads} for every library",
    ]
    parts.append(f"stochastic_quantization kernels: {kernel_name}")
    parts.append(f"NumPy {np.__version__}")
    try:
        import sklearn

        parts.append(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        pass
    try:
        import faiss

        parts.append(f"faiss-cpu {faiss.__version__}")
    except ImportError:
        pass
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            parts.append(
                f"BLAS: {pool.get('internal_api')} {pool.get('version')} "
                f"({pool.get('architecture')} kernels)"
            )
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        parts.append(f"OPENBLAS_CORETYPE={coretype} (slows NumPy's GEMM; see bench/README.md)")
    parts.append(f"Python {platform.python_version()}")
    return "; ".join(parts) + "."


def cpu_name() -> str:
    """Return the CPU model from /proc/cpuinfo, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Return a markdown table with the given header and rows (values formatted with str)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(str(value) for value in row) + " |" for row in rows)
    return "\n".join(lines)


def write_report(name: str, title: str, body: str, command: str) -> Path:
    """Print the report and save it as bench/results/<name>.md; return the path."""
    text = f"# {title}\n\nCommand: `{command}`\n\n{body}\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{_suffix}.md"
    path.write_text(text, encoding="utf-8")
    return path


def command_line(script: str, args: argparse.Namespace) -> str:
    """Return the command that reproduces this run."""
    parts = [f"python bench/{script}"]
    if args.quick:
        parts.append("--quick")
    parts.append(f"--threads {args.threads}")
    if not args.quick:
        parts.append(f"--repeats {args.repeats}")
    return " ".join(parts)


def save_plot(figure, name: str) -> Path:
    """Save a matplotlib figure as bench/results/<name>.png; return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{_suffix}.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def fmt(value: float, digits: int = 3) -> str:
    """Format a number with `digits` significant digits."""
    return f"{value:.{digits}g}"
