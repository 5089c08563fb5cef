"""The training step as one CUDA graph per batch shape, replayed with one launch per step (CuPy, PyTorch CUDA).

A small network's step on a GPU is some fifty kernels of a few microseconds, each launched from Python: launches,
not arithmetic, set the pace. Captured (:mod:`xpnet.backend.graphs`), the whole step — the batch gathered from the
data on the device, forward, backprop, clipping, the optimizer's update and the metrics — is one launch.

A replay runs on the memory of the capture with the numbers of the capture, so what changes from step to step
lives in device arrays the step reads: the epoch's order of the samples (``index``, written once per epoch), a
step counter the graph advances itself, and a table of per-step values written once per epoch (the optimizer's
numbers, :meth:`xpnet.optim.Optimizer.scalars`, computed on the host as the step run operation by operation computes
them; the global step; the dropout keys). Parameters, buffers, optimizer state and metrics
are updated in place. The first step of each batch shape runs eagerly (kernels compiled, libraries initialised),
the second is captured, the rest replay. Between steps the host only launches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend.graphs import Capturer, capturer
from ..backend.step_ops import take_rows
from ..backend.transfer import copy_into
from ..optim import Optimizer
from .metrics import Metrics, accumulate
from .step import dropout_streams, given_step, step_keys

Array = Any


class CapturedSteps:
    """The steps of one run on one GPU (see the module docstring); build with :meth:`build`."""

    def __init__(self, model: Any, optimizer: Optimizer, batches: Any, l2: float, clip_norm: float | None,
                 seed: int, graphs: Capturer) -> None:  # fmt: skip
        self.model, self.optimizer, self.batches, self.l2, self.clip_norm, self.seed = (
            model, optimizer, batches, l2, clip_norm, seed
        )  # fmt: skip
        self.graphs, self.streams = graphs, dropout_streams(model)
        backend, xp, steps = model.backend, model.xp, len(batches)
        optimizer.ensure_state(model.params)
        with backend.activate(), graphs.scope():
            device = backend.device
            # the epoch's order of the samples, a row per batch (the last one padded): one gather finds a batch's rows
            self.index = xp.zeros((steps, batches.batch_size), dtype=xp.int64, device=device)
            self.counter = xp.zeros((), dtype=xp.int64, device=device)  # the batch the next replay trains on
            self.names = list(optimizer.scalars(optimizer.lr, 1))  # the optimizer's per-step numbers, then the step
            self.table = xp.zeros((steps, len(self.names) + 1), dtype=model.dtype, device=device)
            self.keys = xp.zeros((steps, max(len(self.streams), 1)), dtype=xp.int64, device=device)
            self.metrics = Metrics(model.params[0], model.sizes[-1], classifies=model._loss.classifies)
            self.sizes = [e - s for s, e in batches.bounds()]  # rows of each batch of an epoch
        self.launches: dict[int, Callable[[], None]] = {}  # batch size -> the launch of its graph
        self.warmed: set[int] = set()
        self.arrays: tuple[int, ...] = ()  # ids of what the graphs read and write: a change means capture again
        self.rates: list[float] = []  # the epoch's learning rate at each step, on the host

    @classmethod
    def build(cls, model: Any, optimizer: Optimizer, batches: Any, l2: float, clip_norm: float | None, seed: int,
              distributed: bool) -> tuple[CapturedSteps | None, str]:  # fmt: skip
        """The captured steps, or None and why the steps run one operation at a time."""
        if distributed:
            return None, "data-parallel steps exchange gradients between graphs"
        if batches.device_data is None:
            return None, f"the data are streamed from the host (placement {batches.placement!r})"
        graphs, reason = capturer(model.backend)
        if graphs is None:
            return None, reason
        return cls(model, optimizer, batches, l2, clip_norm, seed, graphs), ""

    def start_epoch(self, order: np.ndarray, first: int, epoch_step0: int, lr_at: Callable[[int], float]) -> Metrics:
        """Write the epoch's order and per-step table, set the counter to batch ``first``; returns the metrics,
        emptied (the caller may restore a resumed epoch's figures into them)."""
        steps = len(self.batches)
        table = np.zeros((steps, len(self.names) + 1))
        self.rates = [lr_at(epoch_step0 + i) for i in range(steps)]
        keys = np.zeros((steps, max(len(self.streams), 1)), dtype=np.int64)
        for i in range(first, steps):
            step = epoch_step0 + i
            numbers = self.optimizer.scalars(self.rates[i], self.optimizer.steps + i - first + 1)
            table[i] = [*(numbers[name] for name in self.names), step + 1]
            keys[i, : len(self.streams)] = step_keys(self.seed, step, self.streams)
        backend = self.model.backend
        with backend.activate(), self.graphs.scope():
            self.index = copy_into(self.index, self._rows_by_batch(order), backend)
            self.table = copy_into(self.table, table, backend)
            self.keys = copy_into(self.keys, keys, backend)
            self.counter = copy_into(self.counter, np.asarray(first), backend)
            self.metrics.reset()
        current = self._arrays()  # arrays change only between epochs (a resume's load, a restore of weights)
        if current != self.arrays:  # the graphs would read old memory: capture again
            self.launches.clear()
            self.arrays = current
        return self.metrics

    def _rows_by_batch(self, order: np.ndarray) -> np.ndarray:
        """The epoch's order as ``(batches, batch_size)``, batch ``i``'s rows in row ``i`` (a short last batch's row
        padded; with ``drop_last`` the rows left over are in none)."""
        rows = np.zeros(self.index.shape, dtype=np.int64)
        flat = rows.reshape(-1)
        used = min(flat.shape[0], order.shape[0])
        flat[:used] = order[:used]
        return rows

    def scope(self) -> Any:
        """Where the epoch's steps and reads run (the device current, the graphs' stream)."""
        return self.graphs.scope()

    def step(self, i: int) -> None:
        """Train batch ``i`` of the epoch (the counter's batch): a replay once captured."""
        size = self.sizes[i]
        if size in self.launches:
            self.launches[size]()
        elif size in self.warmed:
            self.launches[size] = self.graphs.capture(lambda: self._body(size))
            if self._arrays() != self.arrays:
                raise RuntimeError("the captured step replaced arrays it must update in place")
            self.launches[size]()  # a capture runs nothing: this step is the first replay
        else:
            self.graphs.warm(lambda: self._body(size))
            self.warmed.add(size)
            self.arrays = self._arrays()
        self.optimizer.steps += 1
        self.optimizer.lr = self.rates[i]
        self.metrics.count += size

    def _arrays(self) -> tuple[int, ...]:
        opt = self.optimizer
        state = [a for name in sorted(opt.state) for a in opt.state[name]]
        return tuple(id(a) for a in (*self.model.params, *self.model.buffers, *state, *self.metrics.buffers))

    def _body(self, size: int) -> None:
        """One step of ``size`` rows, every input read from the device (what the graph records)."""
        model, opt, xp = self.model, self.optimizer, self.model.xp
        x, y = self.batches.device_data
        at = xp.reshape(self.counter, (1,))
        rows = xp.reshape(take_rows(self.index, at), (-1,))[:size]  # a view of the gathered row
        xb, yb = self.batches.take(x, y, rows)
        values = take_rows(self.table, at)  # (1, names + 1)
        keys = take_rows(self.keys, at)[0] if self.streams else None  # (streams,); no gather without dropout
        given = {name: values[0, j] for j, name in enumerate(self.names)}  # device values, never baked in
        loss, z = given_step(model, opt, given, keys, xb, yb, self.l2, self.clip_norm, self.streams)
        sums, first_bad = self.metrics.buffers
        step = values[0, len(self.names)]
        accumulate(model.sizes[-1], model._loss.classifies, sums, first_bad, None, loss, z, yb, step)
        self.counter += 1
