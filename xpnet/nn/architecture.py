"""What a network is made of: the options of :class:`xpnet.MLP` checked and turned into its list of layers.

Every hidden layer is ``Dense -> [BatchNorm | LayerNorm] -> Activation -> [Dropout]``; the output layer is a
``Dense`` fused with the loss. Parameters and buffers are named by layer: ``W1, b1, gamma1, beta1,
running_mean1, running_var1, W2, ...`` (the names models and checkpoints are saved under).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import XPNetTypeError, XPNetValueError, describe
from ..validation import check_float
from .activations import get_activation
from .init import scheme
from .layers import Activation, BatchNorm, Dense, Dropout, Layer, LayerNorm

NORMS = (None, "batch", "layer")


@dataclass(frozen=True)
class Architecture:
    """The options that, with the layer widths, define a network (saved with it)."""

    activation: str = "relu"
    dropout: tuple[float, ...] = ()  # one rate per hidden layer
    norm: str | None = None
    norm_momentum: float = 0.1
    norm_eps: float = 1e-5

    def to_dict(self) -> dict[str, Any]:
        return {"activation": self.activation, "dropout": list(self.dropout), "norm": self.norm,
                "norm_momentum": self.norm_momentum, "norm_eps": self.norm_eps}  # fmt: skip


def check_architecture(
    hidden_layers: int, activation: str, dropout: Any, norm: Any, norm_momentum: Any, norm_eps: Any
) -> Architecture:
    """Check the options of a network with ``hidden_layers`` hidden layers; each error names the argument."""
    get_activation(activation)
    if _is_real(dropout):
        if not 0.0 <= float(dropout) < 1.0:
            raise XPNetValueError(f"dropout: every rate must lie in [0, 1); received {describe(dropout)}")
        rates = (float(dropout),) * hidden_layers
    elif isinstance(dropout, Sequence) and not isinstance(dropout, (str, bytes)):
        rates = tuple(float(r) for r in dropout) if all(_is_real(r) for r in dropout) else ()
        if len(rates) != hidden_layers:
            raise XPNetValueError(
                f"dropout: expected one rate or one per hidden layer ({hidden_layers}); received {describe(dropout)}"
            )
    else:
        raise XPNetTypeError(
            f"dropout: expected a rate in [0, 1) or one per hidden layer; received {describe(dropout)}"
        )
    if any(not 0.0 <= r < 1.0 for r in rates):
        raise XPNetValueError(f"dropout: every rate must lie in [0, 1); received {list(rates)}")
    if norm not in NORMS:
        raise XPNetValueError(f"norm: expected None, 'batch' or 'layer'; received {describe(norm)}")
    momentum = check_float("norm_momentum", norm_momentum, high=1.0, high_inclusive=True)
    return Architecture(activation, rates, norm, momentum, check_float("norm_eps", norm_eps, low_inclusive=False))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def build_layers(
    sizes: Sequence[int], arch: Architecture, init: str = "default"
) -> tuple[list[Layer], list[list[str]], list[list[str]]]:
    """The layers of ``sizes`` with ``arch`` (``init``: their initial weights' scheme, see :func:`.init.scheme`),
    and each layer's parameter and buffer names."""
    layers: list[Layer] = []
    params: list[list[str]] = []
    buffers: list[list[str]] = []
    hidden = len(sizes) - 2
    for index in range(len(sizes) - 1):
        number = index + 1
        fan_in, fan_out = sizes[index], sizes[index + 1]
        layers.append(Dense(fan_in, fan_out, scheme(init, arch.activation, index < hidden), output=index == hidden))
        params.append([f"W{number}", f"b{number}"])
        buffers.append([])
        if index == hidden:
            break
        if arch.norm is not None:
            norm: Layer = (
                BatchNorm(fan_out, arch.norm_momentum, arch.norm_eps)
                if arch.norm == "batch"
                else LayerNorm(fan_out, arch.norm_eps)
            )
            layers.append(norm)
            params.append([f"{name}{number}" for name in norm.param_names])
            buffers.append([f"{name}{number}" for name in norm.buffer_names])
        layers.append(Activation(arch.activation))
        params.append([])
        buffers.append([])
        if arch.dropout and arch.dropout[index] > 0.0:
            layers.append(Dropout(arch.dropout[index], stream=number))
            params.append([])
            buffers.append([])
    return layers, params, buffers
