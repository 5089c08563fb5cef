"""Checkpoints for exact resume: model, optimizer state, RNG state, position in the epoch, running metrics, history.

One file, ``checkpoint.safetensors`` in the checkpoint folder, replaced atomically (see :mod:`xpnet.io.atomic`)
together with ``history.json``; at no instant is a half-written checkpoint visible. Weights and optimizer
buffers are tensors; everything else is JSON in the file's metadata. Nothing is ever unpickled.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import as_parameter, to_numpy
from ..errors import XPNetValueError
from ..io.ownership import FolderLock, claim, network, recorded, run_id, when
from ..io.tensors import read_tensors, write_tensors
from ..nn.network import MLP
from ..optim import Optimizer
from .history import History

FILE_NAME = "checkpoint.safetensors"
_ADVISORY = ("epochs", "ranks", "precision")  # settings a resumed run may change (data-parallel ranks may not)
_ADDED_LATER = {
    "standardize": False,
    "shuffle": True,
    "ranks": 1,
    "dropout": 0.0,
    "norm": None,
    "clip_norm": None,
    "weight_decay": None,
    "standardize_targets": False,
}  # settings newer than format version 1, with their defaults
# Settings older checkpoints did not record, compared only when recorded: before xpnet.train took norm_momentum and
# norm_eps, a model given with model= could already have other values than the defaults.
_RECORDED_LATER = ("validation", "norm_momentum", "norm_eps")
KIND = "xpnet.checkpoint"


@dataclass
class Position:
    """Where training stands: the next batch to run is batch ``position`` of ``epoch`` (1-based epochs).

    ``rng_state`` is the shuffling generator's state from which ``epoch``'s permutation is drawn; ``metrics``
    the running sums ``(ranks, 2)`` and sample counts of every rank of the job (one row without MPI).
    """

    epoch: int
    position: int
    rng_state: Mapping[str, Any] | None
    metrics: tuple[np.ndarray, list[int]] | None = None
    stopped_early: bool = False  # the run ended by early stopping: a resume trains no further

    def metrics_of(self, rank: int, size: int) -> tuple[np.ndarray, int] | None:
        """The running sums rank ``rank`` of ``size`` continues from: its own when the job that wrote them had as
        many ranks (so a resumed epoch adds up exactly as before), else the whole job's on rank 0 and none elsewhere."""
        if self.metrics is None:
            return None
        sums, counts = self.metrics
        if len(counts) == size:
            return sums[rank], counts[rank]
        return (sums.sum(axis=0), sum(counts)) if rank == 0 else None


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    model: MLP,
    optimizer: Optimizer,
    where: Position,
    history: History,
    config: dict[str, Any],
) -> Path:
    """Write the checkpoint (and ``history.json``) into ``directory`` atomically; returns the checkpoint's path."""
    tensors = {f"param.{i}": to_numpy(p) for i, p in enumerate(model.params)}
    tensors.update({f"buffer.{i}": to_numpy(b) for i, b in enumerate(model.buffers)})
    for name, buffers in optimizer.state.items():
        tensors.update({f"opt.{name}.{i}": to_numpy(b) for i, b in enumerate(buffers)})
    if where.metrics is not None:
        tensors["metrics.sums"] = np.asarray(where.metrics[0], dtype=np.float64).reshape(-1, 2)
    meta = {
        "config": config,
        "epoch": where.epoch,
        "position": where.position,
        "rng_state": where.rng_state,
        "metrics_count": None if where.metrics is None else [int(c) for c in where.metrics[1]],
        "stopped_early": where.stopped_early,
        "optimizer": {"steps": optimizer.steps, "buffers": sorted(optimizer.state)},
        "history": history.to_dict(),
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = write_tensors(directory / FILE_NAME, tensors, meta, kind=KIND)
    history.save(directory / "history.json")
    return path


def claim_checkpoint_dir(directory: str | os.PathLike, resume: bool, overwrite: bool) -> FolderLock:
    """Lock ``directory`` for this run (refused, naming the holder, while another run holds it); a fresh run
    (not ``resume``) that finds another run's checkpoint there is refused, naming it, unless ``overwrite``, which
    removes it (a run that dies before its own first checkpoint must not leave that one to be resumed as if it
    were this run's). Returns the lock, held until released."""
    return claim(
        directory, "checkpoint_dir", found=lambda folder: None if resume else describe_checkpoint(folder),
        refusal=lambda found: (
            f"{directory} holds the checkpoint of another run ({found}); continue that run with resume=True "
            f"(xpnet train --resume {directory}), or start over in another folder, or replace it with overwrite=True "
            "(--overwrite)"
        ),
        clear=(FILE_NAME, "history.json"), overwrite=overwrite,
    )  # fmt: skip


def describe_checkpoint(folder: str | os.PathLike) -> str | None:
    """The run a checkpoint in ``folder`` belongs to (``"MLP 5-32-2 on data.csv, 3 of 3 epochs done, written
    ..."``), or None when there is no checkpoint there."""
    path = Path(folder) / FILE_NAME
    if not path.exists():
        return None
    history = recorded(folder)
    meta = dict(history.get("meta") or {})
    epochs = history.get("epochs")
    done = f", {len(epochs)} of {meta['epochs']} epochs done" if isinstance(epochs, list) and "epochs" in meta else ""
    return f"{network(meta)}{done}, written {when(path)}"


def checkpoint_run_id(folder: str | os.PathLike) -> str | None:
    """The id of the run whose checkpoint is in ``folder`` (from the ``history.json`` written with it), or None."""
    return run_id(folder) if (Path(folder) / FILE_NAME).exists() else None


def load_checkpoint(
    directory: str | os.PathLike,
    *,
    model: MLP,
    optimizer: Optimizer,
    config: dict[str, Any],
    history: History,
    quiet: bool = False,
) -> Position | None:
    """Restore ``model``, ``optimizer`` and ``history`` from ``directory``; ``None`` when there is no checkpoint yet.

    Raises :class:`XPNetValueError` when the checkpoint was written by a run with other settings (a resumed run
    must be the same run, or its result would not equal an uninterrupted one). A data-parallel checkpoint may
    resume on another number of ranks (``config["ranks"]``): the global batches are the same, so the result
    equals an uninterrupted run's up to rounding, not bit for bit; a warning says so (unless ``quiet``: the
    ranks of a job other than 0).
    """
    path = Path(directory) / FILE_NAME
    if not path.exists():
        return None
    tensors, meta = read_tensors(path, kind=KIND)
    saved = meta["config"]
    saved = _ADDED_LATER | saved  # checkpoints written before a setting existed ran with its default
    compared = [k for k in config if k not in _ADVISORY and (k in saved or k not in _RECORDED_LATER)]
    changed = {k: (saved.get(k), config[k]) for k in compared if saved.get(k) != config[k]}
    if changed:
        detail = ", ".join(f"{k}: checkpoint {old!r}, now {new!r}" for k, (old, new) in sorted(changed.items()))
        raise XPNetValueError(
            f"resume: the checkpoint in {directory} comes from a run with other settings ({detail}); "
            "resume with the same settings or choose a new checkpoint_dir"
        )
    _refuse_ending_before(directory, meta, config.get("epochs"))
    if (
        not quiet
        and "epochs" in saved
        and saved["epochs"] != config.get("epochs")
        and saved.get("lr_schedule") != "constant"
    ):
        warnings.warn(
            f"resume: the checkpoint's run was set for {saved['epochs']} epochs and this one for {config.get('epochs')}: "
            f"the {saved.get('lr_schedule')} learning-rate schedule is spread over the new total from here on, so the "
            "result equals neither an uninterrupted run of the old length nor one of the new",
            stacklevel=2,
        )
    if not quiet and saved.get("ranks", 1) != config.get("ranks", 1):
        warnings.warn(
            f"resume: the checkpoint in {directory} was written by {saved.get('ranks', 1)} rank(s) and this run has "
            f"{config.get('ranks', 1)}: the global batches are the same, so the result equals an uninterrupted run's "
            "up to rounding, but not bit for bit",
            stacklevel=2,
        )
    model.params[:] = [as_parameter(tensors[f"param.{i}"], model.backend) for i in range(len(model.params))]
    model.buffers[:] = [model.backend.asarray(tensors[f"buffer.{i}"]) for i in range(len(model.buffers))]
    buffers = {
        name: [as_parameter(tensors[f"opt.{name}.{i}"], model.backend) for i in range(len(model.params))]
        for name in meta["optimizer"]["buffers"]
    }
    optimizer.restore(meta["optimizer"]["steps"], buffers)
    saved_history = History.from_dict(meta["history"])
    history[:] = saved_history
    if saved_history.meta.get("run_id"):  # the resumed run is that run (its output folder is the caller's choice)
        history.meta["run_id"] = saved_history.meta["run_id"]
    metrics = None
    if meta["metrics_count"] is not None:  # one row per rank (format 1 files before MPI: a single row)
        counts = meta["metrics_count"]
        metrics = (tensors["metrics.sums"].reshape(-1, 2), counts if isinstance(counts, list) else [counts])
    return Position(meta["epoch"], meta["position"], meta["rng_state"], metrics, bool(meta.get("stopped_early")))


def _refuse_ending_before(directory: str | os.PathLike, meta: dict[str, Any], epochs: Any) -> None:
    """A resumed run set for fewer epochs than the checkpoint has begun would train nothing and return the
    checkpoint's mid-run weights as if finished: refused, with the number of epochs that continues it."""
    epoch, position = int(meta["epoch"]), int(meta["position"])
    needed = epoch if position else epoch - 1  # finish the epoch in progress; at an epoch's start, the ones done
    if isinstance(epochs, int) and epochs < needed and not meta.get("stopped_early"):
        fix = (
            f"epochs={needed} or more to continue it"
            if position
            else f"epochs={needed + 1} or more to continue it (epochs={needed} takes it as it stands)"
        )
        raise XPNetValueError(
            f"epochs: the checkpoint in {directory} is at epoch {epoch}, step {position}; a run of {epochs} epochs "
            f"would end before it and train nothing: pass {fix}, or choose a new checkpoint_dir"
        )
