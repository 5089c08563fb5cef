"""The training step compiled as a whole where the backend compiles (JAX's ``jit``): the same :func:`train_step`,
wrapped from the outside as a pure function of arrays.

``(params, buffers, optimizer state, the optimizer's numbers, dropout keys, x, y) -> (params, buffers, state, loss, z)``:
everything that changes from step to step is an input, so one trace serves every step of a batch shape (the short
last batch of an epoch is a second shape, compiled once more). Parameters, buffers and optimizer state are donated:
the compiled step updates them in their own memory. With the data on the device whole, the program also gathers its
batch and adds its loss and hits to the running metrics, reading its rows, the optimizer's numbers and the dropout
keys from tables written once per epoch (:mod:`xpnet.training.epoch_inputs`) at a device counter it advances: one
dispatch a step, nothing moved from the host (:meth:`CompiledStep.step_at`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend.graphs import has_graphs
from ..optim import Optimizer
from .epoch_inputs import EpochInputs
from .metrics import accumulate
from .step import dropout_streams, given_step, step_keys
from .whole_step import BakedIn, refusal

Array = Any


class CompiledStep:
    """A callable ``step(x, y, global_step, lr) -> (loss, z)`` for ``model`` and ``optimizer``, or ``None`` from
    :meth:`build` where the backend runs operation by operation."""

    def __init__(self, model: Any, optimizer: Optimizer, l2: float, clip_norm: float | None, seed: int,
                 batches: Any = None) -> None:  # fmt: skip
        self.model, self.optimizer, self.l2, self.clip_norm, self.seed = model, optimizer, l2, clip_norm, seed
        self.streams = dropout_streams(model)
        optimizer.ensure_state(model.params)
        self._compiled = model.backend.compile(self._pure, donate=(0, 1, 2))
        self._baked = BakedIn(optimizer)  # the optimizer's numbers the programs bake in
        self._batches = batches
        # with the data on the device: the epoch's per-step inputs there (dropout keys in uint32, as given to a call)
        tabled = batches is not None and batches.device_data is not None
        self.inputs = EpochInputs(model, optimizer, batches, seed, key_dtype=np.uint32) if tabled else None
        self._programs: dict[int, Callable[..., tuple[Any, ...]]] = {}  # batch size -> its whole step

    @classmethod
    def build(cls, model: Any, optimizer: Optimizer, l2: float, clip_norm: float | None, seed: int,
              batches: Any = None) -> Any:  # fmt: skip
        return cls(model, optimizer, l2, clip_norm, seed, batches) if model.backend.compiles else None

    def refresh(self) -> None:
        """Before an epoch: the optimizer's state made if a callback emptied it, and the programs traced again if
        a number they baked in changed (a callback that set ``momentum``, say)."""
        if self._baked.changed(self.model.params):
            self._compiled = self.model.backend.compile(self._pure, donate=(0, 1, 2))  # a new function: a new trace
            self._programs.clear()

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

    def _pure_whole(self, size: int, params: list[Array], buffers: list[Array], state: dict[str, list[Array]],
                    index: Array, table: Array, keys: Array, data_x: Array, data_y: Array, counter: Array,
                    sums: Array, first_bad: Array) -> tuple[Any, ...]:  # fmt: skip
        """:meth:`_pure` on the batch of ``size`` rows at ``counter``, its inputs read from the epoch's tables, its
        batch gathered from the device data and the running metrics added: a step's whole work as one program."""
        assert self.inputs is not None and self._batches is not None
        rows, given, step_keys_, number = self.inputs.read_step(index, table, keys, counter, size)
        x, y = self._batches.gather(data_x, data_y, rows)
        params, buffers, state, loss, z = self._pure(params, buffers, state, given, step_keys_, x, y)
        sums, first_bad, _ = accumulate(self.model.sizes[-1], self.model._loss.classifies, sums, first_bad, None, loss,
                                        z, y, number)  # fmt: skip
        return params, buffers, state, sums, first_bad, counter + 1

    def program(self, size: int) -> Callable[..., tuple[Any, ...]]:
        """The compiled whole step for batches of ``size`` rows (the size fixed: the gathered row is cut to it)."""
        if size not in self._programs:
            whole = functools.partial(self._pure_whole, size)
            self._programs[size] = self.model.backend.compile(whole, donate=(0, 1, 2, 8, 9, 10))
        return self._programs[size]

    def _inputs(self, step: int, lr: float) -> tuple[dict[str, Any], np.ndarray]:
        """Host values, as a compiled step takes them (a device array made per step costs ~1 ms on JAX): the
        optimizer's numbers for this step as Python floats, computed on the host in double precision (weakly typed:
        they take the model's dtype, no retrace), the dropout keys as one small uint32 host vector."""
        keys = np.asarray(step_keys(self.seed, step, self.streams) or [0], dtype=np.uint32)
        return self.optimizer.scalars(float(lr), self.optimizer.steps + 1), keys

    def _took(self, params: list[Array], buffers: list[Array], state: dict[str, list[Array]], lr: float) -> None:
        model, opt = self.model, self.optimizer
        model.params[:], model.buffers[:] = params, buffers
        opt.state = {name: list(arrays) for name, arrays in state.items()}
        opt.steps += 1
        opt.lr = lr

    def __call__(self, x: Array, y: Array, step: int, lr: float) -> tuple[Array, Array]:
        model, opt = self.model, self.optimizer
        scalars, keys = self._inputs(step, lr)
        params, buffers, state, loss, z = self._compiled(model.params, model.buffers, opt.state, scalars, keys, x, y)
        self._took(params, buffers, state, lr)
        return loss, z

    def start_epoch(self, order: np.ndarray, first: int, epoch_step0: int, lr_at: Callable[[int], float]) -> None:
        """Write the epoch's tables to the device, the counter at batch ``first`` (data on the device only)."""
        assert self.inputs is not None
        self.inputs.start_epoch(order, first, epoch_step0, lr_at)

    def step_at(self, i: int, metrics: Any) -> None:
        """Batch ``i`` of the epoch (the counter's), its loss and hits added to ``metrics``: one program, every input
        already on the device."""
        model, opt, inputs = self.model, self.optimizer, self.inputs
        assert inputs is not None and self._batches is not None
        size = inputs.sizes[i]
        sums, first_bad = metrics.buffers
        params, buffers, state, sums, first_bad, inputs.counter = self.program(size)(
            model.params, model.buffers, opt.state, inputs.index, inputs.table, inputs.keys,
            *self._batches.device_data, inputs.counter, sums, first_bad,
        )  # fmt: skip
        self._took(params, buffers, state, inputs.rates[i])
        metrics.adopt(sums, first_bad, size)


def describe_step(loop: Any, compile: bool, session: Any, history: Any) -> None:
    """Give ``loop`` the whole step as one program where the backend has one and ``compile`` asks for it (JAX's
    jit, else a CUDA graph: :mod:`xpnet.training.captured`), and record which in ``history.meta["step"]``
    (``"jit"``, ``"cuda-graph"`` or ``"eager"``) with the reason a GPU step is not captured in ``"step_note"``."""
    from .captured import CapturedSteps

    model, note = loop.model, refusal(loop.optimizer)  # a user's optimizer class: no whole step
    if not compile:
        note = "compile=False"
    elif not note:
        if session is None:
            loop.compiled = CompiledStep.build(model, loop.optimizer, loop.l2, loop.clip_norm, loop.dropout_seed,
                                               loop.batches)  # fmt: skip
        if loop.compiled is None:
            loop.captured, note = CapturedSteps.build(model, loop.optimizer, loop.batches, loop.l2, loop.clip_norm,
                                                      loop.dropout_seed, session is not None)  # fmt: skip
        if loop.captured is not None:
            loop.captured.meta = history.meta  # where it says so if the steps stop being captured
    if compile and not (model.backend.compiles or has_graphs(model.backend)):
        note = ""  # no whole step on this backend: nothing is given up
    history.meta["step"] = "jit" if loop.compiled else "cuda-graph" if loop.captured else "eager"
    history.meta["step_note"] = note or None
