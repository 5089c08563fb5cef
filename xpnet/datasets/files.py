"""Your own data from files: ``.npz`` arrays, ``.csv`` tables, and folders of class-named image folders.

Each loader returns a :class:`LoadedFile`: host arrays ``x`` ``(n, d)`` and ``y`` ``(n,)`` (labels as found in
the file: numbers or strings; :func:`xpnet.train` maps strings to classes), an optional test split, the column
names of a table, and the factor that turns stored pixels into [0, 1]. Nothing here is ever unpickled.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataIntegrityError, DataNotFoundError, XPNetValueError
from .remote import MissingDependencyError

LABEL_NAMES = ("label", "labels", "y", "target", "class")  # a CSV column with one of these names holds the labels
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


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


def load_file(path: str | os.PathLike, *, label: str | int | None = None, image_size: Any = None) -> LoadedFile:
    """Read ``path``: an ``.npz`` (arrays ``x``, ``y``, optionally ``x_test``, ``y_test``), a ``.csv`` (the label
    column named by ``label``, else one named like :data:`LABEL_NAMES`, else the last) or a folder of images
    (one sub-folder per class, or ``train/`` and ``test/`` folders of those; ``image_size=(width, height)``
    resizes)."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file or folder; expected an .npz or .csv file, or an image folder")
    if path.is_dir():
        loaded = load_image_folder(path, image_size=image_size)
    elif path.suffix.lower() == ".npz":
        loaded = load_npz(path)
    elif path.suffix.lower() in (".csv", ".txt", ".tsv"):
        loaded = load_csv(path, label=label)
    else:
        raise XPNetValueError(f"{path}: unknown file type {path.suffix!r}; expected .npz, .csv or a folder of images")
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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        sample = f.read(65536)
        f.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        except csv.Error:
            dialect = csv.excel
        rows = [[cell.strip() for cell in row] for row in csv.reader(f, dialect) if any(cell.strip() for cell in row)]
    if not rows:
        raise XPNetValueError(f"{path}: the file has no rows")
    return rows


def _label_column(path: Path, header: list[str] | None, width: int, label: str | int | None) -> int:
    if isinstance(label, str) and not label.lstrip("-").isdigit():
        if header is None or label not in header:
            found = "the file has no header row" if header is None else f"the columns are {header}"
            raise XPNetValueError(f"label: no column named {label!r} in {path}; {found}")
        return header.index(label)
    if label is not None:
        index = int(label)
        if not -width <= index < width:
            raise XPNetValueError(f"label: column {index} does not exist in {path}, which has {width} columns")
        return index % width
    named = [i for i, name in enumerate(header or []) if name.lower() in LABEL_NAMES]
    return named[0] if named else width - 1


def load_csv(
    path: Path, *, label: str | int | None = None, labelled: bool = True, keep: list[str] | None = None
) -> LoadedFile:
    """A table: a header row when the first row is not all numbers; every feature column must be numeric.

    ``labelled=False`` reads features only; ``keep`` (names from the header) selects the feature columns, in
    that order, and ignores the rest.
    """
    rows = _read_rows(path)
    header = rows[0] if not all(_is_number(cell) for cell in rows[0]) else None
    body = rows[1:] if header is not None else rows
    width = len(rows[0])
    for i, row in enumerate(body):
        if len(row) != width:
            raise XPNetValueError(f"{path}: row {i + 1 + (header is not None)} has {len(row)} fields; expected {width}")
    if not body:
        raise XPNetValueError(f"{path}: the file has a header but no data rows")
    column = _label_column(path, header, width, label) if labelled else None
    table = np.asarray(body, dtype=object)
    if keep is not None:
        missing = [name for name in keep if header is None or name not in header]
        if missing:
            raise XPNetValueError(f"{path}: the model needs the columns {missing}, which the file lacks")
        feature_columns = [header.index(name) for name in keep]  # type: ignore[union-attr]
    else:
        feature_columns = [j for j in range(width) if j != column]
    x = _numeric(path, table, feature_columns, header)
    y = None if column is None else _labels(table[:, column].astype(str))
    features = [header[j] for j in feature_columns] if header else None
    name: str | int | None = None if column is None else (header[column] if header else column)
    return LoadedFile(x, y, None, features, name)


def _numeric(path: Path, table: np.ndarray, columns: list[int], header: list[str] | None) -> np.ndarray:
    try:
        return table[:, columns].astype(np.float64)
    except ValueError:
        for j in columns:
            bad = [i for i, cell in enumerate(table[:, j]) if not _is_number(cell)]
            if bad:
                name = header[j] if header else f"column {j}"
                raise XPNetValueError(
                    f"{path}: {name!r} must hold numbers; line {bad[0] + 1 + (header is not None)} has "
                    f"{table[bad[0], j]!r}. Encode text features as numbers (or drop the column)"
                ) from None
        raise


def _labels(cells: np.ndarray) -> np.ndarray:
    """A label column: integers when every cell is a whole number, else the strings themselves."""
    if not all(_is_number(cell) for cell in cells):
        return cells
    values = cells.astype(np.float64)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def load_inputs(
    path: str | os.PathLike, n_features: int, feature_names: list[str] | None = None, label: str | int | None = None
) -> LoadedFile:
    """Inputs to predict on: ``x`` of an ``.npz``, the images of a folder, or a CSV's feature columns.

    A CSV's columns are chosen by the model's ``feature_names`` when both have names; otherwise it holds exactly
    ``n_features`` columns, or one more (the label column: ``label``, a column named like :data:`LABEL_NAMES`,
    or the last), which is ignored.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file or folder; expected an .npz or .csv file, or an image folder")
    if path.is_dir() or path.suffix.lower() == ".npz":
        loaded = load_image_folder(path) if path.is_dir() else load_npz(path, need_labels=False)
        return dataclasses.replace(loaded, name=str(path))
    rows = _read_rows(path)
    header = rows[0] if not all(_is_number(cell) for cell in rows[0]) else None
    if feature_names and header:
        loaded = load_csv(path, labelled=False, keep=feature_names)
    elif len(rows[0]) == n_features:
        loaded = load_csv(path, labelled=False)
    elif len(rows[0]) == n_features + 1:
        loaded = dataclasses.replace(load_csv(path, label=label), y=None)
    else:
        raise XPNetValueError(
            f"{path}: {len(rows[0])} columns, but the model takes {n_features} features (plus, optionally, a label column)"
        )
    return dataclasses.replace(loaded, name=str(path))


def _image_files(folder: Path) -> dict[str, list[Path]]:
    classes = {
        sub.name: sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for sub in sorted(folder.iterdir())
        if sub.is_dir()
    }
    return {name: files for name, files in classes.items() if files}


def _read_images(
    folder: Path, classes: list[str], files: dict[str, list[Path]], size: Any
) -> tuple[np.ndarray, np.ndarray]:
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError(
            'image folders need pillow, which is not installed; install it with: pip install "xpnet[images]"'
        ) from exc
    images, labels = [], []
    shapes: dict[tuple[int, ...], Path] = {}
    for label, name in enumerate(classes):
        for file in files.get(name, []):
            with Image.open(file) as image:
                image = image.convert("RGB" if image.mode in ("RGB", "RGBA", "CMYK", "P") else "L")
                if size is not None:
                    image = image.resize(tuple(size))
                pixels = np.asarray(image, dtype=np.uint8)
            shapes.setdefault(pixels.shape, file)
            images.append(pixels)
            labels.append(label)
    if len(shapes) > 1:
        (a, first), (b, second) = list(shapes.items())[:2]
        raise XPNetValueError(
            f"{folder}: images differ in size or colour: {first} is {a}, {second} is {b}; resize them to one size "
            "(xpnet train --image-size 28x28, or image_size=(28, 28))"
        )
    return np.stack(images).reshape(len(images), -1), np.asarray(labels, dtype=np.int64)


def load_image_folder(path: Path, *, image_size: Any = None) -> LoadedFile:
    """``path/<class>/*.png`` (or ``path/train/<class>/...`` and ``path/test/<class>/...``) as uint8 pixel rows."""
    split = (path / "train").is_dir()
    train_files = _image_files(path / "train" if split else path)
    if not train_files:
        raise XPNetValueError(
            f"{path}: no images found; expected one folder per class holding {', '.join(IMAGE_SUFFIXES)} files"
        )
    classes = sorted(train_files)
    x, y = _read_images(path, classes, train_files, image_size)
    test = None
    if split and (path / "test").is_dir():
        test_files = _image_files(path / "test")
        unknown = sorted(set(test_files) - set(classes))
        if unknown:
            raise XPNetValueError(f"{path / 'test'}: classes {unknown} have no training images in {path / 'train'}")
        x_test, y_test = _read_images(path, classes, test_files, image_size)
        if x_test.shape[1] != x.shape[1]:
            raise XPNetValueError(
                f"{path}: test images have {x_test.shape[1]} values each, training images {x.shape[1]}"
            )
        test = (x_test, y_test)
    names = np.asarray(classes)
    return LoadedFile(x, names[y], None if test is None else (test[0], names[test[1]]), scale=1.0 / 255.0)
