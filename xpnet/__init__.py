"""xpnet: multilayer perceptrons with hand-written backprop, written once against the Python Array API.

The same code runs on NumPy, CuPy, PyTorch and array-api-strict; pick one with a device spec::

    net = xpnet.MLP((784, 100, 10), device="cuda")
"""

from __future__ import annotations

from . import optim
from .backend import devices, to_numpy
from .errors import (
    BackendUnavailableError,
    DataIntegrityError,
    DataNotFoundError,
    DeviceMismatchError,
    XPNetError,
    XPNetTypeError,
    XPNetValueError,
)
from .model import MLP

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "BackendUnavailableError",
    "DataIntegrityError",
    "DataNotFoundError",
    "DeviceMismatchError",
    "XPNetError",
    "XPNetTypeError",
    "XPNetValueError",
    "__version__",
    "devices",
    "optim",
    "to_numpy",
]
