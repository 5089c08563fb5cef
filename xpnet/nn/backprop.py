"""Backprop for :class:`xpnet.MLP`: the loss and every parameter's gradient, layer by layer in reverse, written
once for every backend; with sinks, the gradients accumulate straight into the optimizer's buffers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..validation import check_float, check_targets
from .layers import EVALUATION, Context, Dense
from .programs import program

Array = Any
F = TypeVar("F", bound=Callable[..., Any])
TRAINING = Context(training=True)  # loss_and_grads' default: dropout at step 0 of seed 0, batch statistics


def on_device(method: F) -> F:
    """Run a method with the model's device current (see :meth:`xpnet.backend.Backend.activate`)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.backend.activate():
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


class BackpropMixin:
    """The backward half of :class:`xpnet.MLP` (its layers, parameters and loss come from the class itself)."""

    backend: Any
    layers: list[Any]
    params: list[Array]
    _loss: Any
    _dtype: Any
    _weights: list[int]
    _param_slots: list[list[int]]

    if TYPE_CHECKING:  # provided by the network itself

        @property
        def sizes(self) -> tuple[int, ...]: ...

        @property
        def xp(self) -> Any: ...

        def _inputs(self, x: Array) -> Array: ...

        def _forward(self, x: Array, ctx: Context, keep: bool = False) -> tuple[Array, list[Any]]: ...

    @on_device
    def loss_and_grads(
        self, x: Array, y: Array, *, l2: float = 0.0, context: Context = TRAINING
    ) -> tuple[Array, list[Array]]:
        """Loss on ``(x, y)`` and its gradient with respect to every parameter, by backprop.

        Parameters
        ----------
        x : array, shape (n, sizes[0])
        y : array, shape (n,) integer labels (cross_entropy) or (n, sizes[-1]) targets (the other losses)
        l2 : float
            Adds ``½·l2·Σ‖W‖²`` over the weights (not biases or norm parameters) to the loss and ``l2·W`` to their
            gradients; it does not scale with the batch size.
        context : Context
            Training mode by default (dropout drawn for step 0 of seed 0, batch statistics, which batch norm's
            running statistics are updated from); ``xpnet.nn.layers.EVALUATION`` for the evaluation-mode network.

        Returns
        -------
        loss : 0-d array on the model's device
        grads : list of arrays in the order of ``params``
        """
        l2 = check_float("l2", l2)
        x = self._inputs(x)
        y = check_targets(y, self.backend, x.shape[0], self.sizes[-1], self._loss.integer_targets, self._dtype)
        loss, grads, _ = self._backprop(x, y, l2, context=context)
        if l2:
            loss = loss + (0.5 * l2) * sum(self.xp.sum(self.params[i] * self.params[i]) for i in self._weights)
        return loss, grads

    def _loss_and_output(self, x: Array, y: Array) -> tuple[Array, Array]:
        """Evaluation-mode forward pass only: the data loss and the last layer's output ``z`` (for evaluation; for
        a regression model with standardized targets, ``y`` and the returned outputs are in the targets' units and
        the loss in the trained, standardized ones); one compiled program per batch shape where the backend
        compiles."""
        return program(self, "loss_and_output", _loss_and_output)(x, y)

    def _backprop(
        self, x: Array, y: Array, l2: float, into: list[tuple[Array, float]] | None = None, context: Context = TRAINING
    ) -> tuple[Array, list[Array], Array]:
        """Unchecked backprop on arrays already on the device (the training loop's hot path).

        Returns the data loss (without the L2 term), the gradients (with the L2 term) and the last layer's output
        ``z`` ``(n, k)``, from which callers count correct predictions. With ``into`` (one ``(buffer, beta)`` per
        parameter, see :meth:`xpnet.optim.Optimizer.gradient_sinks`) each gradient is accumulated as
        ``buffer = beta·buffer + gradient`` instead, fused into the matrix product where it can be, and the
        buffers are returned in place of the gradients.
        """
        z, caches = self._forward(x, context, keep=True)
        loss, delta = self._loss.value_and_delta(z, y)  # delta = dloss/dz, (n, k)
        grads: list[Array] = [None] * len(self.params)
        for k in range(len(self.layers) - 1, -1, -1):
            layer, slots = self.layers[k], self._param_slots[k]
            sinks = None if into is None or not slots else [into[i] for i in slots]
            penalty = l2 if isinstance(layer, Dense) else 0.0
            delta, layer_grads = layer.backward(
                [self.params[i] for i in slots], caches[k], delta, sinks, penalty, k > 0
            )
            for i, g in zip(slots, layer_grads):
                grads[i] = g
        return loss, grads, z


def _loss_and_output(model: Any, x: Array, y: Array) -> tuple[Array, Array]:
    z, _ = model._forward(x, EVALUATION)
    # regression targets come in their own units: the loss is the trained one's, the outputs in the targets' units
    loss, _ = model._loss.value_and_delta(z, model._to_trained_units(y))  # the gradient is unused: compilers drop it
    return loss, model._to_target_units(z)
