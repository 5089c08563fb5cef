"""The forward pass through a network's layers, in order, a dense layer and the ReLU after it run as one operation
(:func:`xpnet.backend.step_ops.affine_relu`: one fused product on PyTorch, one kernel fewer on CuPy; the same
numbers as the two layers run apart, to rounding on PyTorch CUDA, whose fused product may pick another algorithm).

The ReLU's cache is then its output twice (:meth:`xpnet.nn.layers.Activation.cache_of_output`), where it would be
``(z, a)``: its backward pass reads ``z > 0``, and ``max(z, 0) > 0`` exactly where ``z > 0`` (NaN included: neither
is positive). No layer changes its input in place, so the output read back in the backward pass is what the forward
pass made.
"""

from __future__ import annotations

from typing import Any

from ..backend.layout import row_major
from .layers import Activation, Context, Dense

Array = Any


def relu_follows(layers: list[Any], k: int) -> bool:
    """Whether layer ``k`` is a dense layer whose output goes straight into a ReLU."""
    if not isinstance(layers[k], Dense) or k + 1 >= len(layers):
        return False
    after = layers[k + 1]
    return isinstance(after, Activation) and after.is_relu


def forward(model: Any, x: Array, ctx: Context, keep: bool) -> tuple[Array, list[Any]]:
    """``model``'s layers applied to ``x`` (already standardized) in ``ctx``; returns the last output and, with
    ``keep``, every layer's cache for backprop. A training pass stores the layers' updated buffers in the model."""
    caches: list[Any] = []
    relu_done = False
    for k, (layer, params, buffers) in enumerate(zip(model.layers, model._param_slots, model._buffer_slots)):
        if relu_done:  # this ReLU ran with the dense layer before it
            relu_done, cache = False, layer.cache_of_output(x)
        elif relu_follows(model.layers, k):
            x, cache = layer.forward_relu([model.params[i] for i in params], x)
            relu_done = True
        else:
            x, cache, updated = layer.forward(
                [model.params[i] for i in params], [model.buffers[i] for i in buffers], x, ctx
            )
            if updated is not None:
                for i, value in zip(buffers, updated):
                    model.buffers[i] = value
        if keep:
            caches.append(cache)
    return row_major(x), caches  # the loss reads it by rows, as the network's user does (xpnet.backend.layout)
