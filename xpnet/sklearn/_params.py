"""The estimators' parameters checked and turned into xpnet's: hidden widths, activation, batch size, counts,
the float dtype; each refusal names the parameter as the user set it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import dtype_name
from ..errors import XPNetValueError, describe
from ..nn.activations import ACTIVATIONS as NET_ACTIVATIONS
from ..validation import check_float, check_hidden

ACTIVATIONS = {name: name for name in NET_ACTIVATIONS} | {"logistic": "sigmoid"}  # scikit-learn's name, xpnet's


class ParameterChecks:
    """Mixed into the estimators: each method reads the estimator's parameters of the same name."""

    hidden_layer_sizes: Any
    activation: Any
    batch_size: Any
    max_iter: Any
    n_iter_no_change: Any
    alpha: Any
    early_stopping: Any
    validation_fraction: Any
    dtype: Any

    def _hidden(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool) else sizes
        return check_hidden(sizes, "hidden_layer_sizes", "(100,)")

    def _activation(self) -> str:
        if self.activation not in ACTIVATIONS:
            raise XPNetValueError(
                f"activation: expected one of {sorted(ACTIVATIONS)}; received {describe(self.activation)}"
            )
        return ACTIVATIONS[self.activation]

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, (int, np.integer))
            or self.batch_size < 1
        ):
            raise XPNetValueError(
                f"batch_size: expected 'auto' or a positive integer; received {describe(self.batch_size)}"
            )
        return min(int(self.batch_size), n)

    def _check_counts(self) -> None:
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise XPNetValueError(f"{name}: expected a positive integer; received {describe(value)}")
        check_float("alpha", self.alpha)  # named as the user set it, not as the l2 it becomes
        if self.early_stopping and not 0.0 < self.validation_fraction < 1.0:
            raise XPNetValueError(
                f"validation_fraction: expected a fraction in (0, 1); received {describe(self.validation_fraction)}"
            )

    def _float_dtype(self, X: Any) -> str:
        if self.dtype is not None:
            return dtype_name(self.dtype)  # "float32", np.float32, np.dtype("float32"), torch.float32 alike
        kind = str(getattr(X, "dtype", "float64"))
        return "float32" if kind.endswith("float32") else "float64"
