"""Input checks shared by the estimator and the CLI. Every error names the argument, the rule it
breaks and the value it got."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.utils import check_array

from ._memmap import row_chunks

# Largest magnitude a coordinate may have in each floating dtype: beyond it, a squared distance
# between two such points can overflow in a sum over up to 2**16 features.
MAX_COORDINATE = {
    np.dtype(np.float32): float(np.sqrt(np.finfo(np.float32).max / 4.0 / 2**16)),
    np.dtype(np.float64): float(np.sqrt(np.finfo(np.float64).max / 4.0 / 2**16)),
}
FLOAT32_MAX_COORDINATE = MAX_COORDINATE[np.dtype(np.float32)]

# Rows scanned at a time when locating the first non-finite value, so the scan needs a bounded
# boolean buffer instead of one as large as X.
_FINITE_SCAN_ROWS = 65536


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
    if dtype.kind == "O":
        _check_object_elements(name, array)
        return
    if dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must contain real numbers (bool, integer or float dtype), got dtype {dtype}; "
            "convert it with np.asarray(..., dtype=np.float64)"
        )


def _check_object_elements(name: str, array: Any) -> None:
    """Raise unless every element of an object array converts to float.

    Object arrays of numbers are accepted and converted later, as scikit-learn does. An element
    of the wrong type keeps NumPy's TypeError (scikit-learn's checks expect that type), and a
    string that is not a number raises ValueError.
    """
    try:
        np.asarray(array, dtype=np.float64)
    except TypeError as error:
        raise TypeError(f"{name} must contain real numbers, got dtype object: {error}") from None
    except ValueError as error:
        raise ValueError(
            f"{name} must contain real numbers (bool, integer or float dtype), got dtype object "
            f"with an element that is not a number ({error}); convert it before fitting"
        ) from None


def check_finite(name: str, samples: np.ndarray) -> None:
    """Raise ValueError naming the first NaN or infinity of a 2-D float array, if there is one."""
    if samples.size == 0:
        return
    for first_row, chunk in row_chunks(samples):
        _check_finite_chunk(name, chunk, first_row)


def _check_finite_chunk(name: str, samples: np.ndarray, first_row: int) -> None:
    if np.isfinite(samples.sum(dtype=np.float64)):
        # The float64 sum of finite float32 or float64 values can overflow to infinity, so a
        # finite sum proves every value finite; an infinite one needs the scan below.
        return
    for start in range(0, samples.shape[0], _FINITE_SCAN_ROWS):
        block = samples[start : start + _FINITE_SCAN_ROWS]
        bad = np.argwhere(~np.isfinite(block))
        if len(bad):
            row, column = int(bad[0][0]) + start, int(bad[0][1])
            value = samples[row, column]
            row += first_row
            raise ValueError(
                f"{name} must contain only finite values, got {value} at row {row}, column "
                f"{column}; remove or impute NaN and infinite values first"
            )


def check_range(name: str, samples: np.ndarray, dtype: np.dtype | None = None) -> None:
    """Reject values whose squared distances could overflow ``dtype`` (default: the array's).

    Parameters
    ----------
    name : str
        Argument name for the error message.
    samples : ndarray of float32 or float64, any shape
        Finite values.
    dtype : float32 or float64 dtype, optional
        Dtype the distances will be computed in, when the caller converts ``samples`` to it.
    """
    dtype = np.dtype(dtype if dtype is not None else samples.dtype)
    limit = MAX_COORDINATE.get(dtype)
    if limit is None or samples.size == 0:
        return
    largest = 0.0
    for _, chunk in row_chunks(samples):
        largest = max(largest, float(chunk.max()), -float(chunk.min()))
    if largest > limit:
        advice = (
            f"pass {name}.astype(np.float64) or rescale the data"
            if dtype == np.float32
            else "rescale the data"
        )
        raise ValueError(
            f"{name} has values up to {largest:.3g} in magnitude, above {limit:.3g}, where "
            f"squared distances overflow {dtype}; {advice}"
        )


def check_float32_range(name: str, samples: np.ndarray) -> None:
    """Reject float32 values whose squared distances could overflow float32."""
    if samples.dtype == np.float32:
        check_range(name, samples)


def check_samples(name: str, samples: Any) -> np.ndarray:
    """Return ``samples`` as a finite, C-contiguous 2-D float32 or float64 array.

    C-contiguous float32 and float64 arrays are returned as they are; other dtypes (bool,
    integers) and layouts are converted once, integers and bool to float64.
    """
    check_dtype_kind(name, samples)
    samples = check_array(
        samples,
        dtype=[np.float64, np.float32],
        order="C",
        copy=False,
        ensure_all_finite=False,
        input_name=name,
    )
    check_finite(name, samples)
    check_range(name, samples)
    return samples


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
        index = int(np.flatnonzero(~np.isfinite(weights))[0])
        value = weights[index]
        raise ValueError(f"sample_weight must be finite, got sample_weight[{index}] = {value}")
    if np.any(weights < 0):
        raise ValueError(f"sample_weight must be >= 0, got minimum {float(weights.min())!r}")
    if not np.any(weights > 0):
        raise ValueError("sample_weight must have at least one positive value, got all zeros")
    return np.ascontiguousarray(weights, dtype=dtype)
