"""The command line, run on the bundled digits and on files it writes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from stochastic_quantization.__main__ import main


def test_cli_digits_default(capsys):
    assert main(["--max-iter", "3"]) == 0
    out = capsys.readouterr().out
    assert "data: scikit-learn digits, 1797 samples x 64 features" in out
    assert "  epoch 3: loss" in out
    assert "SQ (sgd, rank 2): loss" in out
    assert "scikit-learn KMeans (k-means++, n_init=1): loss" in out
    assert "SQ / KMeans: loss ratio" in out


def test_cli_as_module_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "stochastic_quantization", "--max-iter", "2", "--no-compare"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "SQ (sgd, rank 2): loss" in result.stdout


def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    return np.concatenate([c + rng.normal(size=(100, 2)) for c in centers])


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_cli_file_and_output(tmp_path, capsys, suffix):
    path = tmp_path / f"blobs{suffix}"
    X = blobs()
    if suffix == ".npy":
        np.save(path, X)
    else:
        np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    output = tmp_path / "fit"
    code = main([str(path), "--n-clusters", "3", "--seed", "1", "--output", str(output)])
    assert code == 0
    assert f"saved centres, labels and loss history to {output}.npz" in capsys.readouterr().out
    saved = np.load(f"{output}.npz")
    assert saved["cluster_centers"].shape == (3, 2)
    assert saved["labels"].shape == (300,)
    assert saved["loss_history"].shape[1] == 2


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["missing.npy"], "not found"),
        (["--n-clusters", "0"], "argument --n-clusters: expected an integer >= 1, got 0"),
        (["--rank", "0.5"], "argument --rank: expected a number >= 1, got 0.5"),
        (["--learning-rate", "fast"], "argument --learning-rate: expected a number or 'auto'"),
        (["--output", "/no/such/folder/out.npz"], "folder '/no/such/folder' of the output file"),
    ],
)
def test_cli_bad_arguments(capsys, arguments, message):
    with pytest.raises(SystemExit) as stop:
        main(arguments)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_experiment_help(capsys):
    pytest.importorskip("torch", reason="the experiment command needs PyTorch")
    with pytest.raises(SystemExit) as stop:
        main(["experiment", "--help"])
    assert stop.value.code == 0
    assert "--labeled" in capsys.readouterr().out
