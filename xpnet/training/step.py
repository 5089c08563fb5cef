"""One training step: backprop, (in data-parallel runs) the gradient exchange, and the optimizer's update."""

from __future__ import annotations

from typing import Any

from ..optim import Optimizer

Array = Any


def train_step(
    model: Any, optimizer: Optimizer, x: Array, y: Array, l2: float, exchange: Any = None, share: float = 1.0
) -> tuple[Array, Array]:
    """One optimizer step on batch ``(x, y)``; returns the loss and the output pre-activations ``z``.

    Alone, the step is fused where the optimizer allows (momentum: backprop accumulates into the velocity).
    With ``exchange`` (a :class:`xpnet.distributed.GradientExchange`), ``(x, y)`` is this rank's ``share`` of a
    global batch: backprop writes into the exchange's flat buffer, one allreduce sums the ranks' contributions,
    and the optimizer applies the global batch's gradient, the same on every rank.
    """
    if exchange is None:
        sinks = optimizer.gradient_sinks(model.params)
        loss, grads, z = model._backprop(x, y, l2, into=sinks)
        if sinks is None:
            optimizer.step(model.params, grads)
        else:  # the gradients went straight into the optimizer's buffers
            optimizer.step_from_sinks(model.params, grads)
        return loss, z
    if x.shape[0]:
        loss, grads, z = model._backprop(x, y, l2, into=exchange.sinks())
    else:  # this rank's share of a short last batch is empty: it adds zeros to the sum
        xp, dtype, device = model.xp, model.dtype, model.device
        loss, z = xp.zeros((), dtype=dtype, device=device), xp.zeros((0, model.sizes[-1]), dtype=dtype, device=device)
        grads = exchange.zero_gradients()
    optimizer.step(model.params, exchange.allreduce(grads, share))
    return loss, z
