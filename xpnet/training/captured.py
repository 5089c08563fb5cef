"""The training step as one CUDA graph per batch shape, replayed with one launch per step (CuPy, PyTorch CUDA).

A small network's step on a GPU is some fifty kernels of a few microseconds, each launched from Python: launches,
not arithmetic, set the pace. Captured (:mod:`xpnet.backend.graphs`), the whole step — the batch gathered from the
data on the device, forward, backprop, clipping, the optimizer's update and the metrics — is one launch.

A replay runs on the memory of the capture with the numbers of the capture, so what changes from step to step
lives in device arrays the step reads (:mod:`xpnet.training.epoch_inputs`, written once per epoch: the epoch's order
of the samples, the optimizer's numbers, the global step, the dropout keys) at a step counter the graph advances
itself. Parameters, buffers, optimizer state and metrics are updated in place. The first step of each batch shape
runs eagerly (kernels compiled, libraries initialised), the second is captured, the rest replay. Between steps the
host only launches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend.graphs import Capturer, capturer
from ..optim import Optimizer
from .epoch_inputs import EpochInputs
from .metrics import Metrics, accumulate
from .step import given_step

Array = Any


class CapturedSteps:
    """The steps of one run on one GPU (see the module docstring); build with :meth:`build`."""

    def __init__(self, model: Any, optimizer: Optimizer, batches: Any, l2: float, clip_norm: float | None,
                 seed: int, graphs: Capturer) -> None:  # fmt: skip
        self.model, self.optimizer, self.batches, self.l2, self.clip_norm, self.seed = (
            model, optimizer, batches, l2, clip_norm, seed
        )  # fmt: skip
        self.graphs = graphs
        optimizer.ensure_state(model.params)
        with model.backend.activate(), graphs.scope():
            self.inputs = EpochInputs(model, optimizer, batches, seed)  # the epoch's tables, its counter
            self.metrics = Metrics(model.params[0], model.sizes[-1], classifies=model._loss.classifies)
        self.launches: dict[int, Callable[[], None]] = {}  # batch size -> the launch of its graph
        self.warmed: set[int] = set()
        self.arrays: tuple[int, ...] = ()  # ids of what the graphs read and write: a change means capture again

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
        with self.model.backend.activate(), self.graphs.scope():
            self.inputs.start_epoch(order, first, epoch_step0, lr_at)  # into the arrays the graphs read
            self.metrics.reset()
        current = self._arrays()  # arrays change only between epochs (a resume's load, a restore of weights)
        if current != self.arrays:  # the graphs would read old memory: capture again
            self.launches.clear()
            self.arrays = current
        return self.metrics

    def scope(self) -> Any:
        """Where the epoch's steps and reads run (the device current, the graphs' stream)."""
        return self.graphs.scope()

    def step(self, i: int) -> None:
        """Train batch ``i`` of the epoch (the counter's batch): a replay once captured."""
        size = self.inputs.sizes[i]
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
        self.optimizer.lr = self.inputs.rates[i]
        self.metrics.count += size

    def _arrays(self) -> tuple[int, ...]:
        opt = self.optimizer
        state = [a for name in sorted(opt.state) for a in opt.state[name]]
        return tuple(id(a) for a in (*self.model.params, *self.model.buffers, *state, *self.metrics.buffers))

    def _body(self, size: int) -> None:
        """One step of ``size`` rows, every input read from the device (what the graph records)."""
        model, inputs = self.model, self.inputs
        x, y = self.batches.device_data
        rows, given, keys, step = inputs.read_step(inputs.index, inputs.table, inputs.keys, inputs.counter, size)
        xb, yb = self.batches.take(x, y, rows)
        loss, z = given_step(model, self.optimizer, given, keys, xb, yb, self.l2, self.clip_norm, inputs.streams)
        sums, first_bad = self.metrics.buffers
        accumulate(model.sizes[-1], model._loss.classifies, sums, first_bad, None, loss, z, yb, step)
        inputs.counter += 1
