"""Inputs that would train silently to chance, caught before training: a :class:`DataWarning` that says the fix.

Run on host data once, before training (data already on a device is not read back for this).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


class DataWarning(UserWarning):
    """The training data look like a common mistake (raw pixels, 1-based labels, constant features, ...)."""


def _warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=5)  # the caller of xpnet.train


def check_inputs_scale(x: Any, *, scaled: bool) -> None:
    """Warn about raw 0-255 pixels, huge feature values and features that never vary (host ``x`` only).

    ``scaled``: the inputs are already scaled (a named data set) or standardized by the model.
    """
    if not isinstance(x, np.ndarray) or x.size == 0:
        return
    lows, highs = np.min(x, axis=0), np.max(x, axis=0)  # two passes over the data, once per run
    low, high = float(np.min(lows)), float(np.max(highs))
    if bool(np.all(lows == highs)):
        _warn(
            "x: every feature is constant (each column holds a single value): the network can learn nothing from "
            "it and will predict the most common class; check how x was built"
        )
        return
    if scaled:
        return
    sample = x[:: max(1, x.shape[0] // 1000)]  # whole numbers, means, spreads: a thousand rows tell
    integral = x.dtype.kind in "iub" or bool(np.all(sample == np.round(sample)))
    columns = sample.astype(np.float64)
    offset, spread = float(np.max(np.abs(columns.mean(axis=0)))), float(np.max(columns.std(axis=0)))
    # Counts up to a few dozen train fine; pixels do not. Resampled or averaged images are 0-255 floats over many
    # features (a table whose columns happen to reach 200-255 gets the general advice below, which also holds).
    images = x.shape[1] >= 64 and high >= 200
    if low >= 0 and 64 <= high <= 255 and (integral or images):
        what = (
            f"values are whole numbers in [{low:g}, {high:g}], like raw 8-bit pixels"
            if integral
            else f"values lie in [{low:.4g}, {high:.4g}] over {x.shape[1]} features, like 8-bit pixels as floats"
        )
        _warn(
            f"x: {what}; unscaled they train slowly or diverge: scale them to [0, 1]: x / 255 (or pass "
            "standardize=True; xpnet train --standardize)"
        )
    elif offset > 10 or spread > 10:  # standardized data (even with rare, spiky features) have both near 1
        _warn(
            f"x: features have means up to {offset:.4g} and spreads up to {spread:.4g}; gradient descent on unscaled "
            "features trains poorly or diverges: pass standardize=True to xpnet.train (xpnet train --standardize; in "
            "a scikit-learn Pipeline, a StandardScaler)"
        )


def check_labels(y: Any, loss: str) -> None:
    """Warn when integer class labels are all one class, never use class 0 (1-based labels waste an output and
    skew the start) or skip classes (codes such as 10, 20, 30 taken for class indices)."""
    if loss != "cross_entropy" or not isinstance(y, np.ndarray) or y.ndim != 1 or y.size == 0:
        return
    if y.dtype.kind not in "iu":
        return
    low, high = int(y.min()), int(y.max())
    if low == high:
        _warn(
            f"y: every label is {low}: with a single class there is nothing to tell apart and the network will "
            "always predict it; check that the labels were read from the right column"
        )
    elif low >= 1:
        _warn(
            f"y: labels run from {low} to {high} and class 0 never occurs; the network gets {high + 1} outputs, one "
            "never used. If the labels are 1-based, pass y - 1 (in a file: number them from 0, or use class names)"
        )
    else:
        absent = np.flatnonzero(np.bincount(y, minlength=high + 1) == 0)
        if absent.size:
            shown = ", ".join(str(c) for c in absent[:5]) + (", ..." if absent.size > 5 else "")
            _warn(
                f"y: labels run from 0 to {high} but {absent.size} of those {high + 1} classes "
                f"{'never occurs' if absent.size == 1 else 'never occur'} ({shown}); "
                "each still gets an output. If the labels are codes rather than class indices, renumber them with "
                "np.unique(y, return_inverse=True)[1] (or use class names)"
            )


def one_hot_hint(y: Any) -> str:
    """The fix for ``(n, k)`` targets given to cross-entropy: empty unless they look one-hot encoded."""
    if not isinstance(y, np.ndarray) or y.ndim != 2 or y.size == 0:
        return ""
    binary = np.all((y == 0) | (y == 1))
    if binary and np.all(y.sum(axis=1) == 1):
        return "; y looks one-hot encoded: pass the class indices y.argmax(1), or loss='quadratic' for (n, k) targets"
    return "; for (n, k) real targets use loss='quadratic'"
