"""Losses, each fused with its output layer and written beside its gradient: softmax cross-entropy, Nielsen's
quadratic cost and binary cross-entropy on sigmoid outputs (classification), mean squared error on identity
outputs (regression).

A loss maps the last layer's pre-activation ``z`` (shape ``(n, k)``) and the targets to
``(loss, delta)`` where ``loss`` is a 0-d array (mean over the batch) and ``delta = dloss/dz`` (``(n, k)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ..backend.step_ops import positive_part, softmax_cross_entropy
from ..errors import XPNetValueError, describe
from .activations import identity, sigmoid, sigmoid_derivative

Array = Any


def log_softmax(z: Array) -> Array:
    """Row-wise log-softmax, shifted by the row maximum so that ``exp`` never overflows."""
    xp = array_namespace(z)
    shifted = z - xp.max(z, axis=1, keepdims=True)  # (n, k)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(z: Array) -> Array:
    return array_namespace(z).exp(log_softmax(z))


def one_hot(labels: Array, k: int, dtype: Any) -> Array:
    """``(n,)`` integer labels -> ``(n, k)`` one-hot rows, by comparison with ``arange`` (no scatter)."""
    xp = array_namespace(labels)
    classes = xp.arange(k, dtype=labels.dtype, device=device_of(labels))  # (k,)
    return xp.astype(xp.expand_dims(labels, axis=1) == classes, dtype)


def cross_entropy(z: Array, labels: Array) -> tuple[Array, Array]:
    """Softmax cross-entropy on logits ``z`` ``(n, k)`` and integer ``labels`` ``(n,)``.

    loss = -mean_i log softmax(z_i)[labels_i];  dloss/dz = (softmax(z) - onehot) / n
    """
    fast = softmax_cross_entropy(z, labels)  # a backend's fused kernels, where it has them
    if fast is not None:
        return fast
    xp = array_namespace(z)
    inv_n = 1.0 / z.shape[0]
    logp = log_softmax(z)  # (n, k)
    target = one_hot(labels, z.shape[1], z.dtype)  # (n, k)
    loss = -xp.sum(target * logp) * inv_n
    delta = (xp.exp(logp) - target) * inv_n
    return loss, delta


def quadratic(z: Array, y: Array) -> tuple[Array, Array]:
    """Nielsen's quadratic cost on sigmoid outputs ``a = sigmoid(z)`` and real targets ``y`` ``(n, k)``.

    loss = mean_i ½‖a_i − y_i‖²;  dloss/dz = (a − y) ⊙ σ'(z) / n
    """
    xp = array_namespace(z)
    inv_n = 1.0 / z.shape[0]
    a = sigmoid(z)
    diff = a - y  # (n, k)
    loss = 0.5 * xp.sum(diff * diff) * inv_n
    delta = diff * sigmoid_derivative(z, a) * inv_n
    return loss, delta


def binary_cross_entropy(z: Array, y: Array) -> tuple[Array, Array]:
    """Cross-entropy of sigmoid outputs ``a = σ(z)`` against targets ``y`` in [0, 1], both ``(n, k)`` (Nielsen, ch. 3).

    loss = −mean_i Σ_j [y log a + (1 − y) log(1 − a)] = mean_i Σ_j [softplus(z) − y·z];  dloss/dz = (a − y) / n.
    The σ'(z) of the quadratic cost cancels: saturated sigmoids still learn fast.
    """
    xp = array_namespace(z)
    inv_n = 1.0 / z.shape[0]
    stable_softplus = positive_part(z) + xp.log1p(xp.exp(-xp.abs(z)))
    loss = xp.sum(stable_softplus - y * z) * inv_n
    return loss, (sigmoid(z) - y) * inv_n


def mean_squared_error(z: Array, y: Array) -> tuple[Array, Array]:
    """Mean squared error of identity outputs ``z`` against real targets ``y``, both ``(n, k)`` (regression).

    loss = mean over samples and outputs of (z − y)²;  dloss/dz = 2·(z − y) / (n·k)
    """
    xp = array_namespace(z)
    inv = 1.0 / (z.shape[0] * z.shape[1])
    diff = z - y  # (n, k)
    return xp.sum(diff * diff) * inv, diff * (2.0 * inv)


def _no_probabilities(z: Array) -> Array:
    raise XPNetValueError("predict_proba: a regression model (loss 'mse') has no class probabilities; use model(x)")


def _normalised_sigmoid(z: Array) -> Array:
    a = sigmoid(z)
    return a / array_namespace(z).sum(a, axis=1, keepdims=True)


@dataclass(frozen=True)
class Loss:
    """A loss with its output layer: ``output(z)`` is what ``net(x)`` returns, ``proba(z)`` rows sum to 1.

    ``classifies``: the outputs score classes (accuracy and confusion matrices mean something); False for regression.
    """

    name: str
    value_and_delta: Callable[[Array, Array], tuple[Array, Array]]
    output: Callable[[Array], Array]
    proba: Callable[[Array], Array]
    integer_targets: bool
    classifies: bool = True

    @property
    def one_hot_labels(self) -> bool:
        """Scores classes from ``(n, k)`` targets: integer labels are turned into one-hot rows for it."""
        return self.classifies and not self.integer_targets


LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss("cross_entropy", cross_entropy, identity, softmax, integer_targets=True),
    "quadratic": Loss("quadratic", quadratic, sigmoid, _normalised_sigmoid, integer_targets=False),
    "mse": Loss("mse", mean_squared_error, identity, _no_probabilities, integer_targets=False, classifies=False),
    "binary_cross_entropy": Loss(
        "binary_cross_entropy", binary_cross_entropy, sigmoid, _normalised_sigmoid, integer_targets=False
    ),
}


def get_loss(name: str) -> Loss:
    """Look up a loss by name; unknown names list the valid ones."""
    if not isinstance(name, str) or name not in LOSSES:
        raise XPNetValueError(f"loss: expected one of {sorted(LOSSES)}; received {describe(name)}")
    return LOSSES[name]
