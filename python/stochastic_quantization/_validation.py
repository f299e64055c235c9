"""Input checks shared by the estimator and the CLI. Every error names the argument, the rule it
breaks and the value it got."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

# Largest magnitude a float32 coordinate may have: beyond it, squared distances between two such
# points can overflow float32 in a sum over up to 2**16 features.
FLOAT32_MAX_COORDINATE = float(np.sqrt(np.finfo(np.float32).max / 4.0 / 2**16))


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a real (or integer) number in the given interval."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if integer else "a real number"
        raise ValueError(f"{name} must be {expected}, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        sign = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {sign} {low}, got {value!r}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        sign = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {sign} {high}, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless ``value`` is one of the strings in ``choices``."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")


def check_dtype_kind(name: str, array: Any) -> None:
    """Reject string, complex, datetime and other non-numeric arrays before any conversion."""
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        return
    dtype = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    if dtype.kind == "c":
        # scikit-learn's estimator checks look for the phrase "Complex data not supported".
        raise ValueError(
            f"{name} must contain real numbers: Complex data not supported, got dtype {dtype}; "
            f"pass {name}.real or np.abs({name})"
        )
    # Object arrays of numbers are converted by scikit-learn's check_array, which raises on
    # elements that are not numbers.
    if dtype.kind not in "biufO":
        raise ValueError(
            f"{name} must contain real numbers (bool, integer or float dtype), got dtype {dtype}; "
            "convert it with np.asarray(..., dtype=np.float64)"
        )


def check_float32_range(name: str, samples: np.ndarray) -> None:
    """Reject float32 values whose squared distances could overflow float32."""
    if samples.dtype != np.float32 or samples.size == 0:
        return
    largest = max(float(samples.max()), -float(samples.min()))
    if largest > FLOAT32_MAX_COORDINATE:
        raise ValueError(
            f"{name} has float32 values up to {largest:.3g} in magnitude, above "
            f"{FLOAT32_MAX_COORDINATE:.3g}, where squared distances overflow float32; "
            f"pass {name}.astype(np.float64) or rescale the data"
        )


def check_sample_weight(sample_weight: Any, n_samples: int, dtype: np.dtype) -> np.ndarray | None:
    """Return sample weights as a C-contiguous array of ``dtype``, or None for unit weights."""
    if sample_weight is None:
        return None
    check_dtype_kind("sample_weight", np.asarray(sample_weight))
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X, got shape {weights.shape}"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight must be finite, got NaN or infinity")
    if np.any(weights < 0):
        raise ValueError(f"sample_weight must be >= 0, got minimum {weights.min()!r}")
    if not np.any(weights > 0):
        raise ValueError("sample_weight must have at least one positive value, got all zeros")
    return np.ascontiguousarray(weights, dtype=dtype)
