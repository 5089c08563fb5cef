"""The epoch loop behind :func:`xpnet.train`: steps, device-side metrics, checkpoints and the divergence guard.

Inside an epoch nothing is read back to the host except at a progress refresh or a checkpoint: losses and
correct counts accumulate on the device (:class:`xpnet.training.metrics.Metrics`) and are read once per epoch.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from ..backend.precision import precision_scope
from ..data.batches import Batches
from ..errors import TrainingDivergedError
from ..nn.layers import Context
from ..nn.network import MLP
from ..optim import Optimizer
from .checkpoint import Position, load_checkpoint, save_checkpoint
from .evaluate import evaluate
from .history import History
from .interrupts import deferred_interrupts
from .metrics import Metrics
from .step import train_step


@dataclass
class Loop:
    """Everything one run's epochs share."""

    model: MLP
    optimizer: Optimizer
    batches: Batches
    l2: float
    lr_at: Callable[[int], float]  # global step (0-based) -> learning rate
    epochs: int
    progress: bool
    checkpoint: Callable[[Position], None] | None = None  # writes a checkpoint at a position
    checkpoint_every: int | None = None  # steps between checkpoints
    exchange: Any = None  # data-parallel runs: the GradientExchange of this rank
    session: Any = None  # data-parallel runs: the xpnet.distributed.Session (metrics combined over the ranks)
    show_progress: bool = True  # False on every rank but 0 (which still reads the metrics with the others)
    last_checkpoint: tuple[str, Position] | None = None  # (folder, position) of the last checkpoint written
    dropout_seed: int = 0  # with the step and the layer, names every dropout mask (see xpnet.nn.random)
    clip_norm: float | None = None  # clip the global gradient norm to this
    compiled: Any = None  # a CompiledStep where the backend compiles the whole step (JAX), else None
    captured: Any = None  # CapturedSteps where the step runs as a CUDA graph (CuPy, PyTorch CUDA), else None
    precision: str = "highest"  # of the training step's matrix products (xpnet.backend.precision)
    base_lr: float | None = None  # the lr the run was given (lr_at scales it by the schedule), for messages

    def run(
        self,
        hooks: list[Any],
        val: tuple[Any, Any] | None,
        scale: float | None,
        history: History,
        start: Position | None,
        session: Any = None,
    ) -> bool:
        """The epochs from ``start`` on, with validation, callbacks and checkpoints; True when stopped early.

        ``hooks`` are callbacks ``hook(record, model)``; ``val`` is evaluated with inputs scaled by ``scale``;
        ``session`` (data-parallel runs) makes every rank stop together and checks they stay identical.
        """
        model, batches = self.model, self.batches
        for hook in hooks:
            if hasattr(hook, "on_train_begin"):
                hook.on_train_begin(history.meta)
        stopped = start is not None and start.stopped_early
        first_epoch = self.epochs + 1 if stopped else (1 if start is None else start.epoch)
        for epoch in range(first_epoch, self.epochs + 1):
            began = time.perf_counter()
            record = self.run_epoch(epoch, start if epoch == first_epoch else None)
            if val is not None:
                v = evaluate(model, *val, x_scale=scale, session=session)
                record.update(val_loss=v.loss, val_accuracy=v.accuracy, val_rmse=v.rmse, val_r2=v.r2)
            record["seconds"] = time.perf_counter() - began
            if session is not None:  # every rank records the job's time, so every rank's history is the same
                record["seconds"] = session.slowest(record["seconds"])
            record["samples_per_second"] = batches.n / max(record["seconds"], 1e-9)
            history.append(record)
            with model.backend.activate():
                stopped = any([bool(hook(record, model)) for hook in hooks])
            if session is not None:
                stopped = session.any(stopped)  # every rank stops, or none does
                state = [b for name in sorted(self.optimizer.state) for b in self.optimizer.state[name]]
                session.verify(f"after epoch {epoch}", {"weights": model.params, "buffers": model.buffers,
                                                        "optimizer state": state})  # fmt: skip
            if self.checkpoint is not None and not stopped:
                self.checkpoint(
                    Position(epoch + 1, 0, None if batches.rng is None else batches.rng.bit_generator.state)
                )
            if stopped:
                break
        with model.backend.activate():
            for hook in hooks:
                if hasattr(hook, "on_train_end"):
                    hook.on_train_end(model)
        if session is not None:
            session.verify("after training", {"weights": model.params, "buffers": model.buffers})
        if stopped and self.checkpoint is not None:  # with the best weights restored; a resume will not train on
            self.checkpoint(Position(len(history) + 1, 0, None, stopped_early=True))
        return stopped

    def run_epoch(self, epoch: int, start: Position | None = None) -> dict[str, Any]:
        """Train one epoch (from ``start`` when resuming it); return its record without validation figures."""
        with self.model.backend.activate(), precision_scope(self.model.backend, self.precision):
            return self._run_epoch(epoch, start)

    def _run_epoch(self, epoch: int, start: Position | None) -> dict[str, Any]:
        model, batches = self.model, self.batches
        last_good = model.snapshot()  # for the divergence guard
        first = 0 if start is None else start.position
        mine = None if start is None else start.metrics_of(*((0, 1) if self.session is None else self.session.shard))
        rng_state = None if start is None else start.rng_state
        epoch_step0 = (epoch - 1) * len(batches)
        if self.captured is not None:  # the whole step as one CUDA graph (CuPy, PyTorch CUDA)
            metrics = self.captured.start_epoch(batches.epoch_order(rng_state), first, epoch_step0, self.lr_at)
            done_steps = self._captured_steps(first, epoch_step0)
        else:
            metrics = Metrics(model.params[0], model.sizes[-1], classifies=model._loss.classifies)
            done_steps = self._steps(metrics, first, epoch_step0, rng_state)
        if mine is not None:
            metrics.restore(*mine)
        shown = self.progress and self.show_progress
        bar = _progress_bar(len(batches), first, f"epoch {epoch}/{self.epochs}") if shown else None
        began = time.perf_counter()
        with self.captured.scope() if self.captured is not None else contextlib.nullcontext():  # the graphs' stream
            last_good = self._follow(done_steps, epoch, epoch_step0, metrics, last_good, bar, began)
        if bar is not None:
            bar.close()
        totals = self._check(metrics, epoch, last_good, epoch_step0 + len(batches))
        return {
            "epoch": epoch,
            "train_loss": totals["loss"],
            "train_accuracy": totals["accuracy"],
            "val_loss": None,
            "val_accuracy": None,
            "val_rmse": None,
            "val_r2": None,
            "lr": self.optimizer.lr,
        }

    def _follow(self, done_steps: Iterator[int], epoch: int, epoch_step0: int, metrics: Metrics, last_good: Any,
                bar: Any, began: float) -> Any:  # fmt: skip
        """After each trained batch: the progress bar's reads and the mid-epoch checkpoints (each the new last good
        weights, which this returns)."""
        model, batches = self.model, self.batches
        refresh = max(1, len(batches) // 10)
        for i in done_steps:
            step = epoch_step0 + i  # 0-based global step
            done = i + 1
            if self.progress and (done % refresh == 0 or done == len(batches)):  # every rank reads together
                totals = self._check(metrics, epoch, last_good, step + 1)
                if bar is not None:
                    rate = totals["count"] / max(time.perf_counter() - began, 1e-9)
                    bar.update(done - bar.n)
                    bar.set_postfix(loss=f"{totals['loss']:.4f}", samples_s=f"{rate:,.0f}")
            if self.checkpoint is not None and self.checkpoint_every and (step + 1) % self.checkpoint_every == 0:
                if done < len(batches):  # the end of the epoch is checkpointed by the caller, with its record
                    totals = self._check(metrics, epoch, last_good, step + 1)
                    last_good = model.snapshot()
                    where = (totals["rank_sums"], totals["rank_counts"])
                    self.checkpoint(Position(epoch, done, batches.epoch_rng_state, where))
        return last_good

    def _steps(self, metrics: Metrics, first: int, epoch_step0: int, rng_state: Any) -> Generator[int, None, None]:
        """Train the epoch's batches from ``first`` on, operation by operation (or one compiled program on JAX),
        yielding each batch's index once it is trained."""
        model, batches = self.model, self.batches
        if self.compiled is not None:
            self.compiled.refresh()
        if self.compiled is not None and self.compiled.inputs is not None:  # JAX, the data on the device whole:
            self.compiled.start_epoch(batches.epoch_order(rng_state), first, epoch_step0, self.lr_at)  # gather, step
            for i in range(first, len(batches)):  # and metrics as one program, its inputs in the epoch's tables
                self.compiled.step_at(i, metrics)
                yield i
            return
        for i, (xb, yb) in enumerate(batches.epoch(first, rng_state), start=first):
            step = epoch_step0 + i  # 0-based global step
            self.optimizer.lr = self.lr_at(step)
            if self.compiled is not None:  # the whole step compiled (JAX)
                loss, z = self.compiled(xb, yb, step, self.optimizer.lr)
            else:
                context = Context(training=True, seed=self.dropout_seed, step=step, first_row=batches.first_row(i))
                loss, z = train_step(model, self.optimizer, xb, yb, self.l2, self.exchange, batches.share(i), context,
                                     self.clip_norm)  # fmt: skip
            metrics.add(loss, z, yb, step=step + 1)
            yield i

    def _captured_steps(self, first: int, epoch_step0: int) -> Generator[int, None, None]:
        """:meth:`_steps` for captured steps: one launch each (run inside the graphs' scope, see :meth:`_run_epoch`)."""
        for i in range(first, len(self.batches)):
            self.captured.step(i)
            yield i

    def where_to_resume(self) -> str:
        """Where training can continue from (for the message printed on Ctrl-C)."""
        if self.last_checkpoint is None:
            return "no checkpoint was written yet"
        directory, where = self.last_checkpoint
        return (
            f"the last checkpoint is in {directory} (epoch {where.epoch}, step {where.position}); continue with "
            "resume=True and the same settings (xpnet train ... --resume DIR)"
        )

    def _check(self, metrics: Metrics, epoch: int, last_good: Any, last_step: int) -> dict[str, Any]:
        """Read the running metrics (one host sync) and stop with the last good weights on a non-finite loss;
        ``last_step``: the run's number (1-based, as the loss's) of the last step trained."""
        if self.session is None:
            totals = metrics.read(params=[*self.model.params, *self.model.buffers])
        else:  # the read waits for every queued device step (NCCL's too): the watchdog watches it
            with self.session.comm.collective("reading the metrics (queued device steps finish first)"):
                totals = metrics.read(params=[*self.model.params, *self.model.buffers], gather=self.session.gather)
        bad = totals["first_non_finite_step"]
        if bad is None and totals["non_finite_params"]:
            bad = last_step  # the loss was still finite but an update overflowed the weights
        if bad is not None:
            self.model.restore(last_good)
            raise TrainingDivergedError(
                f"training diverged: the loss or the weights became non-finite by step {bad} (epoch {epoch}); the "
                f"model holds the last good weights. Try a smaller learning rate than lr={self.base_lr or self.optimizer.lr:g} "
                f"(the schedule's {self.optimizer.lr:g} at that step), or a lower l2 / input scale"
                + ("" if self.model._loss.classifies else _REGRESSION_HINT),
                epoch=epoch,
                step=bad,
                model=self.model,
            )
        return totals


_REGRESSION_HINT = (
    "; for regression, standardized inputs and targets (standardize=True, standardize_targets=True: the defaults) "
    "keep the gradients' scale independent of the data's, and wider hidden layers need smaller rates"
)


def _progress_bar(total: int, initial: int, description: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="batch", leave=False, dynamic_ncols=True)


def attach_checkpoints(
    loop: Loop,
    directory: str | os.PathLike,
    every: int | None,
    resume: bool,
    history: History,
    config: dict[str, Any],
    session: Any,
    say: bool,
) -> Position | None:
    """Make ``loop`` write checkpoints to ``directory`` (rank 0 only); with ``resume``, load the last one.

    ``say``: print where training resumes. Returns the position to resume from (None: start afresh).
    """
    model, opt = loop.model, loop.optimizer

    def write(where: Position) -> None:
        with deferred_interrupts():  # the checkpoint on disk and the note of it change together
            if session is None or session.is_root:  # rank 0 writes every file
                save_checkpoint(directory, model=model, optimizer=opt, where=where, history=history, config=config)
            loop.last_checkpoint = (str(directory), where)

    loop.checkpoint, loop.checkpoint_every = write, every
    if not resume:
        return None
    quiet = session is not None and not session.is_root  # rank 0 speaks for the job
    start = load_checkpoint(directory, model=model, optimizer=opt, config=config, history=history, quiet=quiet)
    if start is not None:
        loop.last_checkpoint = (str(directory), start)
    if say:
        if start is None:
            found = "(no checkpoint there yet: from the start)"
        elif start.stopped_early:
            found = "(the run stopped early: nothing to train; it stays as it stopped)"
        elif start.epoch > loop.epochs:
            found = f"(the run finished its {loop.epochs} epochs: nothing to train; more epochs continue it)"
        else:
            found = f"at epoch {start.epoch}, step {start.position}"
        print(f"resuming from {directory} {found}", flush=True)
    return start
