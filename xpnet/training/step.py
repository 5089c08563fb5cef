"""One training step: backprop, (in data-parallel runs) the gradient exchange, clipping, and the optimizer's update."""

from __future__ import annotations

import inspect
from typing import Any

from array_api_compat import array_namespace

from ..nn.backprop import TRAINING
from ..nn.layers import Context, Dropout
from ..nn.random import step_key
from ..optim import Optimizer

Array = Any


def _takes_penalty(optimizer: Optimizer) -> bool:
    """Whether ``optimizer.step_from_sinks`` takes ``penalty``: an optimizer written before it did (a user's
    subclass overriding it) keeps its L2 term in backprop."""
    cls = type(optimizer)
    if cls not in _TAKES_PENALTY:
        _TAKES_PENALTY[cls] = "penalty" in inspect.signature(cls.step_from_sinks).parameters
    return _TAKES_PENALTY[cls]


_TAKES_PENALTY: dict[type, bool] = {}  # by optimizer class


def clip_by_global_norm(grads: list[Array], max_norm: float) -> list[Array]:
    """Scale every gradient by ``max_norm / ‖g‖`` when the global norm ``‖g‖`` (over all of them) exceeds it.

    Computed on the device, with no host read: the factor is a 0-d array (1 when the norm is within bounds).
    """
    xp = array_namespace(grads[0])
    norm = xp.sqrt(sum(xp.sum(g * g) for g in grads))  # 0-d
    bound = xp.full_like(norm, max_norm)
    factor = bound / xp.maximum(norm, bound)  # 1 within bounds; no division by a zero norm
    clipped = []
    for g in grads:
        g *= factor
        clipped.append(g)
    return clipped


def train_step(
    model: Any,
    optimizer: Optimizer,
    x: Array,
    y: Array,
    l2: float,
    exchange: Any = None,
    share: float = 1.0,
    context: Context = TRAINING,
    clip_norm: float | None = None,
) -> tuple[Array, Array]:
    """One optimizer step on batch ``(x, y)``; returns the loss and the last layer's outputs ``z``.

    Alone and unclipped, the step is fused where the optimizer allows (momentum: backprop accumulates into the
    velocity). With ``exchange`` (a :class:`xpnet.distributed.GradientExchange`), ``(x, y)`` is this rank's
    ``share`` of a global batch: backprop writes into the exchange's flat buffer, one allreduce sums the ranks'
    contributions, and the optimizer applies the global batch's gradient, the same on every rank. ``context``
    carries training mode and what the step's dropout masks hash; ``clip_norm`` clips the global gradient norm.
    """
    if exchange is None:
        sinks = None if clip_norm is not None else optimizer.gradient_sinks(model.params)
        if sinks is not None:  # the gradients go straight into the optimizer's buffers
            deferred = bool(l2) and _takes_penalty(optimizer)  # and the L2 term with the update, in the same pass
            loss, buffers, z = model._backprop(x, y, 0.0 if deferred else l2, into=sinks, context=context)
            if deferred:
                optimizer.step_from_sinks(model.params, buffers, penalty=(l2, model._weights))
            else:
                optimizer.step_from_sinks(model.params, buffers)
            return loss, z
        loss, grads, z = model._backprop(x, y, l2, context=context)
    else:
        if x.shape[0]:
            loss, grads, z = model._backprop(x, y, l2, into=exchange.sinks(), context=context)
        else:  # this rank's share of a short last batch is empty: it adds zeros to the sum
            xp, dtype, device = model.xp, model.dtype, model.device
            loss = xp.zeros((), dtype=dtype, device=device)
            z = xp.zeros((0, model.sizes[-1]), dtype=dtype, device=device)
            grads = exchange.zero_gradients()
        grads = exchange.allreduce(grads, share)
    if clip_norm is not None:
        grads = clip_by_global_norm(grads, clip_norm)
    optimizer.step(model.params, grads)
    return loss, z


def dropout_streams(model: Any) -> list[int]:
    """The random streams of ``model``'s dropout layers, in order (one key each per step)."""
    return [layer.stream for layer in model.layers if isinstance(layer, Dropout)]


def step_keys(seed: int, step: int, streams: list[int]) -> list[int]:
    """Global step ``step``'s dropout key of every stream (the same on every backend, and on resume)."""
    return [step_key(seed, step, s) for s in streams]


def given_step(model: Any, opt: Optimizer, scalars: dict[str, Any], keys: Any, x: Array, y: Array, l2: float,
               clip_norm: float | None, streams: list[int]) -> tuple[Array, Array]:  # fmt: skip
    """:func:`train_step` with the optimizer's per-step numbers and the dropout keys given as values (traced or on
    the device: a compiled or captured step must not bake them in); ``opt.steps`` is left to the caller."""
    saved = opt.steps
    opt.given = scalars
    try:
        context = Context(training=True, keys={s: keys[j] for j, s in enumerate(streams)})
        return train_step(model, opt, x, y, l2, context=context, clip_norm=clip_norm)
    finally:
        opt.given, opt.steps = None, saved
