"""What ``train(data=...)`` accepts, turned into arrays: named data sets, files, ``(x, y)`` pairs (NumPy, device
arrays, lists, pandas), class names, validation splits."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..backend import Backend, is_host_array, to_device, to_numpy
from ..datasets.files import LoadedFile, load_file
from ..errors import XPNetTypeError, XPNetValueError, describe
from ..nn.losses import get_loss, one_hot
from ..tabular import encode_labels, flatten_images, host_table
from ..validation import check_y

NAMED = ("mnist", "fashion-mnist", "kmnist")
MOST_CLASSES_UNSEEN = 1000  # labels may imply up to max(this, 10 x samples) classes; more is a numbering slip


@dataclass(frozen=True)
class DataSource:
    """Training arrays, an optional test split, and what describes them.

    ``scale`` turns stored pixels into [0, 1]; ``classes`` names the classes when the labels were strings (the
    arrays then hold their indices); ``features`` names the columns of ``x`` (a DataFrame or a CSV header);
    ``image_shape`` is the ``(height, width, channels)`` of image inputs.
    """

    name: str
    x: Any
    y: Any
    test: tuple[Any, Any] | None
    scale: float | None
    classes: list[str] | None = None
    features: list[str] | None = None
    image_shape: tuple[int, int, int] | None = None
    flattened: tuple[int, ...] | None = None  # the shape of one sample of image-shaped inputs given as arrays

    @property
    def target_vector(self) -> bool:
        """Whether the training targets are one value per sample, ``(n,)`` (a regression model then predicts
        ``(n,)`` too)."""
        return getattr(self.y if not isinstance(self.y, (list, tuple)) else np.asarray(self.y), "ndim", 0) == 1


def load_data(data: Any, y: Any = None, **file_options: Any) -> DataSource:
    """Resolve ``data`` (and ``y``): a data set name, a file path, a :class:`~xpnet.datasets.files.LoadedFile`,
    ``(x, y)``, ``((x, y), (x_test, y_test))``, or ``x`` with ``y`` given separately. ``file_options`` (``label``,
    ``header``, ``image_size``; None: not given) are :func:`~xpnet.datasets.files.load_file`'s, for a file path."""
    given = {key: value for key, value in file_options.items() if value is not None}
    if given and not (isinstance(data, (str, os.PathLike)) and str(data) not in NAMED):
        first = next(iter(given))
        raise XPNetValueError(
            f"{first}: says how to read a file (a .csv, .npz or image folder); received data={describe(data)}"
        )
    if y is not None:
        if isinstance(data, (str, os.PathLike)):
            raise XPNetTypeError(f"y: given with data={data!r}; pass y only with an array x, as train(x, y)")
        data = (data, y)
    if isinstance(data, (str, os.PathLike)):
        return _named_or_file(data, given)
    if isinstance(data, LoadedFile):
        source = _from_arrays(data.name, data.x, data.y, data.test, data.scale, data.features)
        return dataclasses.replace(source, image_shape=data.image_shape)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        first, second = data
        if isinstance(first, (tuple, list)) and not _is_array_like(first):
            if not (isinstance(second, (tuple, list)) and len(first) == 2 and len(second) == 2):
                raise XPNetValueError("data: expected ((x, y), (x_test, y_test)) with two pairs")
            return _from_arrays("arrays", first[0], first[1], (second[0], second[1]))
        return _from_arrays("arrays", first, second, None)
    if len(getattr(data, "shape", ())) == 2:  # an array or table x: its labels were left out
        raise XPNetTypeError(
            f"y: missing; received x of shape {tuple(data.shape)} alone: pass the labels or targets too, as "
            "train(x, y) or train((x, y))"
        )
    raise XPNetTypeError(
        "data: expected a data set name or file, x and y (train(x, y)), (x, y) or ((x, y), (x_test, y_test)); "
        f"received {describe(data)}"
    )


def _named_or_file(data: str | os.PathLike, options: dict[str, Any]) -> DataSource:
    if isinstance(data, str) and data in NAMED:
        from .. import datasets

        loaders = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist,
                   "kmnist": datasets.load_kmnist}  # fmt: skip
        (x, y), test = loaders[data](as_uint8=True)  # pixels stay uint8 until the device scales them
        return DataSource(data, x, y, test, 1.0 / 255.0, image_shape=(28, 28, 1))
    if not Path(data).exists():
        raise XPNetValueError(
            f"data: {str(data)!r} is neither a data set name {list(NAMED)} nor an existing .npz or .csv file or image "
            "folder; or pass arrays: train(x, y)"
        )
    return load_data(load_file(data, **options))


def _is_array_like(value: Any) -> bool:
    """A list of numbers (or of rows), as opposed to a pair of arrays."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], (int, float, list, np.number))


def _from_arrays(
    name: str, x: Any, y: Any, test: Any, scale: float | None = None, features: list[str] | None = None
) -> DataSource:
    """Tables (pandas) and lists become NumPy arrays once; string labels become class indices; image-shaped inputs
    ``(n, h, w[, c])`` become rows, their shape kept."""
    x, frame_columns = host_table("x", x)
    x, sample = flatten_images(x)
    y, classes = encode_labels("y", host_table("y", y)[0])
    if test is not None:
        x_test, test_columns = host_table("x_test", test[0])
        x_test, test_sample = flatten_images(x_test)
        if test_sample != sample:
            raise XPNetValueError(f"x_test: samples of shape {test_sample} differ from the training samples' {sample}")
        if frame_columns is not None and test_columns is not None and test_columns != frame_columns:
            raise XPNetValueError(f"x_test: columns {test_columns} differ from the training columns {frame_columns}")
        y_test, _ = host_table("y_test", test[1])
        test = (x_test, encode_labels("y_test", y_test, classes)[0])
    image = None if sample is None else (sample[0], sample[1], sample[2] if len(sample) == 3 else 1)
    return DataSource(name, x, y, test, scale, classes, frame_columns or features,
                      image if image is not None and image[2] in (1, 3) else None, flattened=sample)  # fmt: skip


def targets_for_loss(y: Any, loss: str, backend: Backend, classes: int, name: str = "y") -> Any:
    """``y`` as ``loss`` trains on it: a regression's ``(n,)`` targets as one column; integer labels as ``(n,
    classes)`` one-hot rows for losses on ``(n, k)`` class targets (quadratic, binary cross-entropy), checked first:
    integers, on the host or on ``backend``'s device."""
    if not get_loss(loss).classifies:
        return as_column(y)
    if not get_loss(loss).one_hot_labels or getattr(y, "ndim", 2) != 1:
        return y
    y = check_y(y, backend, y.shape[0], classes, integer=True, name=name)
    return one_hot(y, classes, array_namespace(y).float32)  # where y is: host labels stay on the host


def as_column(y: Any) -> Any:
    """``(n,)`` targets as ``(n, 1)`` (host or device arrays); anything else as it is."""
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if getattr(y, "ndim", 0) != 1:
        return y
    return array_namespace(y).reshape(y, (-1, 1))


def n_outputs(y: Any, loss: str) -> int:
    """Output width for targets ``y``: the number of classes for labels, the target width otherwise."""
    if getattr(y, "ndim", 1) == 2:
        return int(y.shape[1])
    if loss != "cross_entropy":
        raise XPNetValueError(f"y: the {loss!r} loss needs targets of shape (n, k); received shape {tuple(y.shape)}")
    host = np.asarray(y) if is_host_array(y) else None
    if (host.size if host is not None else y.shape[0]) == 0:
        raise XPNetValueError("y: the training data are empty")
    largest = int(host.max() if host is not None else to_numpy(array_namespace(y).max(y)))  # one value read, not y
    n = int(y.shape[0])
    if largest + 1 > max(MOST_CLASSES_UNSEEN, 10 * n):  # most classes could never have a sample
        raise XPNetValueError(
            f"y: the largest label is {largest}, which would make {largest + 1} classes (output units) for {n} "
            "samples; labels are class indices 0..k-1: renumber other values with np.unique(y, return_inverse=True)[1], "
            "or pass them as strings (class names)"
        )
    return largest + 1


def check_validation(validation: Any) -> Any:
    """``validation`` as :func:`xpnet.train` takes it: None, a fraction in (0, 1) or a pair ``(x_val, y_val)``."""
    if validation is None or (isinstance(validation, (tuple, list)) and len(validation) == 2):
        return validation
    if isinstance(validation, bool) or not isinstance(validation, (float, int)) or not 0.0 < validation < 1.0:
        raise XPNetValueError(
            f"validation: expected a fraction in (0, 1) or (x_val, y_val); received {describe(validation)}"
        )
    return validation


def split_validation(
    x: Any, y: Any, validation: Any, rng: np.random.Generator, backend: Backend
) -> tuple[Any, Any, Any]:
    """Hold out ``validation`` (a fraction, drawn with ``rng``) or take explicit ``(x_val, y_val)``."""
    if check_validation(validation) is None:
        return x, y, None
    if isinstance(validation, (tuple, list)):
        return x, y, tuple(validation)
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
