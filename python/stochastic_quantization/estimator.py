"""The scikit-learn estimator :class:`StochasticQuantization`."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from . import _validation as checks
from ._kernels import core
from ._state import (
    OPTIMIZERS,
    SAMPLINGS,
    SCHEDULES,
    FitState,
    initial_centers,
    resolve_threads,
    streamed_objective,
)

logger = logging.getLogger("stochastic_quantization")

INITS = ("k-means++", "sample", "random")

_blas_controller: ThreadpoolController | None = None


def _single_threaded_blas() -> Any:
    """Return a context that limits BLAS to one thread while the core runs its own threads.

    The controller scans the loaded libraries once (about 3 ms), not at every fit.
    """
    global _blas_controller
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


class StochasticQuantization(ClusterMixin, TransformerMixin, BaseEstimator):
    """Stochastic Quantization (SQ): clustering by stochastic gradient steps on the centres.

    SQ minimises F(y) = sum_i w_i min_k ||x_i - y_k||^rank / sum_i w_i over centres y_1..y_K.
    Each step draws one sample (or a mini-batch), finds its nearest centre and moves only that
    centre along the gradient rank * ||x - y_k||^(rank - 2) * (y_k - x), with plain SGD or an
    adaptive optimizer. The data are streamed: memory beyond X is O(n_clusters * n_features)
    plus one batch and the sample order of an epoch.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of centres K.
    rank : float, default=2.0
        Exponent r >= 1 of the distance in the loss; 2 gives the K-Means objective, values in
        [1, 2) are less sensitive to outliers.
    optimizer : {"sgd", "momentum", "nag", "adagrad", "rmsprop", "adam"}, default="sgd"
        Update rule. Each keeps its state per centre, and only the centre that received a
        gradient moves or updates its state at a step.
    learning_rate : float or "auto", default="auto"
        Initial step size rho_0. "auto" scales a per-optimizer base rate to the data, so unscaled
        data need no tuning. With s the root mean squared distance from a sample to its nearest
        initial centre: SGD uses 1 / s^(rank - 2), Momentum and NAG (1 - momentum) / s^(rank - 2),
        all three with the "count" schedule (with rank 2, SGD is then MacQueen's online
        K-Means); AdaGrad uses 0.1 s with a constant schedule, and RMSProp and Adam 0.03 s with
        the "inverse_time" schedule (the adaptive steps have the units of the data). These were
        chosen on scikit-learn's digits. The value used is stored in ``learning_rate_``.
    schedule : {"auto", "constant", "inverse_time", "count"}, default="auto"
        Step-size schedule. "constant": rho_t = rho_0. "inverse_time":
        rho_t = rho_0 / (1 + t / decay_t0)^decay_power, which meets the convergence conditions
        (sum rho_t infinite, sum rho_t^2 finite) for decay_power in (0.5, 1]. "count":
        rho = rho_0 * m_k / (rank * n_k), n_k the weight centre k has received (the initial centre
        counts as 1) and m_k its samples in the batch; with rank 2 and rho_0 = 1 this is
        MacQueen's online K-Means. "auto" picks the schedule named under ``learning_rate``
        when ``learning_rate="auto"``, and "count", "constant" or "inverse_time" likewise for a
        given rate.
    init : {"k-means++", "sample", "random"} or array of shape (n_clusters, n_features), \
            default="k-means++"
        Initial centres: greedy k-means++, distinct samples drawn proportionally to their weights,
        uniform points in the bounding box of the samples, or the given array.
    max_iter : int, default=20
        Maximum number of epochs (passes over the data).
    tol : float or None, default=1e-4
        Stop when the relative change of the epoch loss falls below tol; None runs max_iter epochs.
    batch_size : int, default=1
        Samples per step. Each centre moves once per batch along the mean gradient of its samples.
    sampling : {"permutation", "replacement", "sequential"}, default="permutation"
        Sample order of an epoch: a fresh random permutation, n draws with replacement, or the
        order of X (used to replay a stream). Above 4,194,304 samples the order is generated
        in chunks to keep its memory bounded, and "permutation" visits blocks of 65,536
        consecutive rows in a random order, each block's rows shuffled, so a memmap larger than
        RAM is read block by block.
    momentum : float, default=0.9
        gamma of Momentum and NAG.
    beta : float, default=0.9
        Decay of RMSProp's average of squared gradients.
    beta1, beta2 : float, default=0.9, 0.999
        Adam's moment decays.
    epsilon : float, default=1e-8
        Added to the root of the squared-gradient statistic in AdaGrad, RMSProp and Adam.
    decay_t0 : float or None, default=None
        t0 of the "inverse_time" schedule, in steps; None uses the steps of one epoch.
    decay_power : float, default=1.0
        Exponent of the "inverse_time" schedule, in (0.5, 1].
    projection : None, "data" or (lower, upper), default=None
        Convex set Y the centres are projected onto after each step: none, the bounding box of
        the training data (which contains the optimum), or a box given by scalars or arrays of
        shape (n_features,).
    averaging : bool, default=False
        If True, ``cluster_centers_`` is the Cesaro average sum_t rho_t y_t / sum_t rho_t of the
        iterates instead of the last iterate.
    log_step : int or None, default=None
        Also record the loss over the training data every log_step steps (each record costs one
        pass over the data). The loss is always recorded at the end of each epoch.
    compute_labels : bool, default=True
        Store ``labels_`` after fitting. Labels are the one output whose size grows with
        n_samples (8 bytes a sample); pass False for data larger than memory.
    random_state : int, RandomState instance or None, default=None
        Seed for initialisation and sample order.
    n_jobs : int or None, default=None
        Threads for assignment, loss evaluation and k-means++; None or -1 uses all cores.
        Results do not depend on it.
    verbose : int, default=0
        Log the loss of each epoch at INFO level (logger "stochastic_quantization") when > 0.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Centres, in the dtype of X (float32 stays float32).
    labels_ : ndarray of shape (n_samples,)
        Index of the nearest centre of each training sample (absent when
        ``compute_labels=False``).
    inertia_ : float
        sum_i w_i min_k ||x_i - y_k||^rank over the training data (for rank 2, scikit-learn's
        inertia).
    n_iter_ : int
        Epochs run.
    n_steps_ : int
        Optimizer steps taken (batches processed).
    loss_history_ : ndarray of shape (n_records, 2)
        Rows (step, F(y)): the mean loss over the training data after that many steps.
    learning_rate_ : float
        Step size rho_0 used (the resolved value of ``learning_rate``).
    n_features_in_ : int
        Number of features seen during fit.

    Notes
    -----
    X is used as given when it is a C-contiguous float32 or float64 array (a memmap included);
    other layouts and dtypes (integers, bool, lists, DataFrames, strided views) are converted
    once to C-contiguous float64 or float32. X is never modified.

    Examples
    --------
    >>> import numpy as np
    >>> from stochastic_quantization import StochasticQuantization
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> model = StochasticQuantization(n_clusters=2, random_state=0).fit(X)
    >>> sorted(np.round(model.cluster_centers_[:, 0]).tolist())
    [0.0, 10.0]
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        rank: float = 2.0,
        optimizer: str = "sgd",
        learning_rate: float | str = "auto",
        schedule: str = "auto",
        init: str | np.ndarray = "k-means++",
        max_iter: int = 20,
        tol: float | None = 1e-4,
        batch_size: int = 1,
        sampling: str = "permutation",
        momentum: float = 0.9,
        beta: float = 0.9,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        decay_t0: float | None = None,
        decay_power: float = 1.0,
        projection: Any = None,
        averaging: bool = False,
        log_step: int | None = None,
        compute_labels: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.rank = rank
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.sampling = sampling
        self.momentum = momentum
        self.beta = beta
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.decay_t0 = decay_t0
        self.decay_power = decay_power
        self.projection = projection
        self.averaging = averaging
        self.log_step = log_step
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # Validation -----------------------------------------------------------------------------

    def _check_params(self) -> None:
        checks.check_number("n_clusters", self.n_clusters, low=1, integer=True)
        checks.check_number("rank", self.rank, low=1.0)
        checks.check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if isinstance(self.learning_rate, str) and self.learning_rate != "auto":
            raise ValueError(
                f"learning_rate must be 'auto' or a number > 0, got {self.learning_rate!r}"
            )
        if not isinstance(self.learning_rate, str):
            checks.check_number("learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        checks.check_choice("schedule", self.schedule, ("auto", *SCHEDULES))
        if isinstance(self.init, str):
            checks.check_choice("init", self.init, INITS)
        checks.check_number("max_iter", self.max_iter, low=1, integer=True)
        if self.tol is not None:
            checks.check_number("tol", self.tol, low=0.0)
        checks.check_number("batch_size", self.batch_size, low=1, integer=True)
        checks.check_choice("sampling", self.sampling, SAMPLINGS)
        checks.check_number("momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False)
        for name in ("beta", "beta1", "beta2"):
            checks.check_number(name, getattr(self, name), low=0.0, high=1.0, high_inclusive=False)
        checks.check_number("epsilon", self.epsilon, low=0.0, low_inclusive=False)
        if self.decay_t0 is not None:
            checks.check_number("decay_t0", self.decay_t0, low=0.0, low_inclusive=False)
        checks.check_number("decay_power", self.decay_power, low=0.0, low_inclusive=False)
        if self.log_step is not None:
            checks.check_number("log_step", self.log_step, low=1, integer=True)
        if self.n_jobs is not None:
            checks.check_number("n_jobs", self.n_jobs, integer=True)
            if self.n_jobs == 0:
                raise ValueError("n_jobs must be a positive integer, -1 or None, got 0")
        checks.check_number("verbose", self.verbose, low=0, integer=True)
        if not isinstance(self.compute_labels, (bool, np.bool_)):
            raise ValueError(f"compute_labels must be True or False, got {self.compute_labels!r}")

    def _validate_samples(self, X: Any, *, reset: bool) -> np.ndarray:
        checks.check_dtype_kind("X", X)
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            order="C",
            copy=False,
            ensure_all_finite=False,
        )
        checks.check_finite("X", X)
        checks.check_range("X", X)
        return X

    # Fitting --------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> StochasticQuantization:
        """Fit the centres to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples. See the class Notes for which inputs are converted.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: a sample's gradient and its share of the loss are multiplied by
            its weight, k-means++ and "sample" initialisation draw proportionally to it, and
            samples of weight 0 never move a centre.

        Returns
        -------
        self : StochasticQuantization
        """
        with self._unchanged_on_error():
            return self._fit(X, sample_weight)

    def _fit(self, X: Any, sample_weight: Any) -> StochasticQuantization:
        self._check_params()
        X = self._validate_samples(X, reset=True)
        weights = checks.check_sample_weight(sample_weight, X.shape[0], X.dtype)
        n_threads = resolve_threads(self.n_jobs)
        rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31 - 1))

        with _single_threaded_blas():
            centers = initial_centers(self, X, weights, rng, n_threads)
            state = FitState.start(self, centers, X, weights, n_threads)
            history, n_iter = self._run_epochs(X, weights, state, rng, n_threads)
            labels, inertia = self._label(X, weights, state.output_centers(), n_threads)

        self._commit(state, rng, history, n_iter, labels, inertia)
        return self

    def partial_fit(
        self, X: Any, y: Any = None, sample_weight: Any = None
    ) -> StochasticQuantization:
        """Take one pass over the chunk X, continuing from the current centres and state.

        The first call initialises the centres from X. Later calls continue the optimizer state,
        step counter and random generator, so a stream fed in chunks matches one fit over the
        concatenated chunks with ``sampling="sequential"`` and ``max_iter=1``. On error the model
        is left unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : StochasticQuantization
        """
        with self._unchanged_on_error():
            return self._partial_fit(X, sample_weight)

    def _partial_fit(self, X: Any, sample_weight: Any) -> StochasticQuantization:
        first_call = not hasattr(self, "_state")
        if first_call:
            self._check_params()
        X = self._validate_samples(X, reset=first_call)
        weights = checks.check_sample_weight(sample_weight, X.shape[0], X.dtype)
        n_threads = resolve_threads(self.n_jobs)

        with _single_threaded_blas():
            if first_call:
                rng = np.random.default_rng(
                    check_random_state(self.random_state).randint(2**31 - 1)
                )
                centers = initial_centers(self, X, weights, rng, n_threads)
                state = FitState.start(self, centers, X, weights, n_threads)
                history = np.empty((0, 2))
            else:
                state, rng = self._state.copy(), _copy_generator(self._rng)
                state.extend_projection(self, X, weights)
                history = self.loss_history_
            log = state.run_epoch(self, X, weights, rng, n_threads)
            loss = state.mean_loss(X, weights, self.rank, n_threads)
            _check_finite_fit(state, loss)
            history = np.vstack([history, log, [[state.step, loss]]])
            labels, inertia = self._label(X, weights, state.output_centers(), n_threads)

        n_iter = (self.n_iter_ if not first_call else 0) + 1
        self._commit(state, rng, history, n_iter, labels, inertia)
        return self

    @contextlib.contextmanager
    def _unchanged_on_error(self) -> Iterator[None]:
        """Restore every attribute when the body raises, KeyboardInterrupt included.

        validate_data sets n_features_in_ before the fit can fail, and a failed fit must not
        leave a half-updated model. A shallow copy suffices because fit and partial_fit build
        new state objects and only replace attributes, never modify them in place.
        """
        saved = dict(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _run_epochs(
        self,
        X: np.ndarray,
        weights: np.ndarray | None,
        state: FitState,
        rng: np.random.Generator,
        n_threads: int,
    ) -> tuple[np.ndarray, int]:
        records = [[0.0, state.mean_loss(X, weights, self.rank, n_threads)]]
        _check_finite_fit(state, records[0][1])
        previous = records[0][1]
        n_iter = 0
        for epoch in range(self.max_iter):
            started = time.perf_counter()
            log = state.run_epoch(self, X, weights, rng, n_threads)
            loss = state.mean_loss(X, weights, self.rank, n_threads)
            _check_finite_fit(state, loss)
            records.extend(log.tolist())
            records.append([float(state.step), loss])
            n_iter = epoch + 1
            if self.verbose:
                logger.info(
                    "epoch %d: loss %.6g, %d steps, %.3f s",
                    n_iter,
                    loss,
                    state.step,
                    time.perf_counter() - started,
                )
            if self.tol is not None and abs(previous - loss) <= self.tol * max(
                abs(previous), 1e-300
            ):
                break
            previous = loss
        return np.asarray(records, dtype=np.float64), n_iter

    def _label(
        self, X: np.ndarray, weights: np.ndarray | None, centers: np.ndarray, n_threads: int
    ) -> tuple[np.ndarray, float]:
        # The loss comes from the streaming kernel, so no float64 copy of n distances is made;
        # labels_ is the one O(n_samples) output, and compute_labels=False skips it.
        loss_sum, _ = streamed_objective(X, weights, centers, self.rank, n_threads)
        if not self.compute_labels:
            return None, float(loss_sum)
        labels, _ = core.assign(X, centers, n_threads)
        return labels, float(loss_sum)

    def _commit(
        self,
        state: FitState,
        rng: np.random.Generator,
        history: np.ndarray,
        n_iter: int,
        labels: np.ndarray | None,
        inertia: float,
    ) -> None:
        self._state = state
        self._rng = rng
        self.cluster_centers_ = state.output_centers()
        self.learning_rate_ = state.learning_rate
        self.loss_history_ = history
        self.n_iter_ = n_iter
        self.n_steps_ = int(state.step)
        if labels is not None:
            self.labels_ = labels
        elif hasattr(self, "labels_"):
            del self.labels_
        self.inertia_ = inertia

    # Prediction -----------------------------------------------------------------------------

    def _check_fitted_samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = self._validate_samples(X, reset=False)
        if X.dtype != self.cluster_centers_.dtype:
            # float64 samples for a float32 model must fit float32 before the conversion.
            checks.check_range("X", X, self.cluster_centers_.dtype)
            X = X.astype(self.cluster_centers_.dtype)
        return X

    def predict(self, X: Any) -> np.ndarray:
        """Return the index of the nearest centre of each sample, shape (n_samples,), int64."""
        X = self._check_fitted_samples(X)
        labels, _ = core.assign(X, self.cluster_centers_, resolve_threads(self.n_jobs))
        return labels

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Return the Euclidean distances to every centre, shape (n_samples, n_clusters)."""
        X = self._check_fitted_samples(X)
        centers = self.cluster_centers_
        # Direct differences (exact far from the origin) in blocks of about 2**22 values, so
        # memory stays bounded whatever n_samples is.
        out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
        chunk = max(1, 2**22 // (centers.shape[0] * centers.shape[1]))
        for start in range(0, X.shape[0], chunk):
            block = X[start : start + chunk]
            squared = ((block[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
            out[start : start + chunk] = np.sqrt(squared)
        return out

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Return minus the summed loss over X, -sum_i w_i min_k ||x_i - y_k||^rank."""
        X = self._check_fitted_samples(X)
        weights = checks.check_sample_weight(sample_weight, X.shape[0], X.dtype)
        loss_sum, _ = core.objective(
            X, weights, self.cluster_centers_, float(self.rank), resolve_threads(self.n_jobs)
        )
        return -float(loss_sum)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _check_finite_fit(state: FitState, loss: float) -> None:
    """Raise ValueError when the steps diverged.

    A step size too large for the data scale makes the centres grow without bound until they
    become inf or NaN, or leave the range where squared distances fit the dtype. Samples are
    checked against the same range, so no correct fit leaves it.
    """
    arrays = (state.centers, state.first, state.second, state.averaged)
    limit = checks.MAX_COORDINATE[state.centers.dtype]
    if (
        np.isfinite(loss)
        and all(np.all(np.isfinite(array)) for array in arrays)
        and np.all(np.abs(state.centers) <= limit)
        and np.all(np.abs(state.averaged) <= limit)
    ):
        return
    raise ValueError(
        f"the fit diverged: the loss or the centres became inf, NaN or larger than {limit:.3g} "
        f"after {state.step} steps "
        f"with learning_rate={state.learning_rate:.6g} and schedule={state.schedule!r}; lower "
        "learning_rate, use learning_rate='auto', or rescale X"
    )


def _copy_generator(rng: np.random.Generator) -> np.random.Generator:
    copy = np.random.default_rng()
    copy.bit_generator.state = rng.bit_generator.state
    return copy
