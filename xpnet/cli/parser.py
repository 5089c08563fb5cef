"""The argument parser of the ``xpnet`` command and its subcommands.

Every default of ``xpnet train`` is read from the signature of :func:`xpnet.train`, and every list of names
(optimizers, activations, ...) from the table that defines it, so the command line never drifts from the API.
Names are case-insensitive, like device specs.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .._version import __version__
from ..backend.precision import PRECISIONS
from ..data.batches import PLACEMENTS
from ..data.sources import NAMED
from ..nn.activations import ACTIVATIONS
from ..nn.losses import LOSSES
from ..optim import OPTIMIZERS
from ..training.schedules import SCHEDULES
from . import models, tools
from . import train as train_module
from .train import TRAIN_DEFAULTS


class _Parser(argparse.ArgumentParser):
    """Usage errors print the usage, then ``xpnet: error: ...`` as the last line, and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.format_usage()}xpnet: error: {message}\n")


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


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 28x28; received {text!r}")
    return int(parts[0]), int(parts[1])


def _add_file_options(parser: argparse.ArgumentParser, label_help: str) -> None:
    """--label, --header/--no-header and --image-size: how a file of your own is read (train, eval, predict)."""
    parser.add_argument("--label", metavar="COLUMN", help=label_help)
    parser.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                        help="the CSV's first row names the columns (default: guessed from the file: a first row "
                        "with words over columns of numbers)")  # fmt: skip
    parser.add_argument("--image-size", type=_image_size, metavar="WxH",
                        help="resize the images of an image folder (predict and eval: default the size and colour the "
                        "model was trained on)")  # fmt: skip


def _add_load_dtype(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dtype", type=str.lower, choices=["float32", "float64"], default=None,
                        help="cast the model to this dtype on loading (default: as saved; float32 for devices without "
                        "float64)")  # fmt: skip


def _data_help(what: str) -> str:
    return f"{what}: {', '.join(NAMED)}, or an .npz file (x, y[, x_test, y_test]), a .csv file or an image folder"


def _add_train(commands: argparse._SubParsersAction) -> None:
    d = TRAIN_DEFAULTS
    t = commands.add_parser(
        "train",
        help="train an MLP on a data set or your own file and save it with its history (and test predictions)",
        description="Train an MLP, print one table row per epoch, write model.safetensors, history.json and (with "
        "test data) predictions.npz to --out. A changed --epochs on --resume spreads a non-constant learning-rate "
        "schedule over the new total (a warning says so).",
        formatter_class=_Formatter,
    )
    t.add_argument("--data", default=d["data"], metavar="NAME|PATH", help=_data_help("training data"))
    _add_file_options(
        t, "CSV label column, by name or index (default: a column named label/y/target/class, else the last)"
    )
    t.add_argument("--device", default=d["device"], help='device spec such as "cpu", "cuda:0" (see `xpnet devices`)')
    _add_network_options(t.add_argument_group("the network"), d)
    _add_training_options(t.add_argument_group("training"), d)
    _add_run_options(t.add_argument_group("data placement, files and processes"), d)
    t.set_defaults(run=train_module.train_command)


def _add_network_options(t: Any, d: dict[str, Any]) -> None:
    """Layers, loss, scaling of inputs and targets, dtype and the initial weights' seed."""
    lower = str.lower
    t.add_argument("--hidden", type=int, nargs="+", default=list(d["hidden"]), metavar="WIDTH", help="hidden widths")
    t.add_argument(
        "--activation", type=lower, choices=sorted(ACTIVATIONS), default=d["activation"], help="hidden activation"
    )
    t.add_argument("--loss", type=lower, choices=sorted(LOSSES), default=d["loss"],
                   help="cross_entropy classifies (labels); mse regresses numeric targets; quadratic and "
                        "binary_cross_entropy score classes on sigmoid outputs (default %(default)s)")  # fmt: skip
    t.add_argument("--dropout", type=float, nargs="+", default=d["dropout"], metavar="RATE",
                   help="dropout rate after every hidden layer (or one rate per hidden layer)")  # fmt: skip
    t.add_argument("--norm", type=lower, choices=["batch", "layer"], default=d["norm"],
                   help="batch or layer normalization between each hidden Dense and its activation")  # fmt: skip
    t.add_argument("--norm-momentum", type=float, default=d["norm_momentum"], metavar="M",
                   help="batch norm's running statistics: (1 - M)·running + M·batch (default %(default)s)")  # fmt: skip
    t.add_argument("--norm-eps", type=float, default=d["norm_eps"], metavar="EPS",
                   help="added to the variance by batch and layer norm (default %(default)s)")  # fmt: skip
    t.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=d["standardize"],
                   help="standardize every input feature (mean 0, std 1 on the training split); saved with the model "
                        "(default: on for --loss mse, off otherwise)")  # fmt: skip
    t.add_argument("--standardize-targets", action=argparse.BooleanOptionalAction, default=d["standardize_targets"],
                   help="--loss mse: train on standardized targets, undone in the model's outputs (default on)")  # fmt: skip
    t.add_argument("--dtype", type=lower, default=d["dtype"],
                   help="float32 or float64 (default: float32, or the continued model's)")  # fmt: skip
    t.add_argument("--seed", type=int, default=d["seed"], help="seeds weights, batch order and validation split")


def _add_training_options(t: Any, d: dict[str, Any]) -> None:
    """The update rule, its schedule, batches, validation and how each step runs."""
    lower = str.lower
    t.add_argument("--epochs", type=int, default=d["epochs"], help="passes over the training data")
    t.add_argument("--optimizer", type=lower, choices=sorted(OPTIMIZERS), default=d["optimizer"], help="update rule")
    t.add_argument("--lr", type=float, default=d["lr"],
                   help="peak learning rate (default: 0.05 for sgd/momentum/nesterov, 0.001 for adam/adamw/rmsprop; "
                        "0.005 for sgd/momentum/nesterov with --loss mse)")  # fmt: skip
    t.add_argument("--momentum", type=float, default=d["momentum"], help="momentum coefficient")
    t.add_argument("--batch-size", type=int, default=d["batch_size"], help="samples per step")
    t.add_argument("--l2", type=float, default=d["l2"], help="L2 penalty on the weights")
    t.add_argument("--lr-schedule", type=lower, choices=sorted(SCHEDULES), default=d["lr_schedule"],
                   help="learning-rate schedule")  # fmt: skip
    t.add_argument("--clip-norm", type=float, default=d["clip_norm"], metavar="NORM",
                   help="clip the gradients' global norm to NORM")  # fmt: skip
    t.add_argument("--weight-decay", type=float, default=d["weight_decay"], metavar="RATE",
                   help="AdamW's decoupled weight decay (default 0.01)")  # fmt: skip
    t.add_argument("--validation", type=float, default=d["validation"], metavar="FRACTION",
                   help="hold out this fraction of the training data for validation")  # fmt: skip
    t.add_argument("--early-stopping", type=int, default=d["early_stopping"], metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a lower validation loss (needs --validation)")  # fmt: skip
    t.add_argument("--no-shuffle", dest="shuffle", action="store_false", default=d["shuffle"],
                   help="keep the training samples in their order instead of shuffling every epoch")  # fmt: skip
    t.add_argument("--precision", type=lower, choices=PRECISIONS, default=d["precision"],
                   help="matrix products of the training step: highest (full float32), tf32 (TensorFloat-32, "
                        "on CUDA GPUs) or bf16 (bfloat16 operands, float32 weights: PyTorch, JAX); default %(default)s")  # fmt: skip
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=d["compile"],
                   help="run each step as one program: jax.jit on JAX, a CUDA graph on CuPy and PyTorch CUDA "
                        "(default on)")  # fmt: skip


def _add_run_options(t: Any, d: dict[str, Any]) -> None:
    """Where the data lives, what is written where, checkpoints, MPI, progress."""
    t.add_argument("--placement", type=str.lower, choices=PLACEMENTS, default=d["placement"],
                   help="where the data set lives")  # fmt: skip
    t.add_argument("--limit", type=int, metavar="N", help="use only the first N training samples (quick runs)")
    t.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder for model.safetensors, history.json and predictions.npz (test data only); default: a new "
        "xpnet-run, xpnet-run-2, ... each run; a folder holding another run's files is refused without --overwrite",
    )
    t.add_argument("--overwrite", action="store_true", default=d["overwrite"],
                   help="replace another run's files in --out, or another run's checkpoint in --checkpoint-dir")  # fmt: skip
    t.add_argument(
        "--checkpoint-dir", metavar="DIR", help="checkpoint here every epoch (and every --checkpoint-every steps)"
    )
    t.add_argument("--checkpoint-every", type=int, metavar="STEPS", help="also checkpoint every STEPS steps, mid-epoch")
    t.add_argument(
        "--resume", metavar="DIR", help="continue from the checkpoint in DIR (same settings), checkpointing there"
    )
    t.add_argument("--distributed", action=argparse.BooleanOptionalAction, default=d["distributed"],
                   help="data-parallel training over MPI; by default on when mpiexec/srun started more than one process")  # fmt: skip
    t.add_argument("--no-progress", dest="progress", action="store_false", default=d["progress"],
                   help="do not show a progress bar during each epoch")  # fmt: skip


def _add_model_commands(commands: argparse._SubParsersAction) -> None:
    ev = commands.add_parser(
        "eval",
        help="evaluate a saved model on a test set",
        description="Load MODEL (written by `xpnet train` or xpnet.save) and print its loss, accuracy and confusion "
        "matrix on --data: a named data set's test split, a file's test split (x_test, y_test), or the whole file.",
        formatter_class=_Formatter,
    )
    ev.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    ev.add_argument("--device", default="auto", help="device spec to evaluate on")
    _add_load_dtype(ev)
    ev.add_argument("--data", default="mnist", metavar="NAME|PATH", help=_data_help("test data"))
    _add_file_options(ev, "CSV label column, by name or index")
    ev.set_defaults(run=models.eval_command)

    pr = commands.add_parser(
        "predict",
        help="write a saved model's predicted labels and class probabilities for new inputs",
        description="Load MODEL and write, for every row of INPUT (x of an .npz, a .csv's feature columns, or the "
        "images of a folder, with their file names), the predicted label and one probability per class (a regression "
        "model: its outputs), as CSV (or .npz by the suffix).",
        formatter_class=_Formatter,
    )
    pr.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    pr.add_argument(
        "input",
        metavar="INPUT",
        nargs="+",
        help="an .npz (array x), a .csv or an image folder; or one or more image files",
    )
    pr.add_argument("-o", "--output", default="predictions.csv", metavar="FILE", help="a .csv or .npz file to write")
    pr.add_argument("--device", default="auto", help="device spec to predict on")
    _add_load_dtype(pr)
    _add_file_options(pr, "a CSV label column to ignore, by name or index")
    pr.set_defaults(run=models.predict_command)

    ex = commands.add_parser(
        "export",
        help="export a saved model to ONNX",
        description="Write MODEL as an ONNX graph recorded from its own forward pass (input x of shape (N, features); "
        "outputs probabilities and labels, or outputs for a regression model), checked by onnx.checker. Needs "
        'pip install "xpnet[onnx]".',
        formatter_class=_Formatter,
    )
    ex.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    ex.add_argument("-o", "--output", default="model.onnx", metavar="FILE", help="the .onnx file to write")
    ex.set_defaults(run=models.export_command)


def _add_tools(commands: argparse._SubParsersAction) -> None:
    dv = commands.add_parser(
        "devices",
        help="list the devices usable here",
        description="List the device specs usable on this machine (pass one as --device) and their backend family, "
        "then the backends that are not available here, why, and what to install.",
    )
    dv.set_defaults(run=tools.devices_command)

    pa = commands.add_parser(
        "parity",
        help="train one seeded model on several devices and compare them step by step",
        description="Train the same seeded model on the same batches on each device and compare the loss and every "
        "parameter after each step with the first device; with --ranks, compare data-parallel runs of that many MPI "
        "ranks with the 1-process run of the same global batch. Exits 1 when a run disagrees, 2 when fewer than two "
        "could run.",
        formatter_class=_Formatter,
    )
    pa.add_argument("--devices", type=_spec_list, help="comma-separated specs (default: every usable device)")
    pa.add_argument("--steps", type=int, default=100, help="optimizer steps to compare")
    pa.add_argument("--dtype", type=str.lower, default="float32", choices=["float32", "float64"], help="floating dtype")
    pa.add_argument("--seed", type=int, default=0, help="seed of model, data and batch order")
    pa.add_argument("--precision", type=str.lower, choices=PRECISIONS, default="highest",
                    help="matrix products of the compared steps (tf32, bf16: the devices that have them; the "
                         "tolerance follows)")  # fmt: skip
    pa.add_argument("--activation", type=str.lower, choices=sorted(ACTIVATIONS), default="relu",
                    help="hidden activation of the compared network")  # fmt: skip
    pa.add_argument("--optimizer", type=str.lower, choices=sorted(OPTIMIZERS), default="momentum", help="update rule")
    pa.add_argument("--dropout", type=float, default=0.0, metavar="RATE", help="dropout rate of the hidden layer")
    pa.add_argument("--norm", type=str.lower, choices=["batch", "layer"], default=None,
                    help="normalization of the hidden layer (batch norm: not with --ranks)")  # fmt: skip
    pa.add_argument("--ranks", type=_rank_list, metavar="N[,M...]",
                    help="instead, compare data-parallel runs of N (M, ...) MPI ranks on one device with the 1-process run")  # fmt: skip
    pa.add_argument("--json", metavar="FILE", help="also write the per-step differences as JSON")
    pa.set_defaults(run=tools.parity_command)

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
    p.set_defaults(run=tools.plot_command)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``xpnet`` command with its subcommands."""
    parser = _Parser(prog="xpnet", description="Train MLPs on NumPy, CuPy, PyTorch, JAX or array-api-strict.")
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _add_train(commands)
    _add_model_commands(commands)
    _add_tools(commands)
    return parser
