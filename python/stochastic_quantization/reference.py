"""Pure-NumPy reference of every algorithm in the C++ core: the executable specification.

Written for clarity, not speed: it loops over samples and steps in Python. The tests run the
compiled core and these functions side by side and require the same results. Arrays keep the
dtype of the samples between steps, as the core does, and arithmetic inside a step is float64.

Notation of Kozyriev and Norkin's stochastic quantization: samples xi_i, centres y_k, rank r,
step sizes rho_t, loss F(y) = sum_i w_i min_k ||xi_i - y_k||^r / sum_i w_i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "nag", "adagrad", "rmsprop", "adam")
SCHEDULES = ("constant", "inverse_time", "count")


def squared_distances(samples: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Return the (n, K) squared distances, computed by direct differences in float64."""
    diff = samples[:, None, :].astype(np.float64) - centers[None, :, :].astype(np.float64)
    return np.einsum("nkd,nkd->nk", diff, diff)


def nearest_centers(samples: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels, squared distances) of the nearest centre; ties go to the lowest index."""
    distances = squared_distances(samples, centers)
    labels = np.argmin(distances, axis=1)
    return labels.astype(np.int64), distances[np.arange(len(samples)), labels]


def rank_loss(squared_distance: np.ndarray, rank: float) -> np.ndarray:
    """Return ||xi - y||^r from squared distances."""
    return np.power(np.maximum(squared_distance, 0.0), rank / 2.0)


def objective(
    samples: np.ndarray, centers: np.ndarray, rank: float, sample_weight: np.ndarray | None = None
) -> float:
    """Return F(y), the weighted mean of min_k ||xi_i - y_k||^r."""
    _, distances = nearest_centers(samples, centers)
    weights = np.ones(len(samples)) if sample_weight is None else sample_weight.astype(np.float64)
    return float(np.sum(weights * rank_loss(distances, rank)) / np.sum(weights))


def gradient_scale(squared_distance: float, rank: float) -> float:
    """Return s with grad_y ||xi - y||^r = s (y - xi): r ||xi - y||^(r-2), and 0 when xi == y."""
    if squared_distance <= 0.0:
        return 0.0
    return rank * squared_distance ** ((rank - 2.0) / 2.0)


def kmeans_plusplus(
    samples: np.ndarray,
    n_clusters: int,
    uniforms: np.ndarray,
    n_local_trials: int,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Return the row indices of greedy k-means++ centres.

    The first centre is drawn proportionally to the weights; each later one is the best of
    ``n_local_trials`` candidates drawn proportionally to w_i * D_i^2 (D_i the distance to the
    nearest chosen centre), the best being the one that leaves the smallest sum of w_i * D_i^2.
    Draw j uses ``uniforms[j]``, a number in [0, 1).
    """
    n_samples = len(samples)
    weights = np.ones(n_samples) if sample_weight is None else sample_weight.astype(np.float64)

    def draw(values: np.ndarray, uniform: float) -> int:
        cumulative = np.cumsum(weights * values)
        index = int(np.searchsorted(cumulative, uniform * cumulative[-1], side="right"))
        return min(index, n_samples - 1)

    chosen = [draw(np.ones(n_samples), uniforms[0])]
    closest = squared_distances(samples, samples[chosen[0]][None, :])[:, 0]
    next_uniform = 1
    for _ in range(1, n_clusters):
        best_index, best_closest, best_potential = -1, closest, math.inf
        candidates = [
            draw(closest, u) for u in uniforms[next_uniform : next_uniform + n_local_trials]
        ]
        next_uniform += n_local_trials
        for candidate in candidates:
            candidate_closest = np.minimum(
                closest, squared_distances(samples, samples[candidate][None, :])[:, 0]
            )
            potential = float(np.sum(weights * candidate_closest))
            if potential < best_potential:
                best_index, best_closest, best_potential = candidate, candidate_closest, potential
        chosen.append(best_index)
        closest = best_closest
    return np.asarray(chosen, dtype=np.int64)


@dataclass
class Settings:
    """Settings of an SQ run; the field meanings match the estimator's parameters."""

    rank: float = 2.0
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    schedule: str = "constant"
    t0: float = 1.0
    power: float = 1.0
    momentum: float = 0.9
    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    batch_size: int = 1
    averaging: bool = False
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


@dataclass
class State:
    """State of an SQ run: centres, per-centre optimizer state and counters."""

    centers: np.ndarray
    first: np.ndarray
    second: np.ndarray
    updates: np.ndarray
    mass: np.ndarray
    averaged_sum: np.ndarray = field(default=None)  # sum_t rho_t y(t), float64
    step: int = 0
    rate_sum: float = 0.0

    @classmethod
    def start(cls, centers: np.ndarray) -> State:
        return cls(
            centers=centers.copy(),
            first=np.zeros_like(centers),
            second=np.zeros_like(centers),
            updates=np.zeros(len(centers), dtype=np.int64),
            mass=np.ones(len(centers)),
            averaged_sum=np.zeros(centers.shape),
        )

    def averaged(self) -> np.ndarray:
        """Return sum_t rho_t y(t) / sum_t rho_t, or the centres before any step."""
        if self.rate_sum <= 0.0:
            return self.centers.copy()
        return (self.averaged_sum / self.rate_sum).astype(self.centers.dtype)


def global_rate(settings: Settings, step: int) -> float:
    """Return rho_t shared by all centres; the count schedule has none and returns 1."""
    if settings.schedule == "constant":
        return settings.learning_rate
    if settings.schedule == "inverse_time":
        return settings.learning_rate / (1.0 + step / settings.t0) ** settings.power
    return 1.0


def optimizer_step(
    settings: Settings,
    state: State,
    k: int,
    rate: float,
    gradient: Callable[[np.ndarray], np.ndarray],
) -> None:
    """Move centre k by one step of the chosen optimizer, then project it onto the box."""
    dtype = state.centers.dtype
    y = state.centers[k].astype(np.float64)
    name = settings.optimizer
    if name == "sgd":
        new = y - rate * gradient(y)
    elif name == "momentum":
        new = y - rate * gradient(y) + settings.momentum * state.first[k].astype(np.float64)
    elif name == "nag":
        lookahead = (y + settings.momentum * state.first[k].astype(np.float64)).astype(dtype)
        new = lookahead.astype(np.float64) - rate * gradient(lookahead.astype(np.float64))
    elif name in ("adagrad", "rmsprop"):
        g = gradient(y)
        old = state.first[k].astype(np.float64)
        if name == "adagrad":
            accumulated = old + g * g
        else:
            accumulated = settings.beta * old + (1.0 - settings.beta) * g * g
        state.first[k] = accumulated.astype(dtype)
        new = y - rate * g / (np.sqrt(accumulated) + settings.epsilon)
    elif name == "adam":
        g = gradient(y)
        moves = float(state.updates[k])
        m = settings.beta1 * state.first[k].astype(np.float64) + (1.0 - settings.beta1) * g
        v = settings.beta2 * state.second[k].astype(np.float64) + (1.0 - settings.beta2) * g * g
        state.first[k], state.second[k] = m.astype(dtype), v.astype(dtype)
        m_hat = m / (1.0 - settings.beta1**moves)
        v_hat = v / (1.0 - settings.beta2**moves)
        new = y - rate * m_hat / (np.sqrt(v_hat) + settings.epsilon)
    else:
        raise ValueError(f"unknown optimizer {name!r}")

    new = new.astype(dtype)
    if settings.lower is not None:
        new = np.clip(new.astype(np.float64), settings.lower, settings.upper).astype(dtype)
    if name in ("momentum", "nag"):
        state.first[k] = (new.astype(np.float64) - y).astype(dtype)
    state.centers[k] = new


def sq_step(
    samples: np.ndarray,
    batch: np.ndarray,
    state: State,
    settings: Settings,
    sample_weight: np.ndarray | None = None,
) -> None:
    """Take one SQ step on the samples with indices ``batch``.

    Nearest centres use the centres before the step. Each centre k with positive-weight samples
    moves once along g_k = (1 / m_k) sum_i w_i r ||xi_i - y_k||^(r-2) (y_k - xi_i), in order of k.
    """
    xs = samples[batch]
    weights = np.ones(len(batch)) if sample_weight is None else sample_weight[batch].astype(float)
    labels, _ = nearest_centers(xs, state.centers)

    rate_t = global_rate(settings, state.step)
    if settings.averaging:
        # Every centre sat at its pre-step position during step t, with weight rho_t.
        state.averaged_sum += rate_t * state.centers.astype(np.float64)
        state.rate_sum += rate_t

    for k in range(len(state.centers)):
        members = np.flatnonzero((labels == k) & (weights > 0))
        if len(members) == 0:
            continue
        state.mass[k] += weights[members].sum()
        state.updates[k] += 1
        rate = rate_t
        if settings.schedule == "count":
            rate = settings.learning_rate * len(members) / (settings.rank * state.mass[k])

        def gradient(point: np.ndarray, members: np.ndarray = members) -> np.ndarray:
            total = np.zeros(samples.shape[1])
            for i in members:
                diff = point - xs[i].astype(np.float64)
                scale = weights[i] * gradient_scale(float(diff @ diff), settings.rank)
                total += scale * diff
            return total / len(members)

        optimizer_step(settings, state, k, rate, gradient)
    state.step += 1


def sq_run(
    samples: np.ndarray,
    order: np.ndarray,
    state: State,
    settings: Settings,
    sample_weight: np.ndarray | None = None,
) -> State:
    """Run SQ over ``samples[order]`` in batches of ``settings.batch_size``; return the state."""
    for start in range(0, len(order), settings.batch_size):
        sq_step(samples, order[start : start + settings.batch_size], state, settings, sample_weight)
    return state
