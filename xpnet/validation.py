"""Argument checks shared by the public API: each error names the argument, what was received and what was expected.

Checks that need values (NaN, label range) run on host data before it is moved; device data is only
checked for shape and dtype, which costs no host synchronisation (:func:`check_data`, run once before
training, is the exception: it reads the range of device labels once).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from .backend import Backend, dtype_name, float_dtype, is_host_array, resolve, to_device
from .errors import DeviceMismatchError, XPNetTypeError, XPNetValueError, describe

_REAL = ("bool", "integral", "real floating")  # what a device array of inputs or targets may hold


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Layer widths: at least two positive integers (input and output)."""
    if isinstance(sizes, np.ndarray) and sizes.ndim == 1:
        sizes = sizes.tolist()
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


def check_hidden(hidden: Any, name: str = "hidden", example: str = "(512,)") -> tuple[int, ...]:
    """Hidden-layer widths (``name``: the argument as the caller spells it): a (possibly empty) sequence of
    positive integers."""
    if isinstance(hidden, np.ndarray) and hidden.ndim == 1:
        hidden = hidden.tolist()
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise XPNetTypeError(f"{name}: expected a sequence of widths such as {example}; received {describe(hidden)}")
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width <= 0:
            raise XPNetValueError(
                f"{name}: every width must be a positive integer such as {example}; received {describe(hidden)}"
            )
    return tuple(int(w) for w in hidden)


def check_float(
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    low_inclusive: bool = True,
    high: float | None = None,
    high_inclusive: bool = False,
) -> float:
    """A finite real hyperparameter >= low (or > low) and, when ``high`` is given, < high (or <= high), returned as
    a Python float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise XPNetTypeError(f"{name}: expected a real number; received {describe(value)}")
    value = float(value)
    if high is not None:
        above = value > high if high_inclusive else value >= high
        if not math.isfinite(value) or value < low or (value == low and not low_inclusive) or above:
            interval = f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"
            raise XPNetValueError(f"{name}: expected a number in {interval}; received {value!r}")
    if not math.isfinite(value) or value < low or (value == low and not low_inclusive):
        relation = ">=" if low_inclusive else ">"
        raise XPNetValueError(f"{name}: expected a finite number {relation} {low}; received {value!r}")
    return value


# ------------------------------------------------------------------ arrays
def check_array(name: str, value: Any, target: Backend | None = None) -> Any:
    """``value`` as a NumPy array (host data) or as it is (device data: real-valued and on ``target`` when given)."""
    if is_host_array(value):
        try:
            return np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged nested lists, ...
            raise XPNetValueError(
                f"{name}: expected a rectangular array; received {describe(value)}, which NumPy cannot "
                f"turn into one ({exc})"
            ) from exc
    try:
        array_namespace(value)
    except TypeError:
        raise XPNetTypeError(
            f"{name}: expected an array (NumPy, CuPy, PyTorch or array-api-strict); received {describe(value)}"
        ) from None
    if target is None:
        return value
    try:
        value = to_device(value, target)  # refuses data on another device
    except DeviceMismatchError as exc:
        raise DeviceMismatchError(f"{name}: {exc}") from None
    if not target.xp.isdtype(value.dtype, _REAL):
        raise XPNetTypeError(f"{name}: expected real numbers (bool, integer or float); received dtype {value.dtype}")
    return value


def _host_real(name: str, host: np.ndarray) -> np.ndarray:
    if host.dtype.kind not in "biuf":
        raise XPNetTypeError(f"{name}: expected real numbers (bool, integer or float); received dtype {host.dtype}")
    return host


def host_values(name: str, host: np.ndarray) -> np.ndarray:
    _host_real(name, host)
    if host.dtype.kind == "f" and host.size:
        bad = ~np.isfinite(host)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), host.shape)
            raise XPNetValueError(
                f"{name}: expected finite numbers; received {int(bad.sum())} NaN or infinite value(s), the first "
                f"{host[first].item()!r} at index {tuple(int(i) for i in first)}; clean or impute them first"
            )
    return host


def _check_fits(name: str, host: np.ndarray, dtype: Any) -> None:
    """Host floats wider than ``dtype`` must not overflow to infinity when cast to it."""
    if host.dtype.kind != "f" or not host.size or dtype is None:
        return
    limit = float(np.finfo(dtype_name(dtype)).max)
    if float(np.finfo(host.dtype).max) > limit:
        largest = float(np.max(np.abs(host)))
        if largest > limit:
            raise XPNetValueError(
                f"{name}: values up to {largest:.4g} overflow {dtype_name(dtype)} (largest finite {limit:.4g}); "
                "rescale them or use dtype='float64'"
            )


def host_labels(name: str, y: np.ndarray, n_outputs: int | None) -> np.ndarray:
    """Integer class labels on the host, as int64: integral floats accepted; in ``[0, n_outputs)`` when given."""
    if y.dtype.kind == "f":
        if y.size and not np.isfinite(y).all():
            raise XPNetValueError(f"{name}: expected integer class labels; received NaN or infinite values")
        fractional = y != np.round(y)
        if fractional.any():
            raise XPNetTypeError(
                f"{name}: expected integer class labels; received dtype {y.dtype} with non-integer values "
                f"such as {y[fractional].flat[0].item()!r}; to predict real values (regression), use loss='mse' "
                "(xpnet train --loss mse)"
            )
    elif y.dtype.kind not in "iu":
        raise XPNetTypeError(f"{name}: expected integer class labels; received dtype {y.dtype}")
    if y.ndim == 1 and y.size:
        low, high = y.min(), y.max()
        if n_outputs is None and low < 0:
            raise XPNetValueError(f"{name}: labels must be >= 0; received min {low}")
        if n_outputs is not None and (low < 0 or high >= n_outputs):
            raise XPNetValueError(f"{name}: labels must lie in [0, {n_outputs}); received min {low}, max {high}")
    return y.astype(np.int64, copy=False)


def _check_shape_x(name: str, x: Any, n_features: int | None) -> None:
    if x.ndim != 2 or x.shape[0] == 0 or (n_features is not None and x.shape[1] != n_features):
        features = "n_features" if n_features is None else n_features
        raise XPNetValueError(
            f"{name}: expected a 2-D array of shape (n_samples >= 1, {features}); received shape {tuple(x.shape)}"
        )


def check_x(x: Any, target: Backend, n_features: int | None, dtype: Any = None, *, name: str = "x") -> Any:
    """``x`` of shape ``(n >= 1, n_features)`` (any width when ``None``): host data as a checked NumPy array.

    Host floats must be finite and, when ``dtype`` is given, fit in it; device data must be on ``target``.
    """
    x = check_array(name, x, target)
    if isinstance(x, np.ndarray):
        _host_real(name, x)
    _check_shape_x(name, x, n_features)
    if isinstance(x, np.ndarray):
        host_values(name, x)
        _check_fits(name, x, dtype)
    return x


def check_y(y: Any, target: Backend, n: int, n_outputs: int, integer: bool, *, name: str = "y") -> Any:
    """Labels ``(n,)`` in ``[0, n_outputs)`` (``integer``) or real targets ``(n, n_outputs)``; host data as NumPy."""
    y = check_array(name, y, target)
    if isinstance(y, np.ndarray):
        y = host_labels(name, y, n_outputs) if integer else host_values(name, y)
    elif integer and not target.xp.isdtype(y.dtype, "integral"):
        raise XPNetTypeError(f"{name}: expected integer class labels; received dtype {y.dtype}")
    expected = (n,) if integer else (n, n_outputs)
    if tuple(y.shape) != expected:
        what = "integer labels" if integer else "real targets"
        raise XPNetValueError(f"{name}: expected shape {expected} ({what}) to match x; received shape {tuple(y.shape)}")
    return y


def check_inputs(x: Any, target: Backend, dtype: Any, n_features: int) -> Any:
    """``x`` checked and moved to ``target`` as ``dtype``."""
    return to_device(check_x(x, target, n_features, dtype), target, dtype=dtype)


def check_targets(y: Any, target: Backend, n: int, n_outputs: int, integer: bool, dtype: Any) -> Any:
    """``y`` checked and moved to ``target`` (real targets cast to ``dtype``, which they must fit in)."""
    y = check_y(y, target, n, n_outputs, integer)
    if isinstance(y, np.ndarray) and not integer:
        _check_fits("y", y, dtype)
    return to_device(y, target, dtype=None if integer else dtype)


def check_batch_data(x: Any, y: Any, target: Any, dtype: Any) -> tuple[Any, Any, Backend, Any]:
    """Arguments of :class:`xpnet.data.Batches`: ``x`` ``(n, d)``, ``y`` ``(n,)`` or ``(n, k)`` of real numbers.

    Returns ``(x, y, target, dtype)``: host data as NumPy arrays, both on the host or both on ``target``
    (a host half of mixed data is moved there), integer targets ``(n, k)`` cast to ``dtype`` (only labels
    ``(n,)`` stay integers), ``target`` as a :class:`~xpnet.backend.Backend` (a spec string is resolved) and
    ``dtype`` as the namespace's floating dtype. Host floats must fit in ``dtype`` (no overflow to infinity).
    """
    if not isinstance(target, (Backend, str)):
        raise XPNetTypeError(f"target: expected a Backend or a device spec such as 'cpu'; received {describe(target)}")
    target = resolve(target)
    dtype = float_dtype(target, dtype)
    x, y = check_array("x", x, target), check_array("y", y, target)
    for name, a in (("x", x), ("y", y)):
        if isinstance(a, np.ndarray):
            _host_real(name, a)
    if x.ndim != 2:
        raise XPNetValueError(
            f"x: expected a 2-D array of shape (n_samples, n_features); received shape {tuple(x.shape)}"
        )
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise XPNetValueError(
            f"y: expected shape ({x.shape[0]},) or ({x.shape[0]}, k) to match x; received shape {tuple(y.shape)}"
        )
    for name, a in (("x", x), ("y", y)):
        if isinstance(a, np.ndarray):
            _check_fits(name, a, dtype)
    if y.ndim == 2:  # targets, not labels: always real
        if isinstance(y, np.ndarray) and y.dtype.kind != "f":
            y = y.astype(dtype_name(dtype))
        elif not isinstance(y, np.ndarray) and not target.xp.isdtype(y.dtype, "real floating"):
            y = target.xp.astype(y, dtype)
    if isinstance(x, np.ndarray) != isinstance(y, np.ndarray):  # mixed: the host half follows the device half
        x, y = (_to_target(a, target, dtype) for a in (x, y))
    return x, y, target, dtype


def _to_target(a: Any, target: Backend, dtype: Any) -> Any:
    """Host arrays moved to ``target`` (floats cast to ``dtype`` on the host first); device arrays as they are."""
    if not isinstance(a, np.ndarray):
        return a
    return to_device(a, target, dtype=dtype if a.dtype.kind == "f" else None)
