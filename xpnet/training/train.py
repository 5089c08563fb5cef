"""``xpnet.train(data, device=..., ...)`` -> :class:`TrainResult`: arguments, data, model, and the epochs.

The steps of an epoch live in :mod:`xpnet.training.loop`; checkpoints in :mod:`xpnet.training.checkpoint`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from ..backend import Backend, dtype_name
from ..backend.precision import check_precision
from ..data.batches import Batches
from ..data.sources import load_data
from ..distributed import Session, join_training
from ..distributed import start as start_session
from ..nn.init import Seed, generators
from ..nn.losses import get_loss
from ..nn.network import MLP
from ..optim import Optimizer
from .args import (
    Callback,
    check_batch_statistics,
    check_norm_alone,
    check_settings,
    check_shareable,
    pick_backend,
    run_meta,
)
from .callbacks import EarlyStopping
from .checkpoint import claim_checkpoint_dir
from .compiled import describe_step
from .evaluate import Evaluation, evaluate
from .history import History
from .loop import Loop, attach_checkpoints
from .prepare import build_model, prepare, trained_targets
from .report import EpochPrinter
from .result import TrainResult
from .schedules import Schedule

# Settings a resumed run must share with the run that wrote the checkpoint.
RESUME_KEYS = ("data", "sizes", "activation", "loss", "dtype", "optimizer", "lr", "momentum", "l2", "batch_size",
               "lr_schedule", "seed", "standardize", "standardize_targets", "shuffle", "dropout", "norm",
               "norm_momentum", "norm_eps", "clip_norm", "weight_decay", "validation")  # fmt: skip


def train(
    data: Any = "mnist",
    y: Any = None,
    *,
    device: str | Backend | None = "auto",
    hidden: Sequence[int] = (512,),
    activation: str = "relu",
    loss: str = "cross_entropy",
    epochs: int = 20,
    batch_size: int = 128,
    optimizer: str | Optimizer = "momentum",
    lr: float | None = None,
    momentum: float = 0.9,
    l2: float = 1e-4,
    lr_schedule: str | Schedule = "cosine",
    validation: float | tuple[Any, Any] | None = None,
    early_stopping: int | EarlyStopping | None = None,
    seed: Seed = 0,
    shuffle: bool = True,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    placement: str = "auto",
    dtype: str | None = None,
    model: MLP | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    distributed: bool | str | Session = "auto",
    standardize: bool | None = None,
    standardize_targets: bool = True,
    verbose: int = 1,
    dropout: float | Sequence[float] = 0.0,
    norm: str | None = None,
    norm_momentum: float = 0.1,
    norm_eps: float = 1e-5,
    clip_norm: float | None = None,
    weight_decay: float | None = None,
    compile: bool = True,
    precision: str = "highest",
    overwrite: bool = False,
    meta: dict[str, Any] | None = None,
    label: str | int | None = None,
    header: bool | None = None,
    image_size: Any = None,
) -> TrainResult:
    """Train an MLP with minibatch gradient descent on any backend.

    Parameters
    ----------
    data : str, path, array or tuple
        ``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``; the path of an ``.npz`` or ``.csv`` file or an image folder
        (see :func:`xpnet.datasets.load_file`); ``x`` (with ``y`` as the second argument), ``(x, y)`` or
        ``((x, y), (x_test, y_test))`` as NumPy arrays, device arrays, lists or pandas objects. ``x`` is
        ``(n, d)``; ``y`` is ``(n,)`` labels (integers, or names such as strings: ``model.classes`` keeps them)
        or ``(n, k)`` targets.
    y : array, optional
        The labels or targets when ``data`` is ``x``: ``train(x, y)``.
    device : str
        Device spec; ``"auto"`` follows device arrays in ``data``, else picks a GPU if usable, else NumPy.
    hidden : sequence of int
        Hidden-layer widths (ignored when ``model`` is given).
    activation, loss : str
        See :class:`xpnet.MLP`.
    epochs, batch_size : int
        Passes over the training data; samples per step (the last partial batch is kept).
    optimizer : {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"} or Optimizer
        An optimizer object continues with its state (velocities, moments, step count) and its own ``lr`` as the
        peak rate; ``lr`` and ``momentum`` are then ignored.
    lr : float, optional
        Peak learning rate; default: the optimizer's (0.05 for ``sgd``, ``momentum`` and ``nesterov``, 1e-3 for
        ``adam``, ``adamw`` and ``rmsprop``: ``xpnet.optim.DEFAULT_LR``).
    momentum, l2 : float
        Momentum coefficient; L2 penalty ``½·l2·Σ‖W‖²``.
    lr_schedule : {"constant", "step", "cosine"} or callable
        Factor applied to ``lr`` as a function of the fraction of training done.
    validation : float or (x_val, y_val), optional
        A fraction of the training data held out (drawn with the run's seed), or explicit arrays.
    early_stopping : int or EarlyStopping, optional
        Patience in epochs on the validation loss; the best weights are restored. Needs ``validation``.
    seed : int
        Seeds initial weights, batch order and the validation split (host generators).
    shuffle : bool
        Draw a new order of the training samples every epoch; False keeps the data's order.
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
        the same settings; its final weights then equal an uninterrupted run's (bit for bit on NumPy). The run
        locks ``checkpoint_dir`` while it trains: a second run on it is refused, naming the first.
    overwrite : bool
        Without ``resume``, a ``checkpoint_dir`` that holds another run's checkpoint is refused (it could no longer
        be resumed); ``overwrite=True`` removes it and starts over.
    meta : dict, optional
        Extra facts to record in ``history.meta`` (and so in every checkpoint), e.g. ``{"experiment": "lr-sweep"}``.
    label, header, image_size
        How to read ``data`` when it is a file, as ``xpnet train`` reads it (see :func:`xpnet.datasets.load_file`):
        the label column of a CSV (its name, or its index without a header), whether its first row names the
        columns (None guesses), and ``(width, height)`` to resize images to.
    standardize : bool or None
        Standardize every input feature with the training split's mean and standard deviation; the model keeps
        them (saved with it) and applies them in ``predict`` too. None (the default): on for regression
        (``loss="mse"``) on unscaled data, off otherwise.
    standardize_targets : bool
        Regression (``loss="mse"``): train on targets standardized with the training split's mean and standard
        deviation per output, kept with the model and undone in its outputs (``model(x)``, ``predict``, exports),
        as scikit-learn's ``TransformedTargetRegressor`` does. Losses are then in standardized units (a training
        loss of 0.1 explains about 90% of the variance); ``evaluate`` gives RMSE, MAE and R² in the targets' units.
    verbose : {1, 0}
        1 prints the placement, a table header and one line per epoch (rank 0 only); 0 prints nothing.
    dropout : float or sequence of float
        Inverted dropout after every hidden layer's activation (one rate, or one per hidden layer); its masks are
        drawn on the device from ``seed``, the step and the layer (the same on every backend and on resume).
    norm : {None, "batch", "layer"}
        Batch or layer normalization between every hidden ``Dense`` and its activation (see :class:`xpnet.MLP`).
    norm_momentum, norm_eps : float
        Batch norm's running statistics follow ``(1 - m)·running + m·batch`` (PyTorch's convention); ``eps`` is
        added to the variance by batch and layer norm.
    clip_norm : float, optional
        Scale the gradients down whenever their global norm (over all parameters) exceeds this.
    weight_decay : float, optional
        AdamW's decoupled weight decay (default 0.01); ignored by the other optimizers.
    compile : bool
        Run each training step as one program: compiled by ``jax.jit`` on JAX, captured as a CUDA graph and
        replayed on CuPy and PyTorch CUDA (one launch per step; see ``docs/performance.md``). False runs it operation
        by operation. Where a step cannot be captured (data-parallel, data streamed from the host) it runs
        operation by operation and ``history.meta["step_note"]`` says why.
    precision : {"highest", "tf32", "bf16"}
        The training step's matrix products: full float32 (or float64); TensorFloat-32 tensor cores (CUDA GPUs: CuPy,
        PyTorch, JAX; refused on CPUs, which have none); or bfloat16 operands with float32 weights, gradients and
        optimizer state (PyTorch, JAX). Evaluation and prediction use full precision. See ``docs/performance.md``
        for the speed and the parity of each.
    distributed : bool or "auto" or xpnet.distributed.Session
        Data-parallel training over MPI (``mpiexec -n 4 python script.py``): every rank trains on its share of
        each global batch of ``batch_size`` samples on its own device and the gradients are summed over the
        ranks every step; only rank 0 writes checkpoints. ``"auto"`` turns it on when a launcher started more
        than one process; a session (:func:`xpnet.distributed.start`) is used as it is. See ``docs/distributed.md``.

    Raises
    ------
    RanksDisagreeError
        Data-parallel: the ranks hold different settings, data or weights (raised on every rank).
    TrainingDivergedError
        The loss became NaN or infinite; the error names the epoch and step and carries the last good weights.
    """
    checked = check_settings(dict(locals()))  # locals() here: exactly the arguments
    epochs, batch_size, hooks, l2, verbose = checked.epochs, checked.batch_size, checked.hooks, checked.l2, checked.verbose  # fmt: skip
    schedule, every, clip_norm, hidden = checked.schedule, checked.every, checked.clip_norm, checked.hidden
    model, opt, stopping = checked.model, checked.opt, checked.stopping
    lr = opt.lr
    session = start_session(distributed)
    check_norm_alone((model.arch.norm if model is not None else norm), session)
    root = session is None or session.is_root
    with contextlib.ExitStack() as scope:
        if session is not None:
            scope.enter_context(session.guard())
        if checkpoint_dir is not None and root:  # one run per checkpoint folder, and never another run's replaced
            scope.callback(claim_checkpoint_dir(checkpoint_dir, bool(resume), overwrite).release)
        seed = seed if session is None else session.shared_seed(seed)
        init_rng, shuffle_rng, split_rng, dropout_rng = generators(seed, 4)
        source = load_data(data, y, label=label, header=header, image_size=image_size)
        if source.flattened is not None and verbose and root:
            print(f"x: samples of shape {source.flattened} flattened to {source.x.shape[1]} features"
                  + (" (the model keeps the image shape)" if source.image_shape else ""))  # fmt: skip
        check_shareable(source.x, session)
        backend = model.backend if model is not None else pick_backend(device, source.x, session)
        scope.enter_context(backend.activate())  # cuda:N: CuPy allocates on the current GPU, whatever device= says
        loss = model.loss if model is not None else loss
        widths = (None, None) if model is None else (model.sizes[0], model.sizes[-1])
        if standardize is None:  # regression on raw features diverges at any rate that learns: standardize them
            standardize = not get_loss(loss).classifies and source.scale is None and model is None
        ready = prepare(source, backend, loss, validation=validation, rng=split_rng, n_features=widths[0],
                        n_out=widths[1], standardize=standardize)  # fmt: skip
        check_shareable(ready.x, session)  # what the validation split left
        if model is None:
            model = build_model(source, ready, backend, hidden, standardize=standardize,
                                standardize_targets=standardize_targets, activation=activation, loss=loss,
                                dropout=dropout, norm=norm, dtype=dtype or "float32", seed=init_rng,
                                norm_momentum=norm_momentum, norm_eps=norm_eps)  # fmt: skip
        check_batch_statistics(model.arch.norm if len(model.sizes) > 2 else None, ready.x.shape[0], batch_size)
        x, y = model._check_data(ready.x, ready.y)
        y = trained_targets(model, y)
        val = None if ready.val is None else model._check_data(*ready.val)
        test = None if ready.test is None else model._check_data(*ready.test)  # checked now, not after hours
        batches = Batches(x, y, backend, model.dtype, batch_size=batch_size, rng=shuffle_rng if shuffle else None,
                          placement=placement, scale=source.scale, shard=None if session is None else session.shard)  # fmt: skip
        if stopping is not None:
            hooks.append(stopping)
        history = History(meta=run_meta(source.name, backend.spec, batches, model, opt, locals()))
        history.meta.update({"run_id": uuid.uuid4().hex, **(meta or {})})
        config = {k: history.meta[k] for k in RESUME_KEYS} | {"n_train": batches.n}
        config |= {"ranks": history.meta["ranks"], "epochs": epochs, "precision": precision}  # ranks must agree on all
        total_steps = max(epochs * len(batches), 1)
        loop = Loop(model, opt, batches, l2, lambda step: lr * schedule(step / total_steps), epochs,
                    progress and verbose > 0, dropout_seed=int(dropout_rng.integers(2**62)), clip_norm=clip_norm,
                    base_lr=lr)  # fmt: skip
        loop.precision = check_precision(precision, backend, dtype_name(model.dtype))
        history.meta["precision"] = precision
        describe_step(loop, compile, session, history)
        start = None
        if checkpoint_dir is not None:
            start = attach_checkpoints(
                loop, checkpoint_dir, every, resume, history, config, session, bool(verbose) and root
            )
        if session is not None:
            join_training(
                session, loop, start, config, {"train": (x, y), "validation": val, "test": test}, history, hooks
            )
        if verbose and root:
            hooks.insert(0, EpochPrinter(on_cpu=backend.on_host))
        try:
            stopped = loop.run(hooks, val, source.scale, history, start, session)
        except KeyboardInterrupt:
            if session is not None:
                session.interrupted()  # the job ends; a rank other than 0 reports only if rank 0 could not
            if checkpoint_dir is not None:
                print(f"xpnet: interrupted; {loop.where_to_resume()}", file=sys.stderr, flush=True)
            raise
        finally:
            if session is not None:
                session.release()
        evaluation = None if test is None else _evaluate_test(model, test, source.scale, session, history)
        ranks = 1 if session is None else session.size
        return TrainResult(model, history, backend.spec, batches.placement, opt, evaluation, stopped, ranks)


def _evaluate_test(model: MLP, test: tuple[Any, Any], scale: float | None, session: Session | None,
                   history: History) -> Evaluation:  # fmt: skip
    """The trained model on the test split, its figures recorded in the history's meta."""
    evaluation = evaluate(model, *test, x_scale=scale, session=session)
    history.meta.update(test_loss=evaluation.loss, test_accuracy=evaluation.accuracy)
    if evaluation.r2 is not None:
        history.meta.update(test_rmse=evaluation.rmse, test_mae=evaluation.mae, test_r2=evaluation.r2)
    return evaluation
