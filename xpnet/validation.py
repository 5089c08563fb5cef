"""Argument checks shared by the public API: each error names the argument, what was received and what was expected.

Checks that need values (NaN, label range) run on host data before it is moved; device data is only
checked for shape and dtype, which costs no host synchronisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .backend import Backend, is_host_array, to_device
from .errors import XPNetTypeError, XPNetValueError, describe


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Layer widths: at least two positive integers (input and output)."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise XPNetTypeError(
            f"sizes: expected a sequence of layer widths such as (784, 100, 10); received {describe(sizes)}"
        )
    if len(sizes) < 2:
        raise XPNetValueError(f"sizes: expected at least 2 layer widths (input and output); received {list(sizes)}")
    for width in sizes:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width <= 0:
            raise XPNetValueError(f"sizes: every width must be a positive integer; received {list(sizes)}")
    return tuple(int(w) for w in sizes)


def check_float(name: str, value: Any, *, low: float = 0.0, low_inclusive: bool = True) -> float:
    """A finite real hyperparameter >= low (or > low), returned as a Python float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise XPNetTypeError(f"{name}: expected a real number; received {describe(value)}")
    value = float(value)
    if not math.isfinite(value) or value < low or (value == low and not low_inclusive):
        relation = ">=" if low_inclusive else ">"
        raise XPNetValueError(f"{name}: expected a finite number {relation} {low}; received {value!r}")
    return value


def _as_array(name: str, x: Any, target: Backend, dtype: Any) -> Any:
    if is_host_array(x):
        host = np.asarray(x)
        if host.dtype.kind not in "biuf":
            raise XPNetTypeError(f"{name}: expected numbers; received an array of dtype {host.dtype}")
        if host.dtype.kind == "f" and host.size and not np.isfinite(host).all():
            raise XPNetValueError(f"{name}: contains NaN or infinite values; clean or impute them first")
        x = host
    return to_device(x, target, dtype=dtype)


def check_inputs(x: Any, target: Backend, dtype: Any, n_features: int) -> Any:
    """``x`` as a ``(n, n_features)`` array of ``dtype`` on ``target``."""
    arr = _as_array("x", x, target, dtype)
    if arr.ndim != 2 or arr.shape[1] != n_features or arr.shape[0] == 0:
        raise XPNetValueError(
            f"x: expected a 2-D array of shape (n_samples >= 1, {n_features}); received shape {tuple(arr.shape)}"
        )
    return arr


def check_targets(y: Any, target: Backend, n: int, n_outputs: int, integer: bool, dtype: Any) -> Any:
    """Labels ``(n,)`` in ``[0, n_outputs)`` (``integer``) or real targets ``(n, n_outputs)`` on ``target``."""
    if integer:
        if is_host_array(y):
            host = np.asarray(y)
            if host.dtype.kind not in "iu" and not (host.dtype.kind == "f" and np.all(host == np.round(host))):
                raise XPNetTypeError(f"y: expected integer class labels; received dtype {host.dtype}")
            if host.size and (host.min() < 0 or host.max() >= n_outputs):
                raise XPNetValueError(
                    f"y: labels must lie in [0, {n_outputs}); received min {host.min()}, max {host.max()}"
                )
            y = host.astype(np.int64)
        arr = to_device(y, target)
        expected = f"({n},)"
        ok = arr.ndim == 1 and arr.shape[0] == n
    else:
        arr = _as_array("y", y, target, dtype)
        expected = f"({n}, {n_outputs})"
        ok = arr.ndim == 2 and tuple(arr.shape) == (n, n_outputs)
    if not ok:
        raise XPNetValueError(f"y: expected shape {expected} to match x; received shape {tuple(arr.shape)}")
    return arr
