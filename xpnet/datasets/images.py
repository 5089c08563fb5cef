"""Folders of images, one sub-folder per class (or ``train/`` and ``test/`` folders of those), as pixel rows.

Images are read with pillow (the ``images`` extra), converted to grey or RGB, optionally resized, and returned
as ``uint8`` rows with their class names; :func:`xpnet.datasets.files.load_file` wraps them for training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import XPNetValueError
from .remote import MissingDependencyError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _image_files(folder: Path) -> dict[str, list[Path]]:
    classes = {
        sub.name: sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for sub in sorted(folder.iterdir())
        if sub.is_dir()
    }
    return {name: files for name, files in classes.items() if files}


def loose_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder`` (not in sub-folders), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_images(folder: Path, files: list[Path], *, image_size: Any = None) -> np.ndarray:
    """``files`` (all one size and colour, after ``image_size``) as uint8 pixel rows, without labels."""
    return _read_images(folder, [""], {"": files}, image_size)[0]


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


def read_image_folder(
    path: Path, *, image_size: Any = None
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """``path/<class>/*.png`` (or ``path/train/<class>/...`` and ``path/test/<class>/...``) as uint8 pixel rows
    ``x``, class names ``y`` and the test split ``(x_test, y_test)`` (or ``None``)."""
    split = (path / "train").is_dir()
    train_files = _image_files(path / "train" if split else path)
    if not train_files:
        loose = f" ({len(loose_images(path))} images lie in it directly, without a class)" if loose_images(path) else ""
        raise XPNetValueError(
            f"{path}: no labelled images found{loose}; expected one sub-folder per class holding "
            f"{', '.join(IMAGE_SUFFIXES)} files (xpnet predict reads a folder of unlabelled images)"
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
    return x, names[y], None if test is None else (test[0], names[test[1]])
