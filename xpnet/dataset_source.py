"""What ``train(data=...)`` accepts, turned into arrays: named data sets, ``(x, y)`` pairs, validation splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend, is_host_array, to_device, to_numpy
from .errors import XPNetTypeError, XPNetValueError, describe
from .losses import one_hot

NAMED = ("mnist", "fashion-mnist", "kmnist")


@dataclass(frozen=True)
class DataSource:
    """Training arrays, an optional test split, and the scale that turns stored pixels into [0, 1]."""

    name: str
    x: Any
    y: Any
    test: tuple[Any, Any] | None
    scale: float | None


def load_data(data: Any) -> DataSource:
    """Resolve ``data``: a data set name, ``(x, y)`` or ``((x, y), (x_test, y_test))``."""
    if isinstance(data, str):
        from . import datasets

        loaders = {
            "mnist": datasets.load_mnist,
            "fashion-mnist": datasets.load_fashion_mnist,
            "kmnist": datasets.load_kmnist,
        }
        if data not in loaders:
            raise XPNetValueError(f"data: unknown data set {data!r}; expected one of {list(NAMED)} or arrays (x, y)")
        (x, y), test = loaders[data](as_uint8=True)  # pixels stay uint8 until the device scales them
        return DataSource(data, x, y, test, 1.0 / 255.0)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        first, second = data
        if isinstance(first, (tuple, list)):
            if not (isinstance(second, (tuple, list)) and len(first) == 2 and len(second) == 2):
                raise XPNetValueError("data: expected ((x, y), (x_test, y_test)) with two pairs")
            return DataSource("arrays", first[0], first[1], (second[0], second[1]), None)
        return DataSource("arrays", first, second, None, None)
    raise XPNetTypeError(
        f"data: expected a data set name, (x, y) or ((x, y), (x_test, y_test)); received {describe(data)}"
    )


def targets_for_loss(y: Any, loss: str, backend: Backend, classes: int) -> Any:
    """Integer labels become ``(n, classes)`` one-hot rows for the quadratic loss (which needs ``(n, k)`` targets)."""
    if loss != "quadratic" or getattr(y, "ndim", 2) != 1:
        return y
    if is_host_array(y):
        labels = np.asarray(y).astype(np.int64)
        if labels.size and labels.max() >= classes:
            raise XPNetValueError(f"y: labels must lie in [0, {classes}); received max {labels.max()}")
        return np.eye(classes, dtype=np.float32)[labels]
    return one_hot(y, classes, backend.xp.float32)


def n_outputs(y: Any, loss: str) -> int:
    """Output width for targets ``y``: the number of classes for labels, the target width otherwise."""
    if getattr(y, "ndim", 1) == 2:
        return int(y.shape[1])
    if loss != "cross_entropy":
        raise XPNetValueError(f"y: the {loss!r} loss needs targets of shape (n, k); received shape {tuple(y.shape)}")
    host = np.asarray(y) if is_host_array(y) else to_numpy(y)  # one read before training, never inside it
    if host.size == 0:
        raise XPNetValueError("y: the training data are empty")
    return int(host.max()) + 1


def split_validation(
    x: Any, y: Any, validation: Any, rng: np.random.Generator, backend: Backend
) -> tuple[Any, Any, Any]:
    """Hold out ``validation`` (a fraction, drawn with ``rng``) or take explicit ``(x_val, y_val)``."""
    if validation is None:
        return x, y, None
    if isinstance(validation, (tuple, list)) and len(validation) == 2:
        return x, y, tuple(validation)
    if isinstance(validation, bool) or not isinstance(validation, (float, int)) or not 0.0 < validation < 1.0:
        raise XPNetValueError(
            f"validation: expected a fraction in (0, 1) or (x_val, y_val); received {describe(validation)}"
        )
    n = x.shape[0]
    n_val = round(n * validation)
    if not 0 < n_val < n:
        raise XPNetValueError(f"validation: {validation} of {n} samples leaves an empty training or validation set")
    order = rng.permutation(n)
    keep, held = np.sort(order[n_val:]), np.sort(order[:n_val])

    def pick(a: Any, rows: np.ndarray) -> Any:
        if is_host_array(a):
            return np.take(np.asarray(a), rows, axis=0)
        return backend.xp.take(a, to_device(rows, backend), axis=0)

    return pick(x, keep), pick(y, keep), (pick(x, held), pick(y, held))
