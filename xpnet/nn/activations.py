"""Activation functions, each beside its derivative.

Every entry of :data:`ACTIVATIONS` maps a name to ``(forward, derivative)`` where ``forward(z) -> a`` and
``derivative(z, a) -> da/dz`` (elementwise). The derivative receives both the pre-activation ``z`` and the
output ``a`` so that each uses whichever is cheaper; nothing is ambiguous about which one it gets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace

from ..errors import XPNetValueError, describe

Array = Any
Activation = tuple[Callable[[Array], Array], Callable[[Array, Array], Array]]


def relu(z: Array) -> Array:
    return array_namespace(z).maximum(z, 0.0)


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


def identity(z: Array) -> Array:
    return z


def identity_derivative(z: Array, a: Array) -> Array:
    return array_namespace(z).ones_like(z)


ACTIVATIONS: dict[str, Activation] = {
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "identity": (identity, identity_derivative),
}


def get_activation(name: str) -> Activation:
    """Look up ``(forward, derivative)`` by name; unknown names list the valid ones."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise XPNetValueError(f"activation: expected one of {sorted(ACTIVATIONS)}; received {describe(name)}")
    return ACTIVATIONS[name]
