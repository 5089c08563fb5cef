"""xpnet: multilayer perceptrons with hand-written backprop, written once against the Python Array API.

The same code runs on NumPy, CuPy, PyTorch and array-api-strict; pick one with a device spec::

    net = xpnet.MLP((784, 100, 10), device="cuda")
"""

from __future__ import annotations

from . import datasets, optim
from ._version import __version__
from .backend import devices, to_numpy
from .errors import (
    BackendUnavailableError,
    DataIntegrityError,
    DataNotFoundError,
    DeviceMismatchError,
    ModelTooLargeError,
    MPILaunchError,
    RanksDisagreeError,
    TrainingDivergedError,
    WriteFailedError,
    XPNetError,
    XPNetTypeError,
    XPNetValueError,
)
from .io.export import export_onnx
from .io.format import load, save
from .nn.network import MLP
from .training.callbacks import EarlyStopping
from .training.evaluate import Evaluation, evaluate
from .training.history import History
from .training.result import TrainResult
from .training.train import train

__all__ = [
    "MLP",
    "BackendUnavailableError",
    "DataIntegrityError",
    "DataNotFoundError",
    "DeviceMismatchError",
    "EarlyStopping",
    "Evaluation",
    "History",
    "MPILaunchError",
    "ModelTooLargeError",
    "RanksDisagreeError",
    "TrainResult",
    "TrainingDivergedError",
    "WriteFailedError",
    "XPNetError",
    "XPNetTypeError",
    "XPNetValueError",
    "__version__",
    "datasets",
    "devices",
    "evaluate",
    "export_onnx",
    "load",
    "optim",
    "save",
    "to_numpy",
    "train",
]
