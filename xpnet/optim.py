"""Optimizers: plain SGD, heavy-ball momentum, Nesterov momentum, Adam, AdamW and RMSprop, written once.

Each optimizer updates a parameter list in place: ``opt.step(params, grads)``. Updates use in-place
operators (``p -= u``), :func:`xpnet.backend.axpy` (``y += a·x``) and :func:`xpnet.backend.kernels.descend`
(``y -= a·x``), which modify the array itself on backends that allow writes (NumPy, CuPy, PyTorch,
array-api-strict) and fall back to rebinding the list entry on backends that do not, so the result is correct
everywhere. State (velocities, moments) lives on the parameters' device.
The gradients passed to ``step`` are never modified.
Hyperparameters are Python floats, so float32 parameters are never promoted to float64.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

from .backend import axpy, device_scope
from .backend.kernels import axpby, descend, penalised_descend
from .backend.transfer import zeros_like_each
from .errors import XPNetValueError, describe
from .nn.losses import get_loss
from .validation import check_float

Array = Any
Penalty = tuple[float, Sequence[int]]  # (l2, the indices of the weights it acts on)


class Optimizer:
    """Base class: holds the learning rate and per-parameter state, created lazily on the first step."""

    buffer_names: tuple[str, ...] = ()  # the state it keeps, one array per parameter for each name
    # May a compiled or captured step run it (xpnet.training.whole_step)? A subclass says so in its own class body.
    whole_step: bool = True

    def __init__(self, lr: float) -> None:
        self.lr = check_float("lr", lr, low_inclusive=False)  # a schedule may later set 0, the base rate may not
        self.state: dict[str, list[Array]] = {}
        self.steps = 0
        self.given: dict[str, Any] | None = None  # a compiled or captured step's scalars (device values), else None

    def scalars(self, lr: float, steps: int) -> dict[str, float]:
        """The numbers update number ``steps`` (1-based) at learning rate ``lr`` uses, computed on the host in double
        precision. A compiled or captured step gets them as device values (:attr:`given`) from a table the host
        fills, so that its updates round exactly as the step run operation by operation does."""
        return {"lr": lr}

    def _now(self) -> dict[str, Any]:
        return self.given if self.given is not None else self.scalars(self.lr, self.steps)

    @property
    def lr(self) -> float:
        """Learning rate (a Python float; schedules assign to it between steps)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_float("lr", value)  # 0 is allowed: warm-up schedules start there

    def _buffers(self, name: str, params: list[Array]) -> list[Array]:
        if name not in self.state:
            self.state[name] = zeros_like_each(params)
        return self.state[name]

    def ensure_state(self, params: list[Array]) -> None:
        """Create the state buffers now rather than on the first step (a compiled step needs them as inputs)."""
        for name in self.buffer_names:
            self._buffers(name, params)

    def restore(self, steps: int, buffers: dict[str, list[Array]]) -> None:
        """Continue from a checkpoint: the step count and the state buffers (already on the device)."""
        self.steps = int(steps)
        self.state = {name: list(arrays) for name, arrays in buffers.items()}

    def step(self, params: list[Array], grads: list[Array]) -> None:
        """Apply one update to ``params`` (modified in place) from ``grads`` (same order and shapes), on their
        device (made current for the update: ``cuda:N``'s state and temporaries are made there)."""
        self.steps += 1
        now = self._now()
        with device_scope(params[0]):
            for i, g in enumerate(grads):
                self._update(params, i, g, now)

    def _update(self, params: list[Array], i: int, g: Array, now: dict[str, Any]) -> None:
        raise NotImplementedError

    def gradient_sinks(self, params: list[Array]) -> list[tuple[Array, float]] | None:
        """Buffers this optimizer would compute as ``beta·buffer + gradient`` anyway, one per parameter.

        When not None, the training loop lets backprop accumulate the gradients straight into them (one fused
        pass, see :func:`xpnet.backend.matmul_into`) and then calls :meth:`step_from_sinks` instead of
        :meth:`step`. The result is the same update up to floating-point rounding.
        """
        return None

    def step_from_sinks(self, params: list[Array], buffers: list[Array], penalty: Penalty | None = None) -> None:
        """Finish a step whose gradients were accumulated into :meth:`gradient_sinks`; ``buffers`` are the
        accumulated buffers backprop returned (the same arrays where the backend updates in place). ``penalty``
        ``(l2, weight indices)``, given only where this method takes it (a subclass may predate it): the L2 term
        backprop left out, to add to those buffers here, with the update."""
        raise NotImplementedError


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p ← p − lr·g``."""

    def _update(self, params: list[Array], i: int, g: Array, now: dict[str, Any]) -> None:
        params[i] = descend(now["lr"], g, params[i])


class Momentum(Optimizer):
    """Heavy-ball momentum as in PyTorch's SGD: ``v ← μ·v + g``, ``p ← p − lr·v``."""

    buffer_names = ("velocity",)

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = check_float("momentum", momentum, high=1.0, high_inclusive=True)  # as scikit-learn's

    def _velocity(self, params: list[Array], i: int, g: Array) -> Array:
        velocity = self._buffers("velocity", params)
        velocity[i] = axpby(g, velocity[i], self.momentum)  # μ·v + g: one pass where the backend fuses it
        return velocity[i]

    def _update(self, params: list[Array], i: int, g: Array, now: dict[str, Any]) -> None:
        params[i] = descend(now["lr"], self._velocity(params, i, g), params[i])

    def gradient_sinks(self, params: list[Array]) -> list[tuple[Array, float]] | None:
        """The velocities, which backprop accumulates the gradients into: ``v ← μ·v + g``."""
        return [(v, self.momentum) for v in self._buffers("velocity", params)]  # v ← μ·v + g

    def step_from_sinks(self, params: list[Array], buffers: list[Array], penalty: Penalty | None = None) -> None:
        """``p ← p − lr·v`` with the velocities backprop filled (see :meth:`Optimizer.step_from_sinks`); with
        ``penalty``, ``v ← v + l2·p`` first for those weights, in the same pass."""
        self.steps += 1
        lr = self._now()["lr"]
        l2, weights = penalty if penalty is not None else (0.0, ())
        velocity = self.state["velocity"] = list(buffers)
        with device_scope(params[0]):
            for i, v in enumerate(velocity):
                if l2 and i in weights:
                    velocity[i], params[i] = penalised_descend(lr, v, params[i], l2)
                else:
                    params[i] = descend(lr, v, params[i])


class Nesterov(Momentum):
    """Nesterov momentum (PyTorch's formulation): ``v ← μ·v + g``, ``p ← p − lr·(g + μ·v)``."""

    def gradient_sinks(self, params: list[Array]) -> list[tuple[Array, float]] | None:
        """None: Nesterov's update needs the raw gradient besides the velocity."""
        return None

    def scalars(self, lr: float, steps: int) -> dict[str, float]:
        """The learning rate, and its product with the momentum."""
        return {"lr": lr, "lr_momentum": lr * self.momentum}

    def _update(self, params: list[Array], i: int, g: Array, now: dict[str, Any]) -> None:
        v = self._velocity(params, i, g)
        params[i] = descend(now["lr_momentum"], v, descend(now["lr"], g, params[i]))


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction.

    ``m ← β1·m + (1−β1)·g``, ``v ← β2·v + (1−β2)·g²``,
    ``p ← p − lr·m̂ / (sqrt(v̂) + eps)`` with ``m̂ = m/(1−β1ᵗ)``, ``v̂ = v/(1−β2ᵗ)``.
    """

    buffer_names = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta1 = check_float("beta1", beta1, high=1.0)
        self.beta2 = check_float("beta2", beta2, high=1.0)
        self.eps = check_float("eps", eps, low_inclusive=False)

    def scalars(self, lr: float, steps: int) -> dict[str, float]:
        """The learning rate, the bias-corrected step size and the inverse of the second moment's correction."""
        return {"lr": lr, "step_size": lr / (1.0 - self.beta1**steps),
                "inverse_root_correction": 1.0 / (1.0 - self.beta2**steps) ** 0.5}  # fmt: skip

    def _update(self, params: list[Array], i: int, g: Array, now: dict[str, Any]) -> None:
        xp = array_namespace(g)
        first, second = self._buffers("m", params), self._buffers("v", params)
        m, v = first[i], second[i]
        m *= self.beta1
        m = axpy(1.0 - self.beta1, g, m)
        v *= self.beta2
        v = axpy(1.0 - self.beta2, g * g, v)
        first[i], second[i] = m, v
        denominator = xp.sqrt(v)  # sqrt(v̂) + eps, built in place: two temporaries per step, not five
        denominator *= now["inverse_root_correction"]
        denominator += self.eps
        params[i] = descend(now["step_size"], m / denominator, params[i])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``p ← p − lr·weight_decay·p`` before the
    Adam step, on the weight matrices only (parameters with two or more dimensions; not biases or norm scales).
    The decay does not pass through Adam's moments, so it is not rescaled per parameter as an L2 term would be."""

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(lr, beta1, beta2, eps)
        self.weight_decay = check_float("weight_decay", weight_decay)

    def scalars(self, lr: float, steps: int) -> dict[str, float]:
        """Adam's numbers, and the factor ``1 − lr·weight_decay`` of the decoupled decay."""
        return super().scalars(lr, steps) | {"decay": 1.0 - lr * self.weight_decay}

    def _update(self, params: list[Array], i: int, g: Array, now: dict[str, Any]) -> None:
        if self.weight_decay and params[i].ndim >= 2:
            p = params[i]
            p *= now["decay"]
            params[i] = p
        super()._update(params, i, g, now)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012), PyTorch's form: ``v ← α·v + (1−α)·g²``, ``p ← p − lr·g / (√v + eps)``."""

    buffer_names = ("square_avg",)

    def __init__(self, lr: float = 1e-3, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.alpha = check_float("alpha", alpha, high=1.0)
        self.eps = check_float("eps", eps, low_inclusive=False)

    def _update(self, params: list[Array], i: int, g: Array, now: dict[str, Any]) -> None:
        xp = array_namespace(g)
        squares = self._buffers("square_avg", params)
        v = squares[i]
        v *= self.alpha
        v = axpy(1.0 - self.alpha, g * g, v)
        squares[i] = v
        denominator = xp.sqrt(v)
        denominator += self.eps
        params[i] = descend(now["lr"], g / denominator, params[i])


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
}


# The peak learning rate each optimizer gets when none is given: the rate the reference MLPs train well at with
# gradient steps, and the usual 1e-3 of the optimizers that divide the gradient by its running scale (at 0.05 Adam
# and RMSprop jump out of the minimum: MNIST 80% and a diverging loss after an epoch, against 87% at 1e-3).
DEFAULT_LR: dict[str, float] = {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adam": 1e-3, "adamw": 1e-3,
                                "rmsprop": 1e-3}  # fmt: skip


# Regression (mean squared error): its gradient grows with the error and the curvature with the hidden width, so
# gradient steps diverge at rates classification takes. With standardized inputs and targets (the default), 0.01
# was the edge for 512-wide nets (friedman1-3, diabetes, make_regression: 0.02 diverged on all, 1024-wide at 0.01);
# half of it keeps a margin and loses nothing in R².
DEFAULT_LR_REGRESSION: dict[str, float] = {"sgd": 0.005, "momentum": 0.005, "nesterov": 0.005, "adam": 1e-3,
                                           "adamw": 1e-3, "rmsprop": 1e-3}  # fmt: skip


def make_optimizer(name: str, lr: float | None = None, loss: str | None = None, **options: float | None) -> Optimizer:
    """Build an optimizer by name (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``)
    with peak learning rate ``lr`` (None: :data:`DEFAULT_LR` of that optimizer, or :data:`DEFAULT_LR_REGRESSION`
    for a regression ``loss`` such as ``"mse"``).

    Options given as None are ignored, and so is ``momentum`` for optimizers without one (it has a default in
    :func:`xpnet.train`); ``weight_decay`` for any optimizer but AdamW is an error (``l2`` is the coupled penalty).
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise XPNetValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}; received {describe(name)}")
    regression = loss is not None and not get_loss(loss).classifies
    lr = (DEFAULT_LR_REGRESSION if regression else DEFAULT_LR)[name] if lr is None else lr
    cls = OPTIMIZERS[name]
    accepted = inspect.signature(cls).parameters
    if options.get("weight_decay") is not None and "weight_decay" not in accepted:
        raise XPNetValueError(
            f"weight_decay: only optimizer='adamw' takes a decoupled weight decay; received "
            f"weight_decay={options['weight_decay']!r} with optimizer={name!r}. Use optimizer='adamw', or l2 for an "
            "L2 penalty"
        )
    return cls(lr, **{key: value for key, value in options.items() if key in accepted and value is not None})
