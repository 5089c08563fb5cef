"""What each ``xpnet`` subcommand does once its arguments are parsed (the parser lives in :mod:`xpnet.cli`)."""

from __future__ import annotations

import argparse
import inspect
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import cli_format
from .atomic import atomic_open
from .backend import devices, resolve, to_numpy
from .dataset_source import NAMED, DataSource, load_data
from .distributed import Session
from .distributed import start as start_session
from .errors import DataIntegrityError, RanksDisagreeError, TrainingDivergedError, XPNetValueError
from .evaluate import evaluate
from .history import History
from .io import load, save
from .model import MLP
from .train import train

TRAIN_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(train).parameters.items() if p.default is not p.empty
}
# Parameters of train() that are not plain options of `xpnet train`.
NOT_OPTIONS = {"data", "device", "callbacks", "model", "checkpoint_dir", "resume"}


def _scaled(x: np.ndarray, scale: float | None) -> np.ndarray:
    """Stored pixels as float32 in [0, 1], scaled the way training scales them on the device."""
    return x if scale is None else np.multiply(x, np.float32(scale), dtype=np.float32)


def _first(source: DataSource, n: int) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """``((x[:n], y[:n]), test)`` as float arrays (arrays given to train are not rescaled, so scale here)."""
    if n <= 0:
        raise XPNetValueError(f"--limit: expected a positive number of training samples; received {n}")
    assert source.test is not None  # every named data set has a test split
    x_test, y_test = source.test
    return (_scaled(source.x[:n], source.scale), source.y[:n]), (_scaled(x_test, source.scale), y_test)


def _write_predictions(model: MLP, source: DataSource, path: Path) -> None:
    """``predictions.npz`` with the test labels ``y_true`` and the model's ``y_pred`` (int64, shape (n,))."""
    assert source.test is not None
    x_test, y_test = source.test
    y_pred = to_numpy(model.predict(_scaled(x_test, source.scale)))
    with atomic_open(path, "wb") as f:
        np.savez(f, y_true=np.asarray(y_test, dtype=np.int64), y_pred=y_pred.astype(np.int64))


class _EpochTable:
    """Prints the placement and the table header when training starts, then one row per epoch (rank 0 only)."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown

    def on_train_begin(self, meta: dict[str, Any]) -> None:
        if self.shown:
            print(f"placement: {meta['placement']}")
            print(cli_format.table_header(), flush=True)

    def __call__(self, record: dict[str, Any], model: MLP) -> None:
        if self.shown:
            print(cli_format.table_row(record), flush=True)


def train_command(args: argparse.Namespace) -> int:
    session = start_session(args.distributed)
    if session is None:
        _train(args, None)
        return 0
    with session.guard():
        try:
            _train(args, session)
        except (TrainingDivergedError, RanksDisagreeError):  # raised on every rank: reported once, by rank 0
            if session.is_root:
                raise
            return 2
    return 0


def _train(args: argparse.Namespace, session: Session | None) -> None:
    root = session is None or session.is_root
    backend = resolve(args.device) if session is None else session.device(args.device)
    source = load_data(args.data)
    data = args.data if args.limit is None else _first(source, args.limit)
    out = Path(args.out)
    if root:
        out.mkdir(parents=True, exist_ok=True)  # fail on an unwritable folder before training, not after
    options = {name: getattr(args, name) for name in TRAIN_DEFAULTS if name not in NOT_OPTIONS}
    n_train = source.x.shape[0] if args.limit is None else min(args.limit, source.x.shape[0])
    if root:
        print(f"data: {args.data} ({n_train} training samples)")
        print(f"device: {backend.spec} ({backend.name})")
    checkpoint_dir = args.resume or args.checkpoint_dir
    result = train(
        data,
        device=backend,
        callbacks=[_EpochTable(root)],
        checkpoint_dir=checkpoint_dir,
        resume=bool(args.resume),
        **options,
    )
    if not root:
        return
    result.history.meta.update(data=args.data, limit=args.limit)
    if result.stopped_early:
        print(f"stopped early after {len(result.history)} epochs")
    written = [save(result.model, out / "model.safetensors"), result.history.save(out / "history.json")]
    if result.test is not None and source.test is not None:
        print(cli_format.evaluation_line("test", result.test))
        written.append(out / "predictions.npz")
        _write_predictions(result.model, source, written[-1])
    print("wrote " + ", ".join(str(path) for path in written))


def parity_command(args: argparse.Namespace) -> int:
    from .testing.parity import compare_backends
    from .testing.rank_parity import compare_ranks

    if args.ranks:
        if args.devices and len(args.devices) > 1:
            raise XPNetValueError(f"--devices: --ranks compares runs on one device; received {args.devices}")
        device = args.devices[0] if args.devices else "cpu"
        report = compare_ranks(args.ranks, device=device, steps=args.steps, dtype=args.dtype, seed=args.seed)
    else:
        report = compare_backends(args.devices, steps=args.steps, dtype=args.dtype, seed=args.seed)
    print(report.table())
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
        print(f"wrote {args.json}")
    what = "runs" if args.ranks else "devices"
    print(
        f"all {what} agree" if report.ok else f"DISAGREEMENT: at least one of the {what} differs beyond the tolerance"
    )
    return 0 if report.ok else 1


def eval_command(args: argparse.Namespace) -> None:
    model = load(args.model, device=args.device)
    source = load_data(args.data)
    assert source.test is not None  # every named data set has a test split
    x_test, y_test = source.test
    if model.loss == "quadratic":
        y_test = np.eye(model.sizes[-1], dtype=np.float32)[y_test]
    result = evaluate(model, x_test, y_test, x_scale=source.scale)
    print(f"model: {args.model} {model!r}")
    print(cli_format.evaluation_line(f"{args.data} test", result))
    print("confusion matrix (rows: true class, columns: predicted):")
    print(cli_format.confusion_table(result.confusion))


def devices_command(args: argparse.Namespace) -> None:
    for spec in devices():
        print(cli_format.device_line(spec, resolve(spec).name))


def _load_history(path: Path) -> History:
    try:
        return History.load(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataIntegrityError(f"{path}: not a history file written by xpnet ({type(exc).__name__}: {exc})") from exc


def _load_errors(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Test images of the run's data set with the saved ``y_true`` and ``y_pred``."""
    name = _load_history(run_dir / "history.json").meta.get("data")
    if name not in NAMED:
        raise XPNetValueError(
            f"{run_dir / 'history.json'}: data {name!r} is not one of {list(NAMED)}, so its test images cannot be found"
        )
    try:
        with np.load(run_dir / "predictions.npz") as saved:
            y_true, y_pred = saved["y_true"], saved["y_pred"]
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataIntegrityError(f"{run_dir / 'predictions.npz'}: expected arrays y_true and y_pred ({exc})") from exc
    source = load_data(name)
    assert source.test is not None
    x_test, y_test = source.test
    if not np.array_equal(y_test, y_true):
        raise DataIntegrityError(f"{run_dir / 'predictions.npz'}: y_true does not match the {name} test labels")
    return x_test, y_true, y_pred


def plot_command(args: argparse.Namespace) -> None:
    from . import plot

    path = Path(args.path)
    if args.errors:
        written = plot.plot_errors(*_load_errors(path), args.output or path / "errors.png")
    else:
        history_path = path / "history.json" if path.is_dir() else path
        written = plot.plot_history(_load_history(history_path), args.output or history_path.with_name("curves.png"))
    print(f"wrote {written}")
