"""``xpnet train``: a named data set or your own file, trained and saved (rank 0 writes under ``mpiexec``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import resolve, to_numpy
from ..backend.precision import check_precision
from ..backend.program_cache import keep_programs_of
from ..data.sources import NAMED, load_data
from ..datasets.files import LoadedFile, load_file
from ..distributed import Session
from ..distributed import start as start_session
from ..errors import RanksDisagreeError, TrainingDivergedError, XPNetValueError
from ..io.atomic import atomic_open
from ..io.format import save
from ..nn.network import MLP
from ..tabular import encode_labels
from ..training import report
from ..training.args import check_batch_statistics, check_norm_alone, check_settings
from ..training.train import train
from . import run_folder
from .messages import as_flag

TRAIN_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(train).parameters.items() if p.default is not p.empty
}
# Parameters of train() that are not plain options of `xpnet train`.
NOT_OPTIONS = {"data", "y", "device", "callbacks", "model", "checkpoint_dir", "resume", "verbose", "meta", "label",
               "header", "image_size"}  # fmt: skip


def check_arguments(args: argparse.Namespace, session: Session | None) -> None:
    """Mistakes the arguments alone show, reported before any data is read, in the command line's words."""
    if args.validation is not None and not 0.0 < args.validation < 1.0:
        raise XPNetValueError(
            f"--validation: expected a fraction between 0 and 1, such as 0.1; received {args.validation:g}"
        )
    if args.early_stopping is not None and args.validation is None:
        raise XPNetValueError("--early-stopping: needs a validation set to watch; add --validation 0.1 (a fraction)")
    if args.limit is not None and args.limit <= 0:
        raise XPNetValueError(f"--limit: expected a positive number of training samples; received {args.limit}")
    if args.checkpoint_every is not None and not (args.checkpoint_dir or args.resume):
        raise XPNetValueError(
            "--checkpoint-every: needs a folder to write the checkpoints into; add --checkpoint-dir DIR"
        )
    for flag, folder in (("--resume", args.resume), ("--checkpoint-dir", args.checkpoint_dir)):
        if folder and Path(folder).exists() and not Path(folder).is_dir():
            raise XPNetValueError(
                f"{flag}: {folder} is a file; expected the folder that holds (or will hold) the checkpoint"
            )
    check_settings(TRAIN_DEFAULTS | train_options(args) | checkpointing(args))  # train()'s own checks, before the data
    check_norm_alone(args.norm, session)
    check_batch_statistics(args.norm, 2, args.batch_size)  # a batch of one sample: refused before the data too


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of :func:`xpnet.train` given on the command line."""
    options = {name: getattr(args, name) for name in TRAIN_DEFAULTS if name not in NOT_OPTIONS}
    if isinstance(options["dropout"], list) and len(options["dropout"]) == 1:
        options["dropout"] = options["dropout"][0]  # one rate for every hidden layer
    return options


def checkpointing(args: argparse.Namespace) -> dict[str, Any]:
    """``--resume DIR`` / ``--checkpoint-dir DIR`` as :func:`xpnet.train`'s ``checkpoint_dir`` and ``resume``."""
    return {"checkpoint_dir": args.resume or args.checkpoint_dir, "resume": bool(args.resume)}


def read_data(args: argparse.Namespace) -> LoadedFile:
    """``--data``: a named data set (its pixels kept as uint8) or a file, cut to ``--limit`` rows."""
    if args.data.lower() in NAMED:
        source = load_data(args.data.lower())
        loaded = LoadedFile(source.x, source.y, source.test, scale=source.scale, name=source.name,
                            image_shape=source.image_shape)  # fmt: skip
    elif not Path(args.data).exists():
        raise XPNetValueError(
            f"--data: {args.data!r} is neither a data set name ({', '.join(NAMED)}) nor an existing file or folder"
        )
    else:
        loaded = load_file(args.data, label=args.label, image_size=args.image_size, header=args.header)
    if args.limit is not None:
        assert loaded.y is not None
        loaded = dataclasses.replace(loaded, x=loaded.x[: args.limit], y=loaded.y[: args.limit])
    return loaded


def train_command(args: argparse.Namespace) -> int:
    session = start_session(args.distributed)
    if session is None:
        check_arguments(args, None)
        _train(args, None)
        return 0
    session.error_text = lambda exc: f"xpnet: error: {as_flag(str(exc), args)}"
    folder = args.resume or args.checkpoint_dir
    if folder:
        command = f"mpiexec -n {session.size} {resume_command(sys.argv[1:], folder)}"
        session.on_interrupt = lambda: print(f"xpnet: continue with: {command}", file=sys.stderr, flush=True)
    with session.guard():
        try:
            check_arguments(args, session)  # inside the session: bad arguments are reported once, by rank 0
            _train(args, session)
        except (TrainingDivergedError, RanksDisagreeError):  # raised on every rank: reported once, by rank 0
            if session.is_root:
                raise
            return 2
    return 0


def _train(args: argparse.Namespace, session: Session | None) -> None:
    root = session is None or session.is_root
    backend = resolve(args.device) if session is None else session.device(args.device)
    check_precision(args.precision, backend, args.dtype or "float32")  # refused before a run folder is made
    with contextlib.ExitStack() as scope:
        out, made = run_folder.choose(args) if root else (Path("."), False)
        if root:
            scope.callback(run_folder.claim_run_folder(out, args, made).release)
            print(f"run folder: {out}")
        _run(args, session, backend, out)


def _run(args: argparse.Namespace, session: Session | None, backend: Any, out: Path) -> None:
    root = session is None or session.is_root
    loaded = read_data(args)
    kept = keep_programs_of(backend)  # JAX's compiled programs, loaded by the next run instead of compiled again
    if root:
        print(f"data: {loaded.name} ({loaded.x.shape[0]} training samples)")
        print(f"device: {backend.spec} ({backend.name})" + (f"; compiled programs kept in {kept}" if kept else ""))
    options = train_options(args) | checkpointing(args) | {"meta": {"run_folder": str(out)}}
    if session is not None:
        options["distributed"] = session  # this command's session, with its hooks, not a new one
    result = train(loaded, device=backend, **options)
    if not root:
        return
    result.history.meta.update(data=loaded.name, limit=args.limit)
    if result.stopped_early:
        print(f"stopped early after {len(result.history)} epochs")
    written = [save(result.model, out / "model.safetensors"), result.history.save(out / "history.json")]
    if result.test is not None and loaded.test is not None:
        print(report.evaluation_line("test", result.test))
        written.append(write_predictions(result.model, loaded, out / "predictions.npz"))
    print("wrote " + ", ".join(str(path) for path in written))


def scaled(x: np.ndarray, scale: float | None) -> np.ndarray:
    """Stored pixels as float32 in [0, 1], scaled the way training scales them on the device."""
    return x if scale is None else np.multiply(x, np.float32(scale), dtype=np.float32)


def write_predictions(model: MLP, loaded: LoadedFile, path: Path) -> Path:
    """``predictions.npz``: the test labels ``y_true`` and the model's ``y_pred`` (class indices, int64, ``(n,)``)
    and, for named classes, their names ``classes``."""
    assert loaded.test is not None
    x_test, y_test = loaded.test
    y_true = encode_labels("y_test", np.asarray(y_test), model.classes)[0] if model.classes else y_test
    y_pred = to_numpy(model.predict(scaled(x_test, loaded.scale)))
    arrays = {"y_true": np.asarray(y_true, dtype=np.int64), "y_pred": y_pred.astype(np.int64)}
    if model.classes is not None:
        arrays["classes"] = np.asarray(model.classes)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return path


def resume_command(argv: list[str], directory: str) -> str:
    """The command that continues the interrupted ``xpnet train`` run from ``directory``."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in ("--checkpoint-dir", "--resume"):
            skip = True
            continue
        if not word.startswith(("--checkpoint-dir=", "--resume=")):
            kept.append(word)
    return shlex.join(["xpnet", *kept, "--resume", directory])
