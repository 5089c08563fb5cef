"""``xpnet.train(data, device=..., ...)`` -> :class:`TrainResult`: arguments, data, model, and the epochs.

The steps of an epoch live in :mod:`xpnet.loop`; checkpoints in :mod:`xpnet.checkpoint`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._version import __version__
from .backend import Backend, backend_of, dtype_name, is_host_array, resolve, resolve_local
from .callbacks import EarlyStopping
from .checkpoint import Position, load_checkpoint, save_checkpoint
from .data import Batches, check_batch_size
from .dataset_source import load_data, n_outputs, split_validation, targets_for_loss
from .distributed import Session, join_training
from .distributed import start as start_session
from .errors import DeviceMismatchError, XPNetTypeError, XPNetValueError, describe
from .evaluate import Evaluation, evaluate
from .history import History
from .init import Seed, generators
from .loop import Loop
from .model import MLP
from .optim import Optimizer, make_optimizer
from .schedules import Schedule, get_schedule
from .validation import check_array, check_data, check_float, check_hidden, check_model

Callback = Callable[[dict[str, Any], MLP], Any]
# Settings a resumed run must share with the run that wrote the checkpoint.
_RESUME_KEYS = (
    "data",
    "sizes",
    "activation",
    "loss",
    "dtype",
    "optimizer",
    "lr",
    "momentum",
    "l2",
    "batch_size",
    "lr_schedule",
    "seed",
)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : MLP
        The trained network (with the best weights restored when early stopping is on).
    history : History
        One record per epoch: train/validation loss and accuracy, seconds, samples/s, learning rate.
    device : str
        Canonical spec of the device used.
    placement : str
        ``"device"`` or ``"stream"`` (see :mod:`xpnet.data`).
    optimizer : Optimizer
    test : Evaluation or None
        Evaluation on the test split when the data came with one.
    stopped_early : bool
        Early stopping ended the run.
    ranks : int
        Processes that trained the model together (1 unless data-parallel).
    """

    model: MLP
    history: History
    device: str
    placement: str
    optimizer: Optimizer
    test: Evaluation | None = None
    stopped_early: bool = field(default=False)
    ranks: int = 1


def _check_epochs(epochs: Any) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise XPNetValueError(f"epochs: expected an integer >= 0; received {describe(epochs)}")
    return int(epochs)


def _check_every(every: Any) -> int | None:
    if every is None:
        return None
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every <= 0:
        raise XPNetValueError(
            f"checkpoint_every: expected a positive number of steps or None; received {describe(every)}"
        )
    return int(every)


def _check_callbacks(callbacks: Any) -> list[Callback]:
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, (list, tuple)):
        raise XPNetTypeError(
            f"callbacks: expected a list of callables callback(record, model); received {describe(callbacks)}"
        )
    for i, hook in enumerate(callbacks):
        if not callable(hook):
            raise XPNetTypeError(
                f"callbacks[{i}]: expected a callable callback(record, model); received {describe(hook)}"
            )
    return list(callbacks)


def _check_continued_model(model: Any, device: Any, dtype: Any) -> MLP:
    """A model to continue training; an explicit device or dtype must agree with it (nothing moves silently)."""
    model = check_model(model)
    if device not in (None, "auto") and resolve(device).spec != model.backend.spec:
        raise DeviceMismatchError(
            f"device: the model lives on {model.backend.spec!r} but device={device!r} was given; "
            "omit device (or move the model with xpnet.save / xpnet.load(path, device=...))"
        )
    if dtype is not None and dtype_name(dtype) != dtype_name(model.dtype):
        raise XPNetValueError(
            f"dtype: the model is {dtype_name(model.dtype)} but dtype={dtype!r} was given; omit dtype"
        )
    return model


def _check_shareable(n: int, session: Session | None) -> None:
    if session is not None and n < session.size:
        raise XPNetValueError(
            f"x: {n} training samples cannot be shared by {session.size} ranks; use fewer ranks or more data"
        )


def _pick_backend(device: str | Backend | None, x: Any, session: Session | None) -> Backend:
    """An explicit device wins; ``"auto"`` follows data that already live on a device; ranks take their own GPU."""
    if (device is None or device == "auto") and not is_host_array(x):
        return backend_of(check_array("x", x))
    return resolve(device) if session is None else resolve_local(device, session.comm.local_rank)


def train(
    data: Any = "mnist",
    *,
    device: str | Backend | None = "auto",
    hidden: Sequence[int] = (512,),
    activation: str = "relu",
    loss: str = "cross_entropy",
    epochs: int = 20,
    batch_size: int = 128,
    optimizer: str = "momentum",
    lr: float = 0.05,
    momentum: float = 0.9,
    l2: float = 1e-4,
    lr_schedule: str | Schedule = "cosine",
    validation: float | tuple[Any, Any] | None = None,
    early_stopping: int | EarlyStopping | None = None,
    seed: Seed = 0,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    placement: str = "auto",
    dtype: str | None = None,
    model: MLP | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    distributed: bool | str = "auto",
) -> TrainResult:
    """Train an MLP with minibatch gradient descent on any backend.

    Parameters
    ----------
    data : str or tuple
        ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``; or ``(x, y)``; or ``((x, y), (x_test, y_test))``,
        as NumPy or device arrays. ``x`` is ``(n, d)``; ``y`` is ``(n,)`` labels or ``(n, k)`` targets.
    device : str
        Device spec; ``"auto"`` follows device arrays in ``data``, else picks a GPU if usable, else NumPy.
    hidden : sequence of int
        Hidden-layer widths (ignored when ``model`` is given).
    activation, loss : str
        See :class:`xpnet.MLP`.
    epochs, batch_size : int
        Passes over the training data; samples per step (the last partial batch is kept).
    optimizer : {"sgd", "momentum", "nesterov", "adam"}
    lr, momentum, l2 : float
        Peak learning rate; momentum coefficient; L2 penalty ``½·l2·Σ‖W‖²``.
    lr_schedule : {"constant", "step", "cosine"} or callable
        Factor applied to ``lr`` as a function of the fraction of training done.
    validation : float or (x_val, y_val), optional
        A fraction of the training data held out (drawn with the run's seed), or explicit arrays.
    early_stopping : int or EarlyStopping, optional
        Patience in epochs on the validation loss; the best weights are restored. Needs ``validation``.
    seed : int
        Seeds initial weights, batch order and the validation split (host generators).
    progress : bool
        Show a tqdm progress bar per epoch with loss and samples/s.
    callbacks : sequence of callables
        ``callback(record, model)`` after each epoch; returning True stops training.
    placement : {"auto", "device", "stream"}
        Where the data set lives during training (see :mod:`xpnet.data`).
    dtype : {"float32", "float64"}, optional
        Default: the model's dtype when ``model`` is given, else ``"float32"``.
    model : MLP, optional
        Continue training this network instead of building a new one (on its device, in its dtype).
    checkpoint_dir : path, optional
        Write ``checkpoint.safetensors`` and ``history.json`` here at the end of every epoch (and every
        ``checkpoint_every`` steps), atomically.
    checkpoint_every : int, optional
        Also checkpoint every this many steps, mid-epoch.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` if there is one (else start afresh). The run must have
        the same settings; its final weights then equal an uninterrupted run's (bit for bit on NumPy).
    distributed : bool or "auto"
        Data-parallel training over MPI (``mpiexec -n 4 python script.py``): every rank trains on its share of
        each global batch of ``batch_size`` samples on its own device and the gradients are summed over the
        ranks every step; only rank 0 writes checkpoints. ``"auto"`` turns it on when a launcher started more
        than one process. See ``docs/distributed.md``.

    Raises
    ------
    RanksDisagreeError
        Data-parallel: the ranks hold different settings, data or weights (raised on every rank).
    TrainingDivergedError
        The loss became NaN or infinite; the error names the epoch and step and carries the last good weights.
    """
    epochs = _check_epochs(epochs)
    batch_size = check_batch_size(batch_size)
    lr, l2 = check_float("lr", lr, low_inclusive=False), check_float("l2", l2)
    schedule = get_schedule(lr_schedule)
    model = None if model is None else _check_continued_model(model, device, dtype)
    hidden = check_hidden(hidden) if model is None else hidden
    if resume and not isinstance(seed, (int, np.integer)):
        raise XPNetValueError(
            f"seed: resume needs an integer seed, so the validation split and batch order can be redrawn; received {describe(seed)}"
        )
    hooks = _check_callbacks(callbacks)
    every = _check_every(checkpoint_every)
    if checkpoint_dir is None and (resume or every is not None):
        raise XPNetValueError("checkpoint_dir: resume and checkpoint_every need a checkpoint_dir; received None")
    session = start_session(distributed)
    with contextlib.nullcontext() if session is None else session.guard():
        seed = seed if session is None else session.shared_seed(seed)
        init_rng, shuffle_rng, split_rng = generators(seed, 3)
        source = load_data(data)
        backend = model.backend if model is not None else _pick_backend(device, source.x, session)
        loss = model.loss if model is not None else loss
        x, y = check_data(source.x, source.y, backend, loss, n_features=None if model is None else model.sizes[0])
        _check_shareable(x.shape[0], session)
        # The output width comes from the training targets (or the model); test and validation labels follow it.
        classes = model.sizes[-1] if model is not None else n_outputs(y, loss if y.ndim == 2 else "cross_entropy")
        y = targets_for_loss(y, loss, backend, classes)
        test = None
        if source.test is not None:
            x_test, y_test = check_data(*source.test, backend, loss, names=("x_test", "y_test"))
            test = (x_test, targets_for_loss(y_test, loss, backend, classes))
        x, y, val = split_validation(x, y, validation, split_rng, backend)
        if val is not None:
            val = (val[0], targets_for_loss(val[1], loss, backend, classes))
        if model is None:
            sizes = (x.shape[1], *hidden, classes)
            model = MLP(
                sizes, activation=activation, loss=loss, device=backend, dtype=dtype or "float32", seed=init_rng
            )
        x, y = model._check_data(x, y)
        val = None if val is None else model._check_data(*val)
        test = None if test is None else model._check_data(*test)  # checked now, not after hours of training
        opt = make_optimizer(optimizer, lr, momentum=momentum)
        shard = None if session is None else session.shard
        batches = Batches(x, y, backend, model.dtype, batch_size=batch_size, rng=shuffle_rng, placement=placement,
                          scale=source.scale, shard=shard)  # fmt: skip
        _check_shareable(batches.n, session)
        if early_stopping is not None:
            if val is None:
                raise XPNetValueError("early_stopping: needs validation data; pass validation=0.1 or (x_val, y_val)")
            hooks.append(early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(early_stopping))
        history = History(meta={
            "xpnet": __version__, "data": source.name, "device": backend.spec, "placement": batches.placement,
            "sizes": list(model.sizes), "activation": model.activation, "loss": model.loss, "dtype": dtype_name(model.dtype),
            "optimizer": optimizer, "lr": lr, "momentum": momentum, "l2": l2, "batch_size": batch_size,
            "lr_schedule": lr_schedule if isinstance(lr_schedule, str) else "custom", "epochs": epochs,
            "seed": seed if isinstance(seed, int) else None, "ranks": 1 if session is None else session.size,
        })  # fmt: skip
        config = {k: history.meta[k] for k in _RESUME_KEYS} | {"n_train": batches.n, "ranks": history.meta["ranks"]}
        total_steps = max(epochs * len(batches), 1)
        loop = Loop(model, opt, batches, l2, lambda step: lr * schedule(step / total_steps), epochs, progress)
        start = None
        if checkpoint_dir is not None:

            def write(where: Position) -> None:
                if session is None or session.is_root:  # rank 0 writes every file
                    save_checkpoint(
                        checkpoint_dir, model=model, optimizer=opt, where=where, history=history, config=config
                    )

            loop.checkpoint, loop.checkpoint_every = write, every
            if resume:
                start = load_checkpoint(checkpoint_dir, model=model, optimizer=opt, config=config, history=history)
        if session is not None:
            start = join_training(session, loop, start, config, (x, y), history)
        stopped = loop.run(hooks, val, source.scale, history, start, session)
        evaluation = None
        if test is not None:
            evaluation = evaluate(model, *test, x_scale=source.scale, session=session)
            history.meta.update(test_loss=evaluation.loss, test_accuracy=evaluation.accuracy)
        ranks = 1 if session is None else session.size
        return TrainResult(model, history, backend.spec, batches.placement, opt, evaluation, stopped, ranks)
