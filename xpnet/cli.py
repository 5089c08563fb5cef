"""The ``xpnet`` command: ``train``, ``eval``, ``devices``, ``parity`` and ``plot`` (also ``python -m xpnet``).

Every default of ``xpnet train`` is read from the signature of :func:`xpnet.train`, and every list of names
(optimizers, activations, ...) from the table that defines it, so the command line never drifts from the API.
Errors raised on purpose (:class:`xpnet.XPNetError`) and unwritable paths print ``xpnet: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from . import cli_commands as commands_module
from ._version import __version__
from .activations import ACTIVATIONS
from .cli_commands import TRAIN_DEFAULTS
from .data import PLACEMENTS
from .dataset_source import NAMED
from .errors import XPNetError
from .losses import LOSSES
from .optim import OPTIMIZERS
from .schedules import SCHEDULES


class _Parser(argparse.ArgumentParser):
    """Usage errors read ``xpnet: error: ...`` and exit 2, like the errors raised while running."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"xpnet: error: {message}\n{self.format_usage()}")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` except for switches and options that default to off (None)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def _spec_list(text: str) -> list[str]:
    return [spec.strip() for spec in text.split(",") if spec.strip()]


def _rank_list(text: str) -> list[int]:
    try:
        ranks = [int(part) for part in _spec_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers of ranks such as 2,3; received {text!r}") from None
    if not ranks or min(ranks) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers of ranks >= 1 such as 2,3; received {text!r}")
    return ranks


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``xpnet`` command with its subcommands (train, eval, devices, parity, plot)."""
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
    t.add_argument(
        "--checkpoint-dir", metavar="DIR", help="checkpoint here every epoch (and every --checkpoint-every steps)"
    )
    t.add_argument("--checkpoint-every", type=int, metavar="STEPS", help="also checkpoint every STEPS steps, mid-epoch")
    t.add_argument(
        "--resume", metavar="DIR", help="continue from the checkpoint in DIR (same settings), checkpointing there"
    )
    t.add_argument(
        "--distributed",
        action=argparse.BooleanOptionalAction,
        default=d["distributed"],
        help="data-parallel training over MPI; by default on when mpiexec/srun started more than one process",
    )
    t.add_argument("--limit", type=int, metavar="N", help="use only the first N training samples (quick runs)")
    t.add_argument(
        "--out",
        default="xpnet-run",
        metavar="DIR",
        help="folder for model.safetensors, history.json and predictions.npz",
    )
    t.set_defaults(run=commands_module.train_command)

    dv = commands.add_parser(
        "devices",
        help="list the devices usable here",
        description="List the device specs usable on this machine (pass one as --device) and their backend family.",
    )
    dv.set_defaults(run=commands_module.devices_command)

    ev = commands.add_parser(
        "eval",
        help="evaluate a saved model on a test set",
        description="Load MODEL (written by `xpnet train` or xpnet.save) and print its test loss, accuracy and "
        "confusion matrix.",
        formatter_class=_Formatter,
    )
    ev.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    ev.add_argument("--device", default="auto", help="device spec to evaluate on")
    ev.add_argument("--data", choices=NAMED, default="mnist", help="data set whose test split is used")
    ev.set_defaults(run=commands_module.eval_command)

    pa = commands.add_parser(
        "parity",
        help="train one seeded model on several devices and compare them step by step",
        description="Train the same seeded model on the same batches on each device and compare the loss and every "
        "parameter after each step with the first device; with --ranks, compare data-parallel runs of that many MPI "
        "ranks with the 1-process run of the same global batch. Exits 1 when a run disagrees.",
        formatter_class=_Formatter,
    )
    pa.add_argument("--devices", type=_spec_list, help="comma-separated specs (default: every usable device)")
    pa.add_argument("--steps", type=int, default=100, help="optimizer steps to compare")
    pa.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="floating dtype")
    pa.add_argument("--seed", type=int, default=0, help="seed of model, data and batch order")
    pa.add_argument(
        "--ranks",
        type=_rank_list,
        metavar="N[,M...]",
        help="instead, compare data-parallel runs of N (M, ...) MPI ranks on one device with the 1-process run",
    )
    pa.add_argument("--json", metavar="FILE", help="also write the per-step differences as JSON")
    pa.set_defaults(run=commands_module.parity_command)

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
    p.set_defaults(run=commands_module.plot_command)
    return parser


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
