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

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend.graphs import Capturer, capturer
from ..optim import Optimizer
from .epoch_inputs import EpochInputs
from .metrics import Metrics, accumulate
from .step import given_step
from .whole_step import BakedIn

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
        self.baked = BakedIn(optimizer)  # the optimizer's numbers the graphs bake in: a change, capture again
        self.uncaptured = ""  # why the steps stopped being captured during the run ("": they are captured)
        self.meta: dict[str, Any] = {}  # the run's history.meta: says so there too

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
            changed = self.baked.changed(self.model.params)  # a state a callback emptied is made here, not captured
            self.inputs.start_epoch(order, first, epoch_step0, lr_at)  # into the arrays the graphs read
            self.metrics.reset()
        # arrays and settings change only between epochs (a resume's load, a restore of weights, a callback)
        current = self._arrays()
        if current != self.arrays or changed:  # the graphs would read old memory or numbers
            self.launches.clear()
            self.graphs.release()  # the old graphs and what they hold go (the stream runs them to their end)
            self.arrays = current
        return self.metrics

    def scope(self) -> Any:
        """Where the epoch's steps and reads run (the device current, the graphs' stream)."""
        return self.graphs.scope()

    def step(self, i: int) -> None:
        """Train batch ``i`` of the epoch (the counter's batch): a replay once captured."""
        size = self.inputs.sizes[i]
        self.optimizer.lr = self.inputs.rates[i]
        if size in self.launches:
            self.launches[size]()
        elif self.uncaptured:
            self._body(size)  # one operation at a time, on the same tables and counter
        elif size in self.warmed:
            self._capture(size)
        else:
            self.graphs.warm(lambda: self._body(size))
            self.warmed.add(size)
            self.arrays = self._arrays()
        self.optimizer.steps += 1
        self.metrics.count += size

    def _capture(self, size: int) -> None:
        """Capture the step of ``size`` rows and run it; where the step replaced an array it must update in place
        (the graph would write memory nobody reads), put the arrays back as they were (a capture runs nothing) and
        run this step and the rest of the run one operation at a time, saying why."""
        model, opt = self.model, self.optimizer
        held = (list(model.params), list(model.buffers), {name: list(a) for name, a in opt.state.items()})
        launch = self.graphs.capture(lambda: self._body(size))
        if self._arrays() == self.arrays:
            self.launches[size] = launch
            launch()  # a capture runs nothing: this step is the first replay
            return
        model.params[:], model.buffers[:], opt.state = held
        self.launches.clear()
        self.graphs.release()
        self.uncaptured = ("the step replaced arrays it must update in place (an optimizer or a layer that stores new "
                           "arrays): it runs one operation at a time")  # fmt: skip
        self.meta.update(step="eager", step_note=self.uncaptured)
        warnings.warn(f"xpnet: the training step could not be captured as a CUDA graph: {self.uncaptured} "
                      "(compile=False says so from the start)", RuntimeWarning, stacklevel=2)  # fmt: skip
        self._body(size)

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
