"""What changes from step to step, written to the device once per epoch: a step that reads it there needs nothing
from the host but its launch (a CUDA graph's replay, :mod:`xpnet.training.captured`; a JAX program's call,
:mod:`xpnet.training.compiled`).

Per epoch: the order of the samples as one row of indices per batch (``index``), a table of per-step numbers (the
optimizer's, :meth:`xpnet.optim.Optimizer.scalars`, computed on the host in double precision as a step run operation
by operation computes them, then the global step) and the dropout keys of each step. A device ``counter`` names the
batch the next step trains on; the step reads its row of each (:func:`read_step`) and advances it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend.step_ops import take_rows
from ..backend.transfer import copy_into, zeros
from ..optim import Optimizer
from ..validation import check_float
from .step import dropout_streams, step_keys

Array = Any


class EpochInputs:
    """The per-step inputs of one run's epochs on its device (see the module docstring). Rows and the counter are
    int64 where the device has it, else int32 (JAX without 64-bit types: its default integer, the one a host row
    vector given to a program becomes, so the gather compiles the same); the dropout keys are ``key_dtype``, by
    default the same."""

    def __init__(self, model: Any, optimizer: Optimizer, batches: Any, seed: int, key_dtype: Any = None) -> None:
        self.optimizer, self.seed, self.streams = optimizer, seed, dropout_streams(model)
        backend, xp, steps = model.backend, model.xp, len(batches)
        self.backend = backend
        integers = xp.int64 if backend.supports_dtype(xp.int64) else xp.int32
        self.names = list(optimizer.scalars(optimizer.lr, 1))  # the optimizer's per-step numbers, then the step
        self.sizes = [e - s for s, e in batches.bounds()]  # rows of each batch of an epoch
        width = max(self.sizes, default=1)  # the batch size, or fewer where the data have fewer rows
        self.index = zeros(backend, (steps, width), integers)  # batch i's rows in row i
        self.counter = zeros(backend, (), integers)  # the batch the next step trains on
        self.table = zeros(backend, (steps, len(self.names) + 1), model.dtype)
        self.keys = zeros(backend, (steps, max(len(self.streams), 1)), integers if key_dtype is None else key_dtype)
        self.rates: list[float] = []  # the epoch's learning rate at each step, on the host

    def start_epoch(self, order: np.ndarray, first: int, epoch_step0: int, lr_at: Callable[[int], float]) -> None:
        """Write the epoch's order and per-step table, and set the counter to batch ``first`` (a resumed epoch's)."""
        steps = len(self.sizes)
        table = np.zeros((steps, len(self.names) + 1))
        # checked as a step run operation by operation checks them, but before the epoch's first step (no update is
        # made at a rate then refused), and Python floats: a NumPy float32 would compute Adam's numbers in float32
        self.rates = [check_float("lr", lr_at(epoch_step0 + i)) for i in range(steps)]
        keys = np.zeros((steps, max(len(self.streams), 1)), dtype=np.int64)
        for i in range(first, steps):
            step = epoch_step0 + i
            numbers = self.optimizer.scalars(self.rates[i], self.optimizer.steps + i - first + 1)
            table[i] = [*(numbers[name] for name in self.names), step + 1]
            keys[i, : len(self.streams)] = step_keys(self.seed, step, self.streams)
        backend = self.backend
        with backend.activate():
            self.index = copy_into(self.index, self._rows_by_batch(order), backend)
            self.table = copy_into(self.table, table, backend)
            self.keys = copy_into(self.keys, keys, backend)
            self.counter = copy_into(self.counter, np.asarray(first), backend)

    def _rows_by_batch(self, order: np.ndarray) -> np.ndarray:
        """The epoch's order as ``(batches, batch_size)``, batch ``i``'s rows in row ``i`` (a short last batch's row
        padded; with ``drop_last`` the rows left over are in none)."""
        rows = np.zeros(tuple(self.index.shape), dtype=np.int64)
        flat = rows.reshape(-1)
        used = min(flat.shape[0], order.shape[0])
        flat[:used] = order[:used]
        return rows

    def read_step(
        self, index: Array, table: Array, keys: Array, counter: Array, size: int
    ) -> tuple[Array, dict[str, Array], Array | None, Array]:
        """The step at ``counter`` (a batch of ``size`` rows): its rows, the optimizer's numbers by name, the dropout
        keys (None without dropout) and the global step (1-based), read on the device. The arrays are given (a
        compiled program's inputs, or this object's own for a captured step)."""
        xp = self.backend.xp
        at = xp.reshape(counter, (1,))
        rows = xp.reshape(take_rows(index, at), (-1,))[:size]  # a view of the gathered row
        values = take_rows(table, at)  # (1, names + 1)
        step_keys_ = take_rows(keys, at)[0] if self.streams else None  # (streams,); no gather without dropout
        given = {name: values[0, j] for j, name in enumerate(self.names)}  # device values, never baked in
        return rows, given, step_keys_, values[0, len(self.names)]
