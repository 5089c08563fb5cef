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


def _host_values(name: str, host: np.ndarray) -> np.ndarray:
    if host.dtype.kind not in "biuf":
        raise XPNetTypeError(f"{name}: expected numbers; received an array of dtype {host.dtype}")
    if host.dtype.kind == "f" and host.size and not np.isfinite(host).all():
        raise XPNetValueError(f"{name}: contains NaN or infinite values; clean or impute them first")
    return host


def check_x(x: Any, target: Backend, n_features: int) -> Any:
    """``x`` of shape ``(n >= 1, n_features)``: host data as a checked NumPy array, device data as it is."""
    if is_host_array(x):
        x = _host_values("x", np.asarray(x))
    else:
        x = to_device(x, target)  # refuses data on another device
    if x.ndim != 2 or x.shape[1] != n_features or x.shape[0] == 0:
        raise XPNetValueError(
            f"x: expected a 2-D array of shape (n_samples >= 1, {n_features}); received shape {tuple(x.shape)}"
        )
    return x


def check_y(y: Any, target: Backend, n: int, n_outputs: int, integer: bool) -> Any:
    """Labels ``(n,)`` in ``[0, n_outputs)`` (``integer``) or real targets ``(n, n_outputs)``; host data as NumPy."""
    if is_host_array(y):
        y = np.asarray(y)
        if integer:
            if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
                raise XPNetTypeError(f"y: expected integer class labels; received dtype {y.dtype}")
            if y.ndim == 1 and y.size and (y.min() < 0 or y.max() >= n_outputs):
                raise XPNetValueError(f"y: labels must lie in [0, {n_outputs}); received min {y.min()}, max {y.max()}")
            y = y.astype(np.int64, copy=False)
        else:
            y = _host_values("y", y)
    else:
        y = to_device(y, target)
        if integer and not target.xp.isdtype(y.dtype, "integral"):
            raise XPNetTypeError(f"y: expected integer class labels; received dtype {y.dtype}")
    expected = (n,) if integer else (n, n_outputs)
    if tuple(y.shape) != expected:
        raise XPNetValueError(f"y: expected shape {expected} to match x; received shape {tuple(y.shape)}")
    return y


def check_inputs(x: Any, target: Backend, dtype: Any, n_features: int) -> Any:
    """``x`` checked and moved to ``target`` as ``dtype``."""
    return to_device(check_x(x, target, n_features), target, dtype=dtype)


def check_targets(y: Any, target: Backend, n: int, n_outputs: int, integer: bool, dtype: Any) -> Any:
    """``y`` checked and moved to ``target`` (real targets cast to ``dtype``)."""
    return to_device(check_y(y, target, n, n_outputs, integer), target, dtype=None if integer else dtype)
