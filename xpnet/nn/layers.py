"""The layers a network is built from, each with its forward pass beside its backward pass.

``forward(params, buffers, x, ctx) -> (y, cache, new_buffers)`` and
``backward(params, cache, dy, sinks, l2, need_dx) -> (dx, grads)``, where ``params``/``buffers`` are the layer's
own arrays (in the order of ``param_names``/``buffer_names``), ``grads`` one gradient per parameter and ``sinks``
optional ``(buffer, beta)`` pairs the gradients are accumulated into (``buffer = beta·buffer + gradient``, see
:meth:`xpnet.optim.Optimizer.gradient_sinks`). Backward passes may scale ``dy`` in place: it is always a fresh
array that nothing else reads. Written once against the Array API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from ..backend import axpy, matmul_into, relu_backward
from ..backend.arrays import column_major
from ..backend.kernels import affine, axpby, column_sums_into, matmul_as, operand
from ..backend.layout import weight_gradient
from ..backend.step_ops import affine_relu
from ..errors import XPNetValueError
from .activations import get_activation, relu, relu_derivative
from .random import keep_mask, step_key

Array = Any
Sink = tuple[Array, float]


@dataclass(frozen=True)
class Context:
    """How a forward pass runs: ``training`` (dropout on, batch statistics, running statistics updated) or
    evaluation, and what dropout hashes: the run's ``seed``, the global ``step`` and the batch's ``first_row``
    (its first sample's position in the global batch: data-parallel shards draw what the whole batch would)."""

    training: bool = False
    seed: int = 0
    step: int = 0
    first_row: int = 0
    keys: Any = None  # {stream: 32-bit key} given as device scalars (a compiled step's inputs), else drawn here

    def key(self, stream: int) -> Any:
        """The dropout key of ``stream`` at this step (see :mod:`xpnet.nn.random`)."""
        return self.keys[stream] if self.keys is not None else step_key(self.seed, self.step, stream)


EVALUATION = Context()


def _column_sums(dy: Array, sinks: list[Sink] | None, index: int) -> Array:
    """``sum(dy, axis=0)`` (a bias or shift gradient), into ``sinks[index]`` when there are sinks."""
    return array_namespace(dy).sum(dy, axis=0) if sinks is None else column_sums_into(dy, *sinks[index])


def _accumulate(grad: Array, sink: Sink | None) -> Array:
    """``grad``, or ``buffer = beta·buffer + grad`` in place when a sink is given (returns the buffer)."""
    if sink is None:
        return grad
    buffer, beta = sink
    return axpby(grad, buffer, beta)


class Dense:
    """``y = x @ W + b``: ``W`` ``(fan_in, fan_out)``, ``b`` ``(fan_out,)``; the only layer L2 acts on."""

    param_names = ("W", "b")
    buffer_names: tuple[str, ...] = ()

    def __init__(self, fan_in: int, fan_out: int, init: str, output: bool = False) -> None:
        self.fan_in, self.fan_out, self.init = fan_in, fan_out, init
        self.output = output  # the network's last layer: the loss and the user read its output by rows

    def create(self, rng: np.random.Generator, dtype: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        from .init import INITIALISERS

        return [array.astype(dtype) for array in INITIALISERS[self.init](rng, self.fan_in, self.fan_out)], []

    def forward(self, params: list[Array], buffers: list[Array], x: Array, ctx: Context) -> tuple[Array, Any, None]:
        W, b = params
        x, W = operand(x), operand(W)  # as the products read them (bfloat16 copies under "bf16"), kept for backward
        return affine(x, W, b, rows=self.output), (x, W), None  # (n, fan_out)

    def forward_relu(self, params: list[Array], x: Array) -> tuple[Array, Any]:
        """:meth:`forward` followed by a ReLU, in one operation where the backend has one; returns ``(a, cache)``."""
        W, b = params
        x, W = operand(x), operand(W)
        return affine_relu(x, W, b), (x, W)

    def backward(
        self, params: list[Array], cache: Any, dy: Array, sinks: list[Sink] | None, l2: float, need_dx: bool
    ) -> tuple[Array | None, list[Array]]:
        x, W_read = cache  # the input and weights as the forward products read them
        dy_read = operand(dy)  # one bfloat16 copy for both products under "bf16"
        if sinks is None:
            gW = weight_gradient(x, dy_read)  # (fan_in, fan_out), laid out as W (xpnet.backend.layout)
        else:
            gW = matmul_into(x.T, dy_read, sinks[0][0], sinks[0][1])  # beta·buffer + x.T @ dy, fused
        gb = _column_sums(dy, sinks, 1)  # (fan_out,)
        if l2:
            gW = axpy(l2, params[0], gW)  # += l2·W, in place
        dx = matmul_as(dy_read, W_read.T, x) if need_dx else None  # (n, fan_in), fresh, laid out as x
        return dx, [gW, gb]


class Activation:
    """``a = f(z)`` elementwise (see :mod:`xpnet.nn.activations`); backward scales ``dy`` by ``f'(z, a)``."""

    param_names: tuple[str, ...] = ()
    buffer_names: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self.name = name
        self.f, self.derivative = get_activation(name)

    def create(self, rng: np.random.Generator, dtype: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [], []

    def forward(self, params: list[Array], buffers: list[Array], z: Array, ctx: Context) -> tuple[Array, Any, None]:
        a = self.f(z)
        return a, (z, a), None

    @property
    def is_relu(self) -> bool:
        """Whether this is xpnet's own ReLU, forward and backward (what a dense layer may apply itself)."""
        return self.f is relu and self.derivative is relu_derivative

    def cache_of_output(self, a: Array) -> tuple[Array, Array]:
        """The cache of a ReLU whose input was never kept (its dense layer applied it: :mod:`xpnet.nn.forward`): its
        output stands for its input, positive exactly where the input is (NaN neither), all its backward reads."""
        if not self.is_relu:
            raise ValueError(
                f"cache_of_output: only a ReLU's backward pass can do without its input; this is {self.name!r}"
            )
        return a, a

    def backward(
        self, params: list[Array], cache: Any, dy: Array, sinks: Any, l2: float, need_dx: bool
    ) -> tuple[Array | None, list[Array]]:
        z, a = cache
        if self.derivative is relu_derivative:  # ReLU: one fused pass where the backend has one
            return relu_backward(dy, z), []
        dy *= self.derivative(z, a)
        return dy, []


class Dropout:
    """Inverted dropout: in training each unit is zeroed with probability ``rate`` and the rest scaled by
    ``1 / (1 − rate)``, so evaluation needs nothing. The mask is hashed on the device (:mod:`xpnet.nn.random`)
    from the run's seed, the step and ``stream``: the same on every backend, every number of ranks, and on resume."""

    param_names: tuple[str, ...] = ()
    buffer_names: tuple[str, ...] = ()

    def __init__(self, rate: float, stream: int) -> None:
        self.rate, self.stream = rate, stream

    def create(self, rng: np.random.Generator, dtype: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [], []

    def forward(self, params: list[Array], buffers: list[Array], x: Array, ctx: Context) -> tuple[Array, Any, None]:
        if not ctx.training or self.rate == 0.0:
            return x, None, None
        xp = array_namespace(x)
        keep = keep_mask(xp, device_of(x), tuple(x.shape), ctx.key(self.stream), ctx.first_row, 1.0 - self.rate,
                         columns=column_major(x))  # fmt: skip
        scale = xp.astype(keep, x.dtype) * (1.0 / (1.0 - self.rate))  # (n, units), laid out as x
        return x * scale, scale, None

    def backward(
        self, params: list[Array], scale: Any, dy: Array, sinks: Any, l2: float, need_dx: bool
    ) -> tuple[Array | None, list[Array]]:
        if scale is not None:
            dy *= scale
        return dy, []


class _Normalization:
    """What batch and layer normalization share: ``y = γ·x̂ + β`` with ``x̂`` the normalized input."""

    param_names = ("gamma", "beta")
    buffer_names: tuple[str, ...] = ()
    axis = 0

    def __init__(self, units: int, eps: float) -> None:
        self.units, self.eps = units, eps

    def create(self, rng: np.random.Generator, dtype: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [np.ones(self.units, dtype=dtype), np.zeros(self.units, dtype=dtype)], []

    def _normalize(self, x: Array) -> tuple[Array, Array, Array, Array]:
        """``(x̂, 1/√(var + eps), mean, var)`` over :attr:`axis` (biased variance)."""
        xp = array_namespace(x)
        mean = xp.mean(x, axis=self.axis, keepdims=True)
        xc = x - mean
        var = xp.mean(xc * xc, axis=self.axis, keepdims=True)
        inverse = 1.0 / xp.sqrt(var + self.eps)
        xc *= inverse  # x̂, in place
        return xc, inverse, mean, var

    def backward(
        self, params: list[Array], cache: Any, dy: Array, sinks: list[Sink] | None, l2: float, need_dx: bool
    ) -> tuple[Array | None, list[Array]]:
        xp = array_namespace(dy)
        xhat, inverse, statistics = cache
        gamma = params[0]
        ggamma = _accumulate(xp.sum(dy * xhat, axis=0), None if sinks is None else sinks[0])
        gbeta = _column_sums(dy, sinks, 1)
        if not need_dx:
            return None, [ggamma, gbeta]
        dxhat = dy * gamma  # (n, units)
        if statistics:  # the mean and variance came from x itself: their gradients flow back too
            ax = self.axis
            dxhat -= xp.mean(dxhat, axis=ax, keepdims=True) + xhat * xp.mean(dxhat * xhat, axis=ax, keepdims=True)
        dxhat *= inverse
        return dxhat, [ggamma, gbeta]


class BatchNorm(_Normalization):
    """Batch normalization over the batch axis (Ioffe & Szegedy, 2015): training uses the batch's mean and
    variance and updates the running ones (``running ← (1 − momentum)·running + momentum·batch``, the variance
    unbiased, as in PyTorch); evaluation uses the running ones."""

    buffer_names = ("running_mean", "running_var")

    def __init__(self, units: int, momentum: float, eps: float) -> None:
        super().__init__(units, eps)
        self.momentum = momentum

    def create(self, rng: np.random.Generator, dtype: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        params, _ = super().create(rng, dtype)
        return params, [np.zeros(self.units, dtype=dtype), np.ones(self.units, dtype=dtype)]

    def forward(
        self, params: list[Array], buffers: list[Array], x: Array, ctx: Context
    ) -> tuple[Array, Any, list[Array] | None]:
        xp = array_namespace(x)
        gamma, beta = params
        if not ctx.training:
            running_mean, running_var = buffers
            inverse = 1.0 / xp.sqrt(running_var + self.eps)
            xhat = (x - running_mean) * inverse
            return xhat * gamma + beta, (xhat, inverse, False), None
        n, m = x.shape[0], self.momentum
        if n < 2:
            raise XPNetValueError(
                f"x: batch normalization in training needs at least 2 samples per batch; received {n} "
                "(evaluate in evaluation mode, or use a larger batch)"
            )
        xhat, inverse, mean, var = self._normalize(x)
        unbiased = var * (n / (n - 1))
        running = []
        for buffer, batch in zip(buffers, (mean, unbiased)):  # in place: a captured step replays on this memory
            buffer *= 1.0 - m
            buffer += m * xp.reshape(batch, (-1,))
            running.append(buffer)
        return xhat * gamma + beta, (xhat, inverse, True), running


class LayerNorm(_Normalization):
    """Layer normalization over each sample's units (Ba, Kiros & Hinton, 2016): the same in training and evaluation."""

    axis = 1

    def forward(self, params: list[Array], buffers: list[Array], x: Array, ctx: Context) -> tuple[Array, Any, None]:
        gamma, beta = params
        xhat, inverse, _, _ = self._normalize(x)
        return xhat * gamma + beta, (xhat, inverse, True), None


Layer = Dense | Activation | Dropout | BatchNorm | LayerNorm
