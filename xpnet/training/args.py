"""Argument checks of :func:`xpnet.train` (each error names the argument, what was received and what was expected)
and the small decisions made from the arguments alone."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._version import __version__
from ..backend import Backend, backend_of, dtype_name, float_name, is_host_array, resolve, resolve_local, satisfies
from ..backend.precision import check_precision
from ..data.batches import check_batch_size, check_placement
from ..data.sources import check_validation
from ..errors import DeviceMismatchError, XPNetTypeError, XPNetValueError, describe
from ..nn.architecture import check_architecture
from ..nn.init import check_seed
from ..nn.losses import get_loss
from ..nn.network import MLP, check_model
from ..optim import Optimizer, make_optimizer
from ..validation import check_array, check_float, check_hidden
from .callbacks import EarlyStopping
from .schedules import Schedule, get_schedule

Callback = Callable[[dict[str, Any], MLP], Any]


@dataclass(frozen=True)
class Settings:
    """The arguments of :func:`xpnet.train` that need no data, checked and in the form training uses."""

    epochs: int
    batch_size: int
    hooks: list[Callback]
    l2: float
    verbose: int
    schedule: Schedule
    every: int | None
    clip_norm: float | None
    hidden: Sequence[int]
    model: MLP | None
    opt: Optimizer
    stopping: EarlyStopping | None


def check_settings(args: dict[str, Any]) -> Settings:
    """Check :func:`xpnet.train`'s arguments (a dict of all of them) that need no data, so that a mistake is
    reported before any data is read (``xpnet train`` calls this first too); each error names the argument."""
    epochs, batch_size = check_epochs(args["epochs"]), check_batch_size(args["batch_size"])
    hooks, verbose = check_callbacks(args["callbacks"]), check_verbose(args["verbose"])
    lr = None if args["lr"] is None else check_float("lr", args["lr"], low_inclusive=False)
    l2 = check_float("l2", args["l2"])
    schedule, every = get_schedule(args["lr_schedule"]), check_every(args["checkpoint_every"])
    clip_norm = args["clip_norm"]
    clip_norm = None if clip_norm is None else check_float("clip_norm", clip_norm, low_inclusive=False)
    model, hidden = args["model"], args["hidden"]
    if model is not None:
        fixed = {name: args[name] for name in ARCHITECTURE_DEFAULTS}
        model = check_continued_model(model, args["device"], args["dtype"], fixed)
    else:
        hidden = check_hidden(hidden)
        get_loss(args["loss"])
        check_architecture(
            len(hidden), args["activation"], args["dropout"], args["norm"], args["norm_momentum"], args["norm_eps"]
        )
    if args["dtype"] is not None:
        float_name(args["dtype"])
    check_placement(args["placement"])
    check_validation(args["validation"])
    stopping = args["early_stopping"]
    if stopping is not None and not isinstance(stopping, EarlyStopping):
        stopping = EarlyStopping(stopping)
    check_seed(args["seed"])
    check_precision(args["precision"])
    if args["standardize"] is not None and not isinstance(args["standardize"], bool):
        raise XPNetTypeError(
            f"standardize: expected True, False or None (on for regression); received {describe(args['standardize'])}"
        )
    for flag in ("compile", "overwrite", "standardize_targets"):
        if not isinstance(args[flag], bool):
            raise XPNetTypeError(f"{flag}: expected True or False; received {describe(args[flag])}")
    if args["meta"] is not None and not isinstance(args["meta"], dict):
        raise XPNetTypeError(
            f"meta: expected a dict of facts to record with the run; received {describe(args['meta'])}"
        )
    folder = args["checkpoint_dir"]
    if folder is not None and os.path.exists(folder) and not os.path.isdir(folder):
        raise XPNetValueError(
            f"checkpoint_dir: {os.fspath(folder)!r} is a file; expected a folder (for checkpoint.safetensors and "
            "history.json)"
        )
    if args["resume"] and not isinstance(args["seed"], (int, np.integer)):
        raise XPNetValueError(
            f"seed: resume needs an integer seed, so the validation split and batch order can be redrawn; received {describe(args['seed'])}"
        )
    if args["checkpoint_dir"] is None and (args["resume"] or every is not None):
        raise XPNetValueError("checkpoint_dir: resume and checkpoint_every need a checkpoint_dir; received None")
    if stopping is not None and args["validation"] is None:
        raise XPNetValueError("early_stopping: needs validation data; pass validation=0.1 or (x_val, y_val)")
    optimizer, weight_decay = args["optimizer"], args["weight_decay"]
    if isinstance(optimizer, Optimizer) and weight_decay is not None:
        raise XPNetValueError(
            f"weight_decay: {type(optimizer).__name__} objects carry their own settings; received weight_decay="
            f"{weight_decay!r} beside one. Pass xpnet.optim.AdamW(lr, weight_decay=...) instead"
        )
    loss = model.loss if model is not None else args["loss"]  # regression takes smaller default rates
    opt = (
        optimizer
        if isinstance(optimizer, Optimizer)
        else make_optimizer(optimizer, lr, loss, momentum=args["momentum"], weight_decay=weight_decay)
    )
    return Settings(epochs, batch_size, hooks, l2, verbose, schedule, every, clip_norm, hidden, model, opt, stopping)


def check_epochs(epochs: Any) -> int:
    """A positive number of epochs: 0 would write an untrained model as if it had trained."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise XPNetValueError(
            f"epochs: expected a positive number of passes over the data; received {describe(epochs)} (0 would only "
            "save the untrained model)"
        )
    return int(epochs)


def check_every(every: Any) -> int | None:
    if every is None:
        return None
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every <= 0:
        raise XPNetValueError(
            f"checkpoint_every: expected a positive number of steps or None; received {describe(every)}"
        )
    return int(every)


def check_callbacks(callbacks: Any) -> list[Callback]:
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


ARCHITECTURE_DEFAULTS: dict[str, Any] = {"hidden": (512,), "activation": "relu", "loss": "cross_entropy",
                                         "dropout": 0.0, "norm": None, "norm_momentum": 0.1,
                                         "norm_eps": 1e-5}  # xpnet.train's defaults  # fmt: skip


def _agrees(value: Any, fixed: Any) -> bool:
    """``value`` as given to :func:`xpnet.train` means ``fixed``: equal, a sequence of it, or one dropout rate for
    every layer."""
    if isinstance(fixed, tuple) and not isinstance(value, (str, bytes)):
        if np.ndim(value) == 0:
            return all(v == value for v in fixed) if fixed else value == 0
        return tuple(value) == fixed
    return bool(value == fixed)


def check_continued_model(model: Any, device: Any, dtype: Any, architecture: dict[str, Any]) -> MLP:
    """A model to continue training; an explicit device or dtype must agree with it (nothing moves silently), and
    the architecture options (``hidden``, ``activation``, ``loss``, ``dropout``, ``norm``, ``norm_momentum``,
    ``norm_eps``), which the model fixes, must be left at their defaults or agree with it."""
    model = check_model(model)
    arch = model.arch
    fixed = {"hidden": tuple(model.sizes[1:-1]), "activation": model.activation, "loss": model.loss,
             "dropout": arch.dropout, "norm": arch.norm, "norm_momentum": arch.norm_momentum,
             "norm_eps": arch.norm_eps}  # fmt: skip
    for name, value in architecture.items():
        default, own = ARCHITECTURE_DEFAULTS[name], fixed[name]
        if _agrees(value, default) or _agrees(value, own):
            continue
        raise XPNetValueError(
            f"{name}: the model given with model= fixes its layers (its {name} is {own!r}); received "
            f"{name}={value!r}; omit {name}, or build the model with xpnet.MLP(..., {name}=...)"
        )
    if not satisfies(device, model.backend):
        raise DeviceMismatchError(
            f"device: the model lives on {model.backend.spec!r} but device={device!r} was given; "
            "omit device (or move the model with xpnet.save / xpnet.load(path, device=...))"
        )
    if dtype is not None and dtype_name(dtype) != dtype_name(model.dtype):
        raise XPNetValueError(
            f"dtype: the model is {dtype_name(model.dtype)} but dtype={dtype!r} was given; omit dtype"
        )
    return model


def check_shareable(x: Any, session: Any) -> None:
    """Every rank needs at least one training row (checked before any other data check: the job cannot run)."""
    shape = getattr(x, "shape", None)
    n = shape[0] if shape else None
    if session is not None and n is not None and n < session.size:
        raise XPNetValueError(
            f"x: {n} training samples cannot be shared by {session.size} ranks; use fewer ranks or more data"
        )


def pick_backend(device: str | Backend | None, x: Any, session: Any) -> Backend:
    """An explicit device wins; ``"auto"`` follows data that already live on a device; ranks take their own GPU."""
    if (device is None or device == "auto") and not is_host_array(x):
        return backend_of(check_array("x", x))
    return resolve(device) if session is None else resolve_local(device, session.comm.local_rank)


def check_verbose(verbose: Any) -> int:
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose not in (0, 1):
        raise XPNetValueError(f"verbose: expected 0 (silent) or 1 (a line per epoch); received {describe(verbose)}")
    return int(verbose)


def check_batch_statistics(norm: str | None, n: int, batch_size: int) -> None:
    """Batch norm cannot normalize a batch of one sample (its variance is undefined): no batch may hold one."""
    if norm != "batch":
        return
    if n == 1:
        raise XPNetValueError("x: norm='batch' needs at least 2 training samples; received 1")
    if batch_size == 1:
        raise XPNetValueError(
            "batch_size: norm='batch' needs at least 2 samples per batch (one sample has no variance); received 1; "
            "use a larger batch_size or norm='layer'"
        )
    if n > batch_size and n % batch_size == 1:
        other = next(b for b in range(batch_size + 1, n + 1) if n == b or n % b != 1)
        raise XPNetValueError(
            f"batch_size: with norm='batch' every batch needs at least 2 samples, but {n} training samples in "
            f"batches of {batch_size} leave a last batch of 1; choose another batch_size (such as {other}) "
            "or use norm='layer'"
        )


def check_norm_alone(norm: str | None, session: Any) -> None:
    """Batch norm needs the whole batch's statistics, which a data-parallel rank does not have: refused there."""
    if norm == "batch" and session is not None:
        raise XPNetValueError(
            "norm: batch normalization is not supported in data-parallel training (each rank would normalize with "
            "its shard's statistics); use norm='layer', or train in one process"
        )


def run_meta(data: str, device: str, batches: Any, model: MLP, opt: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The settings a run records in its history (and compares on resume), from :func:`xpnet.train`'s arguments."""
    optimizer, schedule, seed, session = args["optimizer"], args["lr_schedule"], args["seed"], args["session"]
    arch = model.arch
    return {
        "xpnet": __version__, "data": data, "device": device, "placement": batches.placement,
        "sizes": list(model.sizes), "activation": model.activation, "loss": model.loss,
        "dtype": dtype_name(model.dtype), "optimizer": optimizer if isinstance(optimizer, str) else type(opt).__name__.lower(),
        "lr": opt.lr, "momentum": args["momentum"], "l2": args["l2"], "batch_size": args["batch_size"],
        "lr_schedule": schedule if isinstance(schedule, str) else "custom", "epochs": args["epochs"],
        "seed": seed if isinstance(seed, int) else None, "ranks": 1 if session is None else session.size,
        "standardize": bool(args["standardize"]), "shuffle": bool(args["shuffle"]),
        "standardize_targets": bool(args["standardize_targets"]) and not model._loss.classifies,
        "dropout": list(arch.dropout) if any(arch.dropout) else 0.0, "norm": arch.norm,
        "norm_momentum": arch.norm_momentum if arch.norm == "batch" else None,  # only what acts on the network
        "norm_eps": arch.norm_eps if arch.norm else None,
        "clip_norm": args["clip_norm"], "weight_decay": getattr(opt, "weight_decay", None),
        "validation": _validation_setting(args["validation"]),
    }  # fmt: skip


def _validation_setting(validation: Any) -> float | str | None:
    """How a run holds out validation data, as recorded: the fraction, ``"given"`` (explicit arrays) or None."""
    if validation is None or isinstance(validation, (float, int)):
        return validation
    return "given"
