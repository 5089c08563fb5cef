"""Activation functions, each beside its derivative.

Every entry of :data:`ACTIVATIONS` maps a name to ``(forward, derivative)`` where ``forward(z) -> a`` and
``derivative(z, a) -> da/dz`` (elementwise). The derivative receives both the pre-activation ``z`` and the
output ``a`` so that each uses whichever is cheaper; nothing is ambiguous about which one it gets, with one
exception: a ReLU that ran with the dense layer before it (:mod:`xpnet.nn.forward`) keeps no ``z``, and its backward
pass reads ``a > 0`` for ``z > 0`` (the same mask).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace

from ..backend.step_ops import positive_part
from ..errors import XPNetValueError, describe

Array = Any
Activation = tuple[Callable[[Array], Array], Callable[[Array, Array], Array]]


def relu(z: Array) -> Array:
    return positive_part(z)


def relu_derivative(z: Array, a: Array) -> Array:
    xp = array_namespace(z)
    return xp.astype(z > 0, z.dtype)


def sigmoid(z: Array) -> Array:
    # Stable for any z: exp of a non-positive number never overflows.
    xp = array_namespace(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(z: Array, a: Array) -> Array:
    return a * (1.0 - a)


def tanh(z: Array) -> Array:
    return array_namespace(z).tanh(z)


def tanh_derivative(z: Array, a: Array) -> Array:
    return 1.0 - a * a


LEAKY_SLOPE = 0.01  # leaky_relu's slope for z < 0 (PyTorch's default)
ELU_ALPHA = 1.0
GELU_C = 0.7978845608028654  # sqrt(2 / pi)


def leaky_relu(z: Array) -> Array:
    xp = array_namespace(z)
    return xp.where(z > 0, z, LEAKY_SLOPE * z)


def leaky_relu_derivative(z: Array, a: Array) -> Array:
    xp = array_namespace(z)
    positive = xp.astype(z > 0, z.dtype)
    return positive + LEAKY_SLOPE * (1.0 - positive)


def elu(z: Array) -> Array:
    xp = array_namespace(z)
    return xp.where(z > 0, z, ELU_ALPHA * xp.expm1(-positive_part(-z)))  # expm1 of min(z, 0) <= 0 never overflows


def elu_derivative(z: Array, a: Array) -> Array:
    xp = array_namespace(z)
    return xp.where(z > 0, xp.ones_like(z), a + ELU_ALPHA)  # d/dz α(e^z − 1) = α e^z = a + α


def gelu(z: Array) -> Array:
    """GELU, tanh form: ``½ z (1 + tanh(√(2/π) (z + 0.044715 z³)))``."""
    xp = array_namespace(z)
    return 0.5 * z * (1.0 + xp.tanh(GELU_C * (z + 0.044715 * z * z * z)))


def gelu_derivative(z: Array, a: Array) -> Array:
    xp = array_namespace(z)
    t = xp.tanh(GELU_C * (z + 0.044715 * z * z * z))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * z * z)


def softplus(z: Array) -> Array:
    """``log(1 + e^z)``, stable for any z: ``max(z, 0) + log1p(e^-|z|)``."""
    xp = array_namespace(z)
    return positive_part(z) + xp.log1p(xp.exp(-xp.abs(z)))


def softplus_derivative(z: Array, a: Array) -> Array:
    return sigmoid(z)


def identity(z: Array) -> Array:
    return z


def identity_derivative(z: Array, a: Array) -> Array:
    return array_namespace(z).ones_like(z)


ACTIVATIONS: dict[str, Activation] = {
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "identity": (identity, identity_derivative),
    "leaky_relu": (leaky_relu, leaky_relu_derivative),
    "elu": (elu, elu_derivative),
    "gelu": (gelu, gelu_derivative),
    "softplus": (softplus, softplus_derivative),
}


def get_activation(name: str) -> Activation:
    """Look up ``(forward, derivative)`` by name; unknown names list the valid ones."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise XPNetValueError(f"activation: expected one of {sorted(ACTIVATIONS)}; received {describe(name)}")
    return ACTIVATIONS[name]
