"""What users hand over besides arrays, as NumPy: pandas DataFrames and Series (numeric columns, their names),
lists, and class names (strings, as indices into a sorted list of names; missing labels refused by position).

Used where data enter xpnet: :func:`xpnet.train`'s sources, and a trained model's ``predict`` / ``evaluate``, which
take a DataFrame by the model's column names and labels by the model's class names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

from .errors import XPNetValueError


def host_table(name: str, value: Any) -> tuple[Any, list[str] | None]:
    """A pandas DataFrame or Series as a NumPy array and its column names (numeric columns only, for ``x``)."""
    if not _is_pandas(value):
        return value, None
    if getattr(value, "ndim", 1) == 2:
        columns = [str(c) for c in value.columns]
        text = [str(c) for c, kind in zip(value.columns, value.dtypes) if getattr(kind, "kind", "O") not in "biuf"]
        if text and name.startswith("x"):
            raise XPNetValueError(
                f"{name}: the DataFrame's columns {text} are not numeric; encode them as numbers (e.g. "
                "pandas.get_dummies) or drop them"
            )
        array = value.to_numpy()
        if array.dtype.kind == "O" and not text:  # numbers of mixed kinds (bool and float, nullable Int64): as floats
            array = value.to_numpy(dtype=np.float64, na_value=np.nan)  # a missing value becomes NaN, refused by name
        return array, columns
    return value.to_numpy(), None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _is_missing(value: Any) -> bool:
    """None, a float NaN, or pandas' NA / NaT: what pandas and NumPy object arrays hold for a missing value."""
    return (
        value is None or (isinstance(value, float) and value != value) or type(value).__name__ in ("NAType", "NaTType")
    )


def encode_labels(name: str, y: Any, classes: list[str] | None = None) -> tuple[Any, list[str] | None]:
    """Labels that are strings (or objects) as indices into ``classes`` (sorted names, or the ones given)."""
    if isinstance(y, list) and y and isinstance(y[0], str):
        y = np.asarray(y)
    if isinstance(y, np.ndarray) and y.dtype.kind == "O" and all(_is_number(v) for v in y.ravel()[:1000]):
        y = np.asarray(y.tolist())  # numbers held as Python objects (a pandas object column, say)
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "USO" or y.ndim != 1:  # class names are 1-D labels
        if classes is not None:  # numeric test labels for a model trained on named classes
            raise XPNetValueError(f"{name}: expected class names among {classes}; received numeric labels")
        return y, None
    if y.dtype.kind == "O":
        missing = next((i for i, v in enumerate(y.tolist()) if _is_missing(v)), None)
        if missing is not None:
            raise XPNetValueError(
                f"{name}: the label at index {missing} is missing ({y[missing]!r}); every sample needs a class: "
                "drop the unlabelled rows (e.g. pandas' dropna)"
            )
    text = y.astype(str)
    known = sorted(set(text.tolist())) if classes is None else list(classes)
    unknown = sorted(set(text.tolist()) - set(known))
    if unknown:
        raise XPNetValueError(f"{name}: labels {unknown[:5]} are not among the classes {known[:20]}")
    return np.searchsorted(np.asarray(known), text).astype(np.int64), known


def flatten_images(x: Any, n_features: int | None = None) -> tuple[Any, tuple[int, ...] | None]:
    """Image-shaped inputs ``(n, height, width)`` or ``(n, height, width, channels)`` (host or device arrays) as
    ``(n, height·width·channels)`` rows, and the shape of one sample; anything else (and, given ``n_features``,
    samples of another size: their shape error says more) as it is, and None."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) not in (3, 4) or (n_features is not None and int(np.prod(shape[1:])) != n_features):
        return x, None
    return array_namespace(x).reshape(x, (shape[0], int(np.prod(shape[1:])))), shape[1:]


def model_inputs(value: Any, features: list[str] | None, n_features: int | None = None) -> Any:
    """A DataFrame as the NumPy array of a model's ``features`` columns, in that order (by name when the model
    has names, else as it is); image-shaped arrays as rows (:func:`flatten_images`); a Series or any other value as
    :func:`host_table` gives it."""
    if features and _is_pandas(value) and getattr(value, "ndim", 1) == 2:
        columns = [str(c) for c in value.columns]
        missing = [name for name in features if name not in columns]
        if missing:
            raise XPNetValueError(f"x: the DataFrame lacks the model's columns {missing[:8]}; it has {columns[:8]}")
        value = value[[value.columns[columns.index(name)] for name in features]]
    return flatten_images(host_table("x", value)[0], n_features)[0]


def model_labels(name: str, value: Any, classes: list[str] | None) -> Any:
    """Labels given by class name (strings, a string Series) as indices into a model's ``classes``; numeric labels
    and every other value as they are."""
    value = host_table(name, value)[0]
    named = isinstance(value, list) and bool(value) and isinstance(value[0], str)
    named = named or (isinstance(value, np.ndarray) and value.dtype.kind in "USO" and value.ndim == 1)
    if classes is None or not named:
        return value
    return encode_labels(name, value, classes)[0]


def _is_pandas(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "to_numpy")
