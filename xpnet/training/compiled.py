"""The training step compiled as a whole where the backend compiles (JAX's ``jit``): the same :func:`train_step`,
wrapped from the outside as a pure function of arrays.

``(params, buffers, optimizer state, step count, lr, dropout keys, x, y) -> (params, buffers, state, loss, z)``:
everything that changes from step to step is an input, so one trace serves every step of a batch shape (the short
last batch of an epoch is a second shape, compiled once more). Parameters, buffers and optimizer state are donated:
the compiled step updates them in their own memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.layers import Context, Dropout
from ..nn.random import step_key
from ..optim import Optimizer
from .step import train_step

Array = Any


class CompiledStep:
    """A callable ``step(x, y, global_step, lr) -> (loss, z)`` for ``model`` and ``optimizer``, or ``None`` from
    :meth:`build` where the backend runs operation by operation."""

    def __init__(self, model: Any, optimizer: Optimizer, l2: float, clip_norm: float | None, seed: int) -> None:
        self.model, self.optimizer, self.l2, self.clip_norm, self.seed = model, optimizer, l2, clip_norm, seed
        self.streams = [layer.stream for layer in model.layers if isinstance(layer, Dropout)]
        optimizer.ensure_state(model.params)
        self._compiled = model.backend.compile(self._pure, donate=(0, 1, 2))

    @classmethod
    def build(cls, model: Any, optimizer: Optimizer, l2: float, clip_norm: float | None, seed: int) -> Any:
        return cls(model, optimizer, l2, clip_norm, seed) if model.backend.compile(lambda: None) is not None else None

    def _pure(self, params: list[Array], buffers: list[Array], state: dict[str, list[Array]], steps: Array,
              lr: Array, keys: Array, x: Array, y: Array) -> tuple[Any, ...]:  # fmt: skip
        """One step as a function of its inputs only (traced once per shape)."""
        model, opt = self.model, self.optimizer
        saved = (model.params, model.buffers, opt.state, opt.steps, opt._lr)
        model.params, model.buffers = list(params), list(buffers)
        opt.state = {name: list(arrays) for name, arrays in state.items()}
        opt.steps, opt._lr = steps, lr  # traced values: the trace must not bake them in
        try:
            context = Context(training=True, keys={s: keys[i] for i, s in enumerate(self.streams)})
            loss, z = train_step(model, opt, x, y, self.l2, context=context, clip_norm=self.clip_norm)
            return model.params, model.buffers, opt.state, loss, z
        finally:
            model.params, model.buffers, opt.state, opt.steps, opt._lr = saved

    def __call__(self, x: Array, y: Array, step: int, lr: float) -> tuple[Array, Array]:
        model, opt = self.model, self.optimizer
        # Host values, as a compiled step takes them (a device array made per step costs ~1 ms on JAX): the step
        # count and the learning rate as Python floats (weakly typed: they take the model's dtype, no retrace),
        # the dropout keys as one small uint32 host vector.
        keys = np.asarray([step_key(self.seed, step, s) for s in self.streams] or [0], dtype=np.uint32)
        params, buffers, state, loss, z = self._compiled(model.params, model.buffers, opt.state, float(opt.steps),
                                                          float(lr), keys, x, y)  # fmt: skip
        model.params[:], model.buffers[:] = params, buffers
        opt.state = {name: list(arrays) for name, arrays in state.items()}
        opt.steps += 1
        opt.lr = lr
        return loss, z
