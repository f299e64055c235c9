"""Semi-supervised classification by stochastic quantization: :class:`SQClassifier`."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _validation as checks
from .estimator import StochasticQuantization

UNLABELED = -1


def label_centers_by_vote(
    centers: np.ndarray,
    nearest: np.ndarray,
    X_labeled: np.ndarray,
    y_labeled: np.ndarray,
    classes: np.ndarray,
) -> np.ndarray:
    """Return each centre's class by majority vote of the labeled samples nearest to it.

    ``nearest[i]`` is the centre index of labeled sample i. Ties go to the smaller class; a
    centre without votes takes the class of the labeled sample nearest to it.
    """
    class_index = np.searchsorted(classes, y_labeled)
    votes = np.zeros((len(centers), len(classes)), dtype=np.int64)
    np.add.at(votes, (nearest, class_index), 1)
    labels = classes[np.argmax(votes, axis=1)]

    empty = np.flatnonzero(votes.sum(axis=1) == 0)
    for k in empty:
        distances = ((X_labeled - centers[k]) ** 2).sum(axis=1)
        labels[k] = y_labeled[np.argmin(distances)]
    return labels


class SQClassifier(ClassifierMixin, BaseEstimator):
    """Classify partially labeled data with SQ centres, each carrying a class label.

    SQ is fitted on all samples, labeled and unlabeled. Its initial centres come from the labeled
    ones: with ``init="labeled"`` one centre per class at the mean of that class's labeled
    samples (the centre keeps that class); with ``init="k-means++"`` ``n_clusters`` k-means++
    centres, each labeled after the fit by a majority vote of the labeled samples nearest to it
    (a centre that no labeled sample is nearest to takes the class of the nearest labeled
    sample). ``predict`` returns the class of the nearest centre. It works on any features.

    Parameters
    ----------
    init : {"labeled", "k-means++"}, default="labeled"
        How centres are initialised and labeled, as above.
    n_clusters : int or None, default=None
        Number of centres for ``init="k-means++"``; None uses the number of classes. Ignored by
        ``init="labeled"``.
    quantizer : StochasticQuantization or None, default=None
        Template whose parameters configure the SQ fit (it is cloned; ``n_clusters`` and
        ``init`` are set here). None uses ``StochasticQuantization()`` defaults.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    quantizer_ : StochasticQuantization
        The fitted SQ model.
    center_labels_ : ndarray of shape (n_centers,)
        Class of each centre.
    """

    def __init__(
        self,
        init: str = "labeled",
        n_clusters: int | None = None,
        quantizer: StochasticQuantization | None = None,
    ) -> None:
        self.init = init
        self.n_clusters = n_clusters
        self.quantizer = quantizer

    def fit(self, X: Any, y: Any) -> SQClassifier:
        """Fit on X with labels y, where -1 marks an unlabeled sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Integer class labels, -1 for unlabeled samples; at least one sample must be labeled.

        Returns
        -------
        self : SQClassifier
        """
        checks.check_choice("init", self.init, ("labeled", "k-means++"))
        checks.check_dtype_kind("X", X)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], order="C")
        labeled = y != UNLABELED
        if not np.any(labeled):
            raise ValueError(
                "y must label at least one sample (unlabeled samples are -1), got none"
            )
        self.classes_ = np.unique(y[labeled])
        template = StochasticQuantization() if self.quantizer is None else self.quantizer

        if self.init == "labeled":
            centers = np.stack([X[y == label].mean(axis=0) for label in self.classes_])
            quantizer = clone(template).set_params(n_clusters=len(self.classes_), init=centers)
            self.quantizer_ = quantizer.fit(X)
            self.center_labels_ = self.classes_.copy()
            return self

        n_clusters = len(self.classes_) if self.n_clusters is None else self.n_clusters
        quantizer = clone(template).set_params(n_clusters=n_clusters, init="k-means++")
        self.quantizer_ = quantizer.fit(X)
        self.center_labels_ = self._vote(X[labeled], y[labeled])
        return self

    def _vote(self, X_labeled: np.ndarray, y_labeled: np.ndarray) -> np.ndarray:
        nearest = self.quantizer_.predict(X_labeled)
        return label_centers_by_vote(
            self.quantizer_.cluster_centers_, nearest, X_labeled, y_labeled, self.classes_
        )

    def predict(self, X: Any) -> np.ndarray:
        """Return the class of the nearest centre of each sample, shape (n_samples,)."""
        check_is_fitted(self)
        checks.check_dtype_kind("X", X)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], order="C")
        return self.center_labels_[self.quantizer_.predict(X)]
