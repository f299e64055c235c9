"""The C++ example cpp/examples/fit_points against the Python estimator.

Both drive the same core, so with the same initial centres, sample order and settings they must
print the same centres (float64: relative 1e-9, float32: 1e-4) and the same loss. The example is
built once per session, against this repository's headers installed into a temporary prefix, the
way an outside C++ project would use them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stochastic_quantization import StochasticQuantization

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = {np.float64: 1e-9, np.float32: 1e-4}
# The tools and the example are not instrumented; under tools/sanitize.sh the preloaded ASan
# runtime would otherwise run inside CMake and the compiler and report their own allocations.
TOOL_ENV = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}


def run_checked(command: list[str], cwd: Path | None = None) -> str:
    """Run a command and return its stdout. A failure fails the test and shows the output."""
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, env=TOOL_ENV
    )
    if completed.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed with exit code {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    return completed.stdout


def cache_value(build: Path, name: str) -> str:
    """Return the value of `name` in a CMake build's CMakeCache.txt."""
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split("=", 1)[1]
    raise KeyError(f"{name} is not in {build / 'CMakeCache.txt'}")


@pytest.fixture(scope="module")
def fit_points(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the C++ package into a temporary prefix and build the example against it."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found on PATH: install CMake >= 3.18 to build the C++ example")
    if (
        shutil.which("c++") is None
        and shutil.which("g++") is None
        and shutil.which("clang++") is None
    ):
        pytest.skip("no C++ compiler (c++, g++ or clang++) on PATH to build the C++ example")

    work = tmp_path_factory.mktemp("cpp")
    package_build, prefix, example_build = work / "sq", work / "prefix", work / "examples"
    # Python_EXECUTABLE lets the sq build find the pip-installed Eigen (cmeel-eigen) when there is
    # no system Eigen.
    configure = [
        cmake,
        "-S",
        str(ROOT),
        "-B",
        str(package_build),
        "-DSQ_BUILD_PYTHON=OFF",
        "-DSQ_INSTALL=ON",
        f"-DPython_EXECUTABLE={sys.executable}",
    ]
    completed = subprocess.run(configure, capture_output=True, text=True, check=False, env=TOOL_ENV)
    if completed.returncode != 0 and "Eigen3" in completed.stderr:
        pytest.skip("CMake found no Eigen 3: install libeigen3-dev, or cmeel-eigen with pip")
    if completed.returncode != 0:
        pytest.fail(f"configuring the sq package failed:\n{completed.stdout}\n{completed.stderr}")
    run_checked([cmake, "--install", str(package_build), "--prefix", str(prefix)])
    run_checked(
        [
            cmake,
            "-S",
            str(ROOT / "cpp" / "examples"),
            "-B",
            str(example_build),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={prefix}",
            f"-DEigen3_DIR={cache_value(package_build, 'Eigen3_DIR')}",
        ]
    )
    run_checked([cmake, "--build", str(example_build), "--config", "Release"])
    for candidate in (example_build / "fit_points", example_build / "Release" / "fit_points.exe"):
        if candidate.exists():
            return candidate
    pytest.fail(f"the build did not produce fit_points in {example_build}")


def parse_output(text: str) -> tuple[np.ndarray, float, int]:
    """Return (centres, loss, steps) from the output of fit_points."""
    lines = text.splitlines()
    _, n_clusters, n_features = lines[0].split()
    centers = np.array(
        [[float(value) for value in line.split()] for line in lines[1 : 1 + int(n_clusters)]]
    )
    assert centers.shape == (int(n_clusters), int(n_features))
    loss_word, loss = lines[1 + int(n_clusters)].split()
    steps_word, steps = lines[2 + int(n_clusters)].split()
    assert (loss_word, steps_word) == ("loss", "steps")
    return centers, float(loss), int(steps)


def write_csv(path: Path, array: np.ndarray) -> Path:
    """Write an array as CSV with enough digits to read back every float64 value exactly."""
    np.savetxt(path, array, delimiter=",", fmt="%.17g")
    return path


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Return 600 samples around 4 centres in 5 features, and 4 initial centres taken from them."""
    rng = np.random.default_rng(20240607)
    means = rng.uniform(-10.0, 10.0, size=(4, 5))
    X = means[rng.integers(0, 4, size=600)] + rng.normal(size=(600, 5))
    return X, X[[3, 50, 200, 401]].copy()


def run_example(
    fit_points: Path, tmp_path: Path, X: np.ndarray, init: np.ndarray, *options: str
) -> tuple[np.ndarray, float, int]:
    data = write_csv(tmp_path / "data.csv", X)
    init_file = write_csv(tmp_path / "init.csv", init)
    output = run_checked(
        [str(fit_points), str(data), "--init", str(init_file), "--threads", "1", *options]
    )
    return parse_output(output)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_example_matches_estimator_sequential_adam(fit_points, tmp_path, blobs, dtype):
    X, init = blobs
    centers, loss, steps = run_example(
        fit_points,
        tmp_path,
        X,
        init,
        "--dtype",
        np.dtype(dtype).name,
        "--optimizer",
        "adam",
        "--sampling",
        "sequential",
        "--epochs",
        "1",
        "--learning-rate",
        "0.05",
        "--schedule",
        "inverse_time",
        "--t0",
        "100",
        "--power",
        "0.75",
    )

    model = StochasticQuantization(
        n_clusters=4,
        optimizer="adam",
        init=init,
        sampling="sequential",
        max_iter=1,
        tol=None,
        learning_rate=0.05,
        schedule="inverse_time",
        decay_t0=100,
        decay_power=0.75,
        n_jobs=1,
    ).fit(X.astype(dtype))

    np.testing.assert_allclose(centers, model.cluster_centers_, rtol=TOLERANCE[dtype], atol=1e-12)
    np.testing.assert_allclose(loss, model.loss_history_[-1, 1], rtol=TOLERANCE[dtype])
    assert steps == model.n_steps_


def test_example_defaults_match_estimator(fit_points, tmp_path, blobs):
    # learning_rate="auto" and schedule="auto" resolve the same way in C++ and Python.
    X, init = blobs
    centers, loss, _ = run_example(
        fit_points,
        tmp_path,
        X,
        init,
        "--sampling",
        "sequential",
        "--epochs",
        "3",
        "--batch-size",
        "7",
    )

    model = StochasticQuantization(
        n_clusters=4,
        optimizer="adam",
        init=init,
        sampling="sequential",
        max_iter=3,
        tol=None,
        batch_size=7,
        n_jobs=1,
    ).fit(X)

    np.testing.assert_allclose(centers, model.cluster_centers_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loss, model.loss_history_[-1, 1], rtol=1e-9)


def test_order_file_equals_permuted_samples(fit_points, tmp_path, blobs):
    # Visiting X[order] in sequence makes the same steps as visiting X in the order of the file.
    X, init = blobs
    order = np.random.default_rng(5).permutation(len(X))
    np.savetxt(tmp_path / "order.txt", order, fmt="%d")
    settings = ("--optimizer", "sgd", "--learning-rate", "0.3", "--schedule", "count")
    by_order, _, _ = run_example(
        fit_points, tmp_path, X, init, "--order", str(tmp_path / "order.txt"), *settings
    )

    model = StochasticQuantization(
        n_clusters=4,
        optimizer="sgd",
        init=init,
        sampling="sequential",
        max_iter=10,
        tol=None,
        learning_rate=0.3,
        schedule="count",
        n_jobs=1,
    ).fit(X[order])

    np.testing.assert_allclose(by_order, model.cluster_centers_, rtol=1e-9, atol=1e-12)


def test_binary_input_equals_csv(fit_points, tmp_path, blobs):
    X, _ = blobs
    samples = X.astype(np.float32)
    samples.tofile(tmp_path / "data.f32")
    np.savetxt(tmp_path / "data.csv", samples, delimiter=",", fmt="%.9g")
    options = ("--dtype", "float32", "--clusters", "4", "--seed", "3", "--epochs", "2")

    from_binary = run_checked(
        [str(fit_points), str(tmp_path / "data.f32"), "--binary", "5", *options]
    )
    from_csv = run_checked([str(fit_points), str(tmp_path / "data.csv"), *options])

    assert from_binary == from_csv


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--binary", "7"], "not a positive multiple of 56"),
        (["--dtype", "float16"], "--dtype must be float32 or float64, got 'float16'"),
        (["--clusters", "0"], "n_clusters must be in [1, n_samples=600], got 0"),
        (["--optimizer", "lbfgs"], "optimizer must be one of"),
        (["--epochs", "many"], "--epochs must be a number, got 'many'"),
    ],
)
def test_example_rejects_bad_input(fit_points, tmp_path, blobs, arguments, message):
    X, _ = blobs
    X.tofile(tmp_path / "data.bin")
    data = tmp_path / ("data.bin" if arguments[0] == "--binary" else "data.csv")
    write_csv(tmp_path / "data.csv", X)

    completed = subprocess.run(
        [str(fit_points), str(data), *arguments],
        capture_output=True,
        text=True,
        check=False,
        env=TOOL_ENV,
    )

    assert completed.returncode == 1
    assert message in completed.stderr
