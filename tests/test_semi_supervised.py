"""SQClassifier on plain features and the experiment pipeline on a small slice."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import f1_score

from stochastic_quantization import SQClassifier, StochasticQuantization


def partially_labeled(fraction: float, seed: int = 0):
    centers = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]
    X, y = make_blobs(n_samples=600, centers=centers, cluster_std=1.0, random_state=seed)
    rng = np.random.default_rng(seed)
    y_partial = np.where(rng.random(len(y)) < fraction, y, -1)
    return X, y, y_partial


@pytest.mark.parametrize("init", ["labeled", "k-means++"])
def test_classifier_on_blobs(init):
    X, y, y_partial = partially_labeled(0.1)
    model = SQClassifier(init=init, quantizer=StochasticQuantization(random_state=0)).fit(
        X, y_partial
    )
    assert f1_score(y, model.predict(X), average="weighted") > 0.95
    np.testing.assert_array_equal(model.classes_, [0, 1, 2, 3])


def test_classifier_labeled_init_keeps_class_order():
    X, _, y_partial = partially_labeled(0.2)
    model = SQClassifier().fit(X, y_partial)
    np.testing.assert_array_equal(model.center_labels_, model.classes_)
    assert model.quantizer_.n_clusters == 4


def test_classifier_needs_a_label():
    X, _, _ = partially_labeled(0.2)
    with pytest.raises(ValueError, match="at least one sample"):
        SQClassifier().fit(X, np.full(len(X), -1))


def test_classifier_rejects_unknown_init():
    X, _, y_partial = partially_labeled(0.2)
    with pytest.raises(ValueError, match="init must be one of"):
        SQClassifier(init="median").fit(X, y_partial)


def test_experiment_pipeline_small_slice(tmp_path):
    pytest.importorskip(
        "torch", reason="the experiment's encoder needs PyTorch (extra 'experiment')"
    )
    pytest.importorskip("matplotlib", reason="the experiment's figures need matplotlib")
    from stochastic_quantization.experiment.cli import main

    code = main(
        [
            "--dataset", "digits", "--labeled", "0.5,1.0", "--epochs", "2",
            "--max-train", "400", "--sq-epochs", "2", "--output", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    table = (tmp_path / "table.md").read_text()
    assert "| SQ-adam (paper) |" in table
    assert "| K-Means++ |" in table
    for name in ("convergence-50.png", "latent-100.png", "confusion-50.png"):
        assert (tmp_path / name).stat().st_size > 1000
