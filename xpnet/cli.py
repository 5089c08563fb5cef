"""The ``xpnet`` command: ``train``, ``devices``, ``parity`` and ``plot`` (also ``python -m xpnet``).

Every default of ``xpnet train`` is read from the signature of :func:`xpnet.train`, and every list of names
(optimizers, activations, ...) from the table that defines it, so the command line never drifts from the API.
Errors raised on purpose (:class:`xpnet.XPNetError`) and unwritable paths print ``xpnet: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import zipfile
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import cli_format
from ._version import __version__
from .activations import ACTIVATIONS
from .atomic import atomic_open
from .backend import devices, resolve, to_numpy
from .data import PLACEMENTS
from .dataset_source import NAMED, DataSource, load_data
from .errors import DataIntegrityError, XPNetError, XPNetValueError
from .history import History
from .losses import LOSSES
from .model import MLP
from .optim import OPTIMIZERS
from .schedules import SCHEDULES
from .train import train

TRAIN_DEFAULTS: dict[str, Any] = {
    name: p.default for name, p in inspect.signature(train).parameters.items() if p.default is not p.empty
}
# Parameters of train() that are not plain options of `xpnet train`.
_NOT_OPTIONS = {"data", "device", "callbacks", "model"}


class _Parser(argparse.ArgumentParser):
    """Usage errors read ``xpnet: error: ...`` and exit 2, like the errors raised while running."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"xpnet: error: {message}\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` except for switches and options that default to off (None)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``xpnet`` command with its three subcommands."""
    parser = _Parser(prog="xpnet", description="Train MLPs on NumPy, CuPy, PyTorch or array-api-strict.")
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = TRAIN_DEFAULTS

    t = commands.add_parser(
        "train",
        help="train an MLP on a data set and save its history and test predictions",
        description="Train an MLP, print one table row per epoch, write history.json and predictions.npz to --out.",
        formatter_class=_Formatter,
    )
    t.add_argument("--data", choices=NAMED, default=d["data"], help="data set")
    t.add_argument("--device", default=d["device"], help='device spec such as "cpu", "cuda:0" (see `xpnet devices`)')
    t.add_argument("--epochs", type=int, default=d["epochs"], help="passes over the training data")
    t.add_argument("--hidden", type=int, nargs="+", default=list(d["hidden"]), metavar="WIDTH", help="hidden widths")
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), default=d["activation"], help="hidden activation")
    t.add_argument("--loss", choices=sorted(LOSSES), default=d["loss"], help="loss function")
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=d["optimizer"], help="update rule")
    t.add_argument("--lr", type=float, default=d["lr"], help="peak learning rate")
    t.add_argument("--momentum", type=float, default=d["momentum"], help="momentum coefficient")
    t.add_argument("--batch-size", type=int, default=d["batch_size"], help="samples per step")
    t.add_argument("--l2", type=float, default=d["l2"], help="L2 penalty on the weights")
    t.add_argument("--lr-schedule", choices=sorted(SCHEDULES), default=d["lr_schedule"], help="learning-rate schedule")
    t.add_argument(
        "--validation",
        type=float,
        default=d["validation"],
        metavar="FRACTION",
        help="hold out this fraction of the training data for validation",
    )
    t.add_argument(
        "--early-stopping",
        type=int,
        default=d["early_stopping"],
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a lower validation loss (needs --validation)",
    )
    t.add_argument("--placement", choices=PLACEMENTS, default=d["placement"], help="where the data set lives")
    t.add_argument("--dtype", default=d["dtype"], help="float32 or float64")
    t.add_argument("--seed", type=int, default=d["seed"], help="seeds weights, batch order and validation split")
    t.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=d["progress"],
        help="do not show a progress bar during each epoch",
    )
    t.add_argument("--limit", type=int, metavar="N", help="use only the first N training samples (quick runs)")
    t.add_argument("--out", default="xpnet-run", metavar="DIR", help="folder for history.json and predictions.npz")
    t.set_defaults(run=_train)

    dv = commands.add_parser(
        "devices",
        help="list the devices usable here",
        description="List the device specs usable on this machine (pass one as --device) and their backend family.",
    )
    dv.set_defaults(run=_devices)

    pa = commands.add_parser(
        "parity",
        help="train one seeded model on several devices and compare them step by step",
        description="Train the same seeded model on the same batches on each device and compare the loss and every "
        "parameter after each step with the first device. Exits 1 when a device disagrees.",
        formatter_class=_Formatter,
    )
    pa.add_argument("--devices", type=_spec_list, help="comma-separated specs (default: every usable device)")
    pa.add_argument("--steps", type=int, default=100, help="optimizer steps to compare")
    pa.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="floating dtype")
    pa.add_argument("--seed", type=int, default=0, help="seed of model, data and batch order")
    pa.add_argument("--json", metavar="FILE", help="also write the per-step differences as JSON")
    pa.set_defaults(run=_parity)

    p = commands.add_parser(
        "plot",
        help="plot learning curves, or misclassified test images and the confusion matrix",
        description="Plot the loss and accuracy curves of HISTORY_JSON (or of RUN_DIR/history.json); with --errors, "
        "plot misclassified test images and the confusion matrix from RUN_DIR/predictions.npz.",
    )
    p.add_argument("path", metavar="HISTORY_JSON|RUN_DIR", help="a history.json, or a run folder written by train")
    p.add_argument("--errors", action="store_true", help="plot misclassified test images and the confusion matrix")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="image to write (default: curves.png or errors.png in the run folder)"
    )
    p.set_defaults(run=_plot)
    return parser


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
    """Prints the placement and the table header when training starts, then one row per epoch."""

    def on_train_begin(self, meta: dict[str, Any]) -> None:
        print(f"placement: {meta['placement']}")
        print(cli_format.table_header(), flush=True)

    def __call__(self, record: dict[str, Any], model: MLP) -> None:
        print(cli_format.table_row(record), flush=True)


def _train(args: argparse.Namespace) -> None:
    backend = resolve(args.device)
    source = load_data(args.data)
    data = args.data if args.limit is None else _first(source, args.limit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # fail on an unwritable folder before training, not after
    options = {name: getattr(args, name) for name in TRAIN_DEFAULTS if name not in _NOT_OPTIONS}
    n_train = source.x.shape[0] if args.limit is None else min(args.limit, source.x.shape[0])
    print(f"data: {args.data} ({n_train} training samples)")
    print(f"device: {backend.spec} ({backend.name})")
    result = train(data, device=backend, callbacks=[_EpochTable()], **options)
    result.history.meta.update(data=args.data, limit=args.limit)
    if result.stopped_early:
        print(f"stopped early after {len(result.history)} epochs")
    written = [result.history.save(out / "history.json")]
    if result.test is not None and source.test is not None:
        print(cli_format.evaluation_line("test", result.test))
        written.append(out / "predictions.npz")
        _write_predictions(result.model, source, written[-1])
    print("wrote " + ", ".join(str(path) for path in written))


def _spec_list(text: str) -> list[str]:
    return [spec.strip() for spec in text.split(",") if spec.strip()]


def _parity(args: argparse.Namespace) -> int:
    from .testing.parity import compare_backends

    report = compare_backends(args.devices, steps=args.steps, dtype=args.dtype, seed=args.seed)
    print(report.table())
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
        print(f"wrote {args.json}")
    print("all devices agree" if report.ok else "DISAGREEMENT: at least one device differs beyond the tolerance")
    return 0 if report.ok else 1


def _devices(args: argparse.Namespace) -> None:
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


def _plot(args: argparse.Namespace) -> None:
    from . import plot

    path = Path(args.path)
    if args.errors:
        written = plot.plot_errors(*_load_errors(path), args.output or path / "errors.png")
    else:
        history_path = path / "history.json" if path.is_dir() else path
        written = plot.plot_history(_load_history(history_path), args.output or history_path.with_name("curves.png"))
    print(f"wrote {written}")


def main(argv: list[str] | None = None) -> int:
    """Run the ``xpnet`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0 on success, 2 for bad input or unwritable paths (``xpnet: error: ...`` on stderr), 130 when interrupted.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has already printed
        return int(exc.code or 0)
    try:
        status = args.run(args)
    except (XPNetError, OSError) as exc:
        print(f"xpnet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)
