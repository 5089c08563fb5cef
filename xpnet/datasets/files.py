"""Your own data from files: ``.npz`` arrays, ``.csv`` tables, and folders of class-named image folders.

Each loader returns a :class:`LoadedFile`: host arrays ``x`` ``(n, d)`` and ``y`` ``(n,)`` (labels as found in
the file: numbers or strings; :func:`xpnet.train` maps strings to classes), an optional test split, the column
names of a table, and the factor that turns stored pixels into [0, 1]. Nothing here is ever unpickled. Tables
are read by :mod:`xpnet.datasets.tables`, image folders by :mod:`xpnet.datasets.images`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import DataIntegrityError, DataNotFoundError, XPNetValueError
from .images import IMAGE_SUFFIXES, ImageShape, loose_images, read_image_folder, read_images
from .tables import Table, label_column, label_values, numeric_columns, read_table

TABLE_SUFFIXES = (".csv", ".txt", ".tsv")


@dataclass(frozen=True)
class LoadedFile:
    """Arrays read from a file; ``features`` names the columns of ``x`` (CSV with a header), ``label`` the label
    column (its name, or its index without a header); ``scale`` maps stored pixels to [0, 1] (images)."""

    x: np.ndarray
    y: np.ndarray | None
    test: tuple[np.ndarray, np.ndarray] | None = None
    features: list[str] | None = None
    label: str | int | None = None
    scale: float | None = None
    name: str = "file"  # where the arrays came from
    rows: list[str] | None = None  # what each row of x is (the image files of a folder to predict on)
    image_shape: ImageShape | None = None
    reading: str | None = None  # how a file that fits more than one reading was read (a CSV without a header)


def _exists(path: Path) -> None:
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file or folder; expected an .npz or .csv file, or an image folder")


def _kind(path: Path) -> str:
    """``"folder"``, ``"npz"`` or ``"table"``; a clear error for a missing path or an unknown suffix."""
    _exists(path)
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in TABLE_SUFFIXES:
        return "table"
    raise XPNetValueError(
        f"{path}: unknown file type {path.suffix!r}; expected .npz, .csv, a folder of images, or (to predict on) image "
        "files"
    )


def load_file(
    path: str | os.PathLike,
    *,
    label: str | int | None = None,
    image_size: Any = None,
    header: bool | None = None,
    channels: int | None = None,
    features: list[str] | None = None,
) -> LoadedFile:
    """Read ``path``: an ``.npz`` (arrays ``x``, ``y``, optionally ``x_test``, ``y_test``), a ``.csv`` (the label
    column named by ``label``, else one named like :data:`~xpnet.datasets.tables.LABEL_NAMES`, else the last;
    ``header`` says whether the first row names the columns, ``None`` guesses) or a folder of images (one
    sub-folder per class, or ``train/`` and ``test/`` folders of those; ``image_size=(width, height)`` resizes,
    ``channels`` 1 or 3 converts to grey or RGB; by default RGB when any image is in colour). ``features``, a
    model's input columns, lets a CSV's label column be the one column that is not among them."""
    path = Path(path)
    kind = _kind(path)
    if kind == "folder":
        loaded = load_image_folder(path, image_size=image_size, channels=channels)
    elif kind == "npz":
        loaded = load_npz(path)
    else:
        loaded = load_csv(path, label=label, header=header, features=features)
    return dataclasses.replace(loaded, name=str(path))


def load_npz(path: Path, *, need_labels: bool = True) -> LoadedFile:
    """Arrays ``x`` and ``y`` (and ``x_test``, ``y_test`` when both are there) of an ``.npz`` file."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except (ValueError, OSError) as exc:  # not a zip, or object arrays (which would need pickle)
        raise DataIntegrityError(f"{path}: not a readable .npz of numeric arrays ({exc})") from None
    wanted = ("x", "y") if need_labels else ("x",)
    if any(name not in arrays for name in wanted):
        raise XPNetValueError(
            f"{path}: expected arrays named 'x' and 'y' (and optionally 'x_test' and 'y_test'); found {sorted(arrays)}"
        )
    test = (arrays["x_test"], arrays["y_test"]) if "x_test" in arrays and "y_test" in arrays else None
    return LoadedFile(arrays["x"], arrays.get("y"), test)


def load_csv(
    path: Path,
    *,
    label: str | int | None = None,
    header: bool | None = None,
    labelled: bool = True,
    features: list[str] | None = None,
) -> LoadedFile:
    """A table (see :mod:`xpnet.datasets.tables` for the header rule): the label column (``label``, a column
    named like :data:`~xpnet.datasets.tables.LABEL_NAMES`, or the last) and the numeric feature columns;
    ``labelled=False`` reads every column as a feature."""
    table = read_table(path, header, features)
    column = label_column(path, table, label, features) if labelled else None
    return _from_table(path, table, column, read_labels=column is not None)


def _from_table(
    path: Path, table: Table, column: int | None, *, read_labels: bool, keep: list[str] | None = None
) -> LoadedFile:
    """Features of ``table`` (the columns named ``keep``, in that order, or every column but ``column``) and,
    when ``read_labels``, the labels in ``column``."""
    names = table.header
    if keep is not None:
        missing = [name for name in keep if names is None or name not in names]
        if missing:
            raise XPNetValueError(f"{path}: the model needs the columns {missing}, which the file lacks")
        feature_columns = [names.index(name) for name in keep]  # type: ignore[union-attr]
    else:
        feature_columns = [j for j in range(table.cells.shape[1]) if j != column]
    x = numeric_columns(path, table, feature_columns)
    y = label_values(path, table, column) if read_labels and column is not None else None
    features = [names[j] for j in feature_columns] if names else None
    label_name: str | int | None = None if column is None else (names[column] if names else column)
    return LoadedFile(x, y, None, features, label_name)


def load_inputs(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    n_features: int,
    feature_names: list[str] | None = None,
    label: str | int | None = None,
    header: bool | None = None,
    image_size: Any = None,
    channels: int | None = None,
) -> LoadedFile:
    """Inputs to predict on: ``x`` of an ``.npz``, the images of a folder (its own image files, named in
    ``rows``, or those of its class sub-folders; ``image_size`` and ``channels`` as for :func:`load_file`), or a
    CSV's feature columns.

    A CSV's columns are chosen by the model's ``feature_names`` when both have names; otherwise it holds exactly
    ``n_features`` columns, or one more (the label column: ``label``, a column named like
    :data:`~xpnet.datasets.tables.LABEL_NAMES`, or the last), which is ignored. ``path`` may also be one image
    file or a list of them (rows named by ``rows`` in that order).
    """
    paths = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(cast(str, path))]
    if len(paths) > 1 or paths[0].suffix.lower() in IMAGE_SUFFIXES:
        not_images = [str(p) for p in paths if p.suffix.lower() not in IMAGE_SUFFIXES]
        if not_images:
            raise XPNetValueError(
                f"input: several inputs are image files to predict on, each ({', '.join(IMAGE_SUFFIXES)}); received "
                f"{not_images[0]!r} beside them (a table, an .npz or a folder is one input alone)"
            )
        for p in paths:
            _exists(p)
        x, shape = read_images(paths[0].parent, paths, image_size=image_size, channels=channels)
        name = str(paths[0]) if len(paths) == 1 else f"{len(paths)} images"
        return LoadedFile(x, None, scale=1.0 / 255.0, name=name, rows=[str(p) for p in paths], image_shape=shape)
    path = paths[0]
    kind = _kind(path)
    if kind == "folder" and loose_images(path):  # new images to label: the folder's own files, in name order
        files = loose_images(path)
        x, shape = read_images(path, files, image_size=image_size, channels=channels)
        return LoadedFile(x, None, scale=1.0 / 255.0, name=str(path), rows=[file.name for file in files],
                          image_shape=shape)  # fmt: skip
    if kind != "table":
        loaded = (
            load_image_folder(path, image_size=image_size, channels=channels)
            if kind == "folder"
            else load_npz(path, need_labels=False)
        )
        return dataclasses.replace(loaded, name=str(path))
    table = read_table(path, header, feature_names)
    width, reading = table.cells.shape[1], ""
    if feature_names and table.header:
        loaded = _from_table(path, table, None, read_labels=False, keep=feature_names)
    elif width == n_features:
        loaded = _from_table(path, table, None, read_labels=False)
        reading = f"its {width} columns read as the model's {n_features} features (no label column)"
    elif width == n_features + 1:  # the label column is there: skipped, and may be empty
        column = label_column(path, table, label)
        loaded = _from_table(path, table, column, read_labels=False)
        reading = f"column {column} read as the labels (skipped), the other {n_features} as the model's features"
    else:
        raise XPNetValueError(
            f"{path}: {width} columns, but the model takes {n_features} features (plus, optionally, a label column)"
        )
    if not table.header:  # with or without a label column, either reading could be meant: say which
        loaded = dataclasses.replace(loaded, reading=f"{path.name} has no header row: {reading}")
    return dataclasses.replace(loaded, name=str(path))


def load_image_folder(path: Path, *, image_size: Any = None, channels: int | None = None) -> LoadedFile:
    """A folder of class-named image folders (see :mod:`xpnet.datasets.images`); pixels scale by 1/255."""
    x, y, test, shape = read_image_folder(path, image_size=image_size, channels=channels)
    return LoadedFile(x, y, test, scale=1.0 / 255.0, image_shape=shape)
