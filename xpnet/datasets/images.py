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

ImageShape = tuple[int, int, int]  # (height, width, channels): how a model's input row folds back into an image
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


def read_images(
    folder: Path, files: list[Path], *, image_size: Any = None, channels: int | None = None
) -> tuple[np.ndarray, ImageShape]:
    """``files`` (all one size and colour, after ``image_size`` and ``channels``) as uint8 pixel rows, without
    labels, and their shape."""
    x, _, shape = _read_images(folder, [""], {"": files}, image_size, channels)
    return x, shape


def _read_images(
    folder: Path, classes: list[str], files: dict[str, list[Path]], size: Any, channels: int | None
) -> tuple[np.ndarray, np.ndarray, ImageShape]:
    """Pixel rows, class indices and the images' (height, width, channels). Images convert to grey (``L``) or
    ``RGB``: by ``channels`` (1 or 3) when given, else RGB if any of them is in colour."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError(
            'image folders need pillow, which is not installed; install it with: pip install "xpnet[images]"'
        ) from exc
    images: list[tuple[Path, np.ndarray]] = []
    labels = []
    for label, name in enumerate(classes):
        for file in files.get(name, []):
            with Image.open(file) as image:
                colour = image.mode in ("RGB", "RGBA", "CMYK", "P") if channels is None else channels == 3
                image = image.convert("RGB" if colour else "L")
                if size is not None:
                    image = image.resize(tuple(size))
                images.append((file, np.asarray(image, dtype=np.uint8)))
            labels.append(label)
    if any(pixels.ndim == 3 for _, pixels in images):  # some in colour: grey ones become RGB (grey = equal channels)
        images = [(f, p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2)) for f, p in images]
    sizes: dict[tuple[int, ...], Path] = {}
    for file, pixels in images:
        sizes.setdefault(pixels.shape[:2], file)
    if len(sizes) > 1:
        (a, first), (b, second) = list(sizes.items())[:2]
        raise XPNetValueError(
            f"{folder}: images differ in size: {first} is {a[1]}x{a[0]}, {second} is {b[1]}x{b[0]} (width x height); "
            "resize them to one size (xpnet train --image-size 28x28, or image_size=(28, 28))"
        )
    pixels = np.stack([p for _, p in images])  # (n, height, width) or (n, height, width, 3)
    shape = (pixels.shape[1], pixels.shape[2], pixels.shape[3] if pixels.ndim == 4 else 1)
    return pixels.reshape(len(images), -1), np.asarray(labels, dtype=np.int64), shape


def read_image_folder(
    path: Path, *, image_size: Any = None, channels: int | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None, ImageShape]:
    """``path/<class>/*.png`` (or ``path/train/<class>/...`` and ``path/test/<class>/...``) as uint8 pixel rows
    ``x``, class names ``y``, the test split ``(x_test, y_test)`` (or ``None``) and the images' shape."""
    split = (path / "train").is_dir()
    train_files = _image_files(path / "train" if split else path)
    if not train_files:
        loose = f" ({len(loose_images(path))} images lie in it directly, without a class)" if loose_images(path) else ""
        raise XPNetValueError(
            f"{path}: no labelled images found{loose}; expected one sub-folder per class holding "
            f"{', '.join(IMAGE_SUFFIXES)} files (xpnet predict reads a folder of unlabelled images)"
        )
    classes = sorted(train_files)
    x, y, shape = _read_images(path, classes, train_files, image_size, channels)
    test = None
    if split and (path / "test").is_dir():
        test_files = _image_files(path / "test")
        unknown = sorted(set(test_files) - set(classes))
        if unknown:
            raise XPNetValueError(f"{path / 'test'}: classes {unknown} have no training images in {path / 'train'}")
        x_test, y_test, test_shape = _read_images(path, classes, test_files, image_size, channels)
        if test_shape != shape:
            raise XPNetValueError(
                f"{path}: test images are {_describe(test_shape)}, training images {_describe(shape)}; resize "
                "them to one size (xpnet train --image-size WxH, or image_size=(width, height))"
            )
        test = (x_test, y_test)
    names = np.asarray(classes)
    return x, names[y], None if test is None else (test[0], names[test[1]]), shape


def _describe(shape: ImageShape) -> str:
    height, width, channels = shape
    return f"{width}x{height} {'RGB' if channels == 3 else 'grey'}"
