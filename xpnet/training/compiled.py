"""The training step compiled as a whole where the backend compiles (JAX's ``jit``): the same :func:`train_step`,
wrapped from the outside as a pure function of arrays.

``(params, buffers, optimizer state, the optimizer's numbers, dropout keys, x, y) -> (params, buffers, state, loss, z)``:
everything that changes from step to step is an input, so one trace serves every step of a batch shape (the short
last batch of an epoch is a second shape, compiled once more). Parameters, buffers and optimizer state are donated:
the compiled step updates them in their own memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..optim import Optimizer
from .step import dropout_streams, given_step, step_keys

Array = Any


class CompiledStep:
    """A callable ``step(x, y, global_step, lr) -> (loss, z)`` for ``model`` and ``optimizer``, or ``None`` from
    :meth:`build` where the backend runs operation by operation."""

    def __init__(self, model: Any, optimizer: Optimizer, l2: float, clip_norm: float | None, seed: int) -> None:
        self.model, self.optimizer, self.l2, self.clip_norm, self.seed = model, optimizer, l2, clip_norm, seed
        self.streams = dropout_streams(model)
        optimizer.ensure_state(model.params)
        self._compiled = model.backend.compile(self._pure, donate=(0, 1, 2))

    @classmethod
    def build(cls, model: Any, optimizer: Optimizer, l2: float, clip_norm: float | None, seed: int) -> Any:
        return cls(model, optimizer, l2, clip_norm, seed) if model.backend.compiles else None

    def _pure(self, params: list[Array], buffers: list[Array], state: dict[str, list[Array]],
              scalars: dict[str, Array], keys: Array, x: Array, y: Array) -> tuple[Any, ...]:  # fmt: skip
        """One step as a function of its inputs only (traced once per shape)."""
        model, opt = self.model, self.optimizer
        saved = (model.params, model.buffers, opt.state)
        model.params, model.buffers = list(params), list(buffers)
        opt.state = {name: list(arrays) for name, arrays in state.items()}
        try:  # traced scalars and keys: the trace must not bake in the learning rate or the step count
            loss, z = given_step(model, opt, scalars, keys, x, y, self.l2, self.clip_norm, self.streams)
            return model.params, model.buffers, opt.state, loss, z
        finally:
            model.params, model.buffers, opt.state = saved

    def __call__(self, x: Array, y: Array, step: int, lr: float) -> tuple[Array, Array]:
        model, opt = self.model, self.optimizer
        # Host values, as a compiled step takes them (a device array made per step costs ~1 ms on JAX): the
        # optimizer's numbers for this step as Python floats, computed on the host in double precision (weakly
        # typed: they take the model's dtype, no retrace), the dropout keys as one small uint32 host vector.
        keys = np.asarray(step_keys(self.seed, step, self.streams) or [0], dtype=np.uint32)
        scalars = opt.scalars(float(lr), opt.steps + 1)
        params, buffers, state, loss, z = self._compiled(model.params, model.buffers, opt.state, scalars, keys, x, y)
        model.params[:], model.buffers[:] = params, buffers
        opt.state = {name: list(arrays) for name, arrays in state.items()}
        opt.steps += 1
        opt.lr = lr
        return loss, z


def describe_step(loop: Any, compile: bool, session: Any, history: Any) -> None:
    """Give ``loop`` the whole step as one program where the backend has one and ``compile`` asks for it (JAX's
    jit, else a CUDA graph: :mod:`xpnet.training.captured`), and record which in ``history.meta["step"]``
    (``"jit"``, ``"cuda-graph"`` or ``"eager"``) with the reason a GPU step is not captured in ``"step_note"``."""
    from .captured import CapturedSteps

    model, note = loop.model, ""
    if compile and session is None:
        loop.compiled = CompiledStep.build(model, loop.optimizer, loop.l2, loop.clip_norm, loop.dropout_seed)
    if compile and loop.compiled is None:
        loop.captured, note = CapturedSteps.build(model, loop.optimizer, loop.batches, loop.l2, loop.clip_norm,
                                                  loop.dropout_seed, session is not None)  # fmt: skip
    elif not compile:
        note = "compile=False"
    history.meta["step"] = "jit" if loop.compiled else "cuda-graph" if loop.captured else "eager"
    history.meta["step_note"] = note or None
