"""MNIST from the copy shipped inside the package, and the four-file loader shared by the
MNIST-format data sets (see ``remote.py``)."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from xpnet.datasets.idx import read_idx
from xpnet.errors import DataIntegrityError, DataNotFoundError, XPNetTypeError, describe

__all__ = ["load_mnist"]

Split = tuple[np.ndarray, np.ndarray]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

# Same values as data/mnist/SHA256SUMS (a test keeps the two in step).
MNIST_SHA256: dict[str, str] = {
    TRAIN_IMAGES: "sha256:0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    TRAIN_LABELS: "sha256:1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    TEST_IMAGES: "sha256:1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    TEST_LABELS: "sha256:b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}
SHIPPED_DIR = Path(__file__).parent / "data" / "mnist"
DATA_DIR_ENV = "XPNET_DATA_DIR"
_CHUNK = 1 << 20


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of `path` with hashlib `algorithm`, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, known_hash: str) -> None:
    """Raise DataIntegrityError unless `path` hashes to `known_hash` ("alg:hex" or sha256 hex)."""
    algorithm, _, expected = known_hash.rpartition(":")
    actual = file_digest(path, algorithm or "sha256")
    if actual != expected.lower():
        raise DataIntegrityError(
            f"checksum mismatch for {path}: expected {algorithm or 'sha256'} {expected}, "
            f"got {actual}. The file is corrupt, truncated or a different version: delete it "
            "and download it again (or restore it from the original distribution)."
        )


def _fingerprint(directory: Path, hashes: Mapping[str, str]) -> tuple[tuple[str, str, int, int], ...]:
    """(name, known hash, size, mtime_ns) per file; DataNotFoundError names any missing one."""
    missing = [name for name in FILE_NAMES if not (directory / name).is_file()]
    if missing:
        raise DataNotFoundError(
            f"missing in {directory}: {', '.join(missing)}. The directory must hold the four "
            f"files {', '.join(FILE_NAMES)}."
        )
    entries = []
    for name in FILE_NAMES:
        stat = (directory / name).stat()
        entries.append((name, hashes[name], stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


@functools.lru_cache(maxsize=4)
def _load_raw(directory: str, entries: tuple[tuple[str, str, int, int], ...]) -> tuple[Split, Split]:
    """Verify and parse the four files once per (directory, hashes, sizes, mtimes)."""
    root = Path(directory)
    for name, known_hash, _, _ in entries:
        _verify(root / name, known_hash)
    splits = []
    for images_name, labels_name in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        images, labels = read_idx(root / images_name), read_idx(root / labels_name)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataIntegrityError(
                f"{root / images_name}: expected uint8 images of shape (n, rows, cols), "
                f"got {images.dtype} of shape {images.shape}"
            )
        if labels.shape != images.shape[:1] or labels.dtype != np.uint8:
            raise DataIntegrityError(
                f"{root / labels_name}: expected {images.shape[0]} uint8 labels to match "
                f"{images_name}, got {labels.dtype} of shape {labels.shape}"
            )
        labels = labels.astype(np.int64)
        images.flags.writeable = False
        labels.flags.writeable = False
        splits.append((images, labels))
    return splits[0], splits[1]


def _check_flags(flatten: object, as_uint8: object) -> None:
    """XPNetTypeError unless both switches are real bools."""
    for name, value in (("flatten", flatten), ("as_uint8", as_uint8)):
        if not isinstance(value, bool):
            raise XPNetTypeError(f"{name} must be a bool, got {describe(value)}")


def _load_four_files(
    directory: Path, hashes: Mapping[str, str], *, flatten: bool, as_uint8: bool
) -> tuple[Split, Split]:
    """Verified, parsed and shaped MNIST-format splits from `directory` (cached in-process)."""
    _check_flags(flatten, as_uint8)
    directory = directory.resolve()
    raw = _load_raw(str(directory), _fingerprint(directory, hashes))
    out = []
    for images, labels in raw:
        n = images.shape[0]
        x = images.reshape(n, -1) if flatten else images  # (n, rows*cols) or (n, rows, cols)
        if not as_uint8:
            x = np.divide(x, np.float32(255), dtype=np.float32)  # fresh, writable, in [0, 1]
        out.append((x, labels.copy()))
    return out[0], out[1]


def _holding_dir(candidate: Path) -> Path | None:
    """`candidate` or its ``mnist/`` subfolder, whichever holds the four files."""
    for folder in (candidate, candidate / "mnist"):
        if all((folder / name).is_file() for name in FILE_NAMES):
            return folder
    return None


def _resolve_mnist_dir(path: str | os.PathLike[str] | None) -> Path:
    """Directory to read: explicit `path`, else $XPNET_DATA_DIR, else the shipped copy."""
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise XPNetTypeError(f"path must be a str, os.PathLike or None, got {describe(path)}")
        candidate, origin = Path(path), "path="
    elif os.environ.get(DATA_DIR_ENV):
        candidate, origin = Path(os.environ[DATA_DIR_ENV]), f"${DATA_DIR_ENV}"
    else:
        candidate, origin = SHIPPED_DIR, "the copy shipped with xpnet"
    found = _holding_dir(candidate)
    if found is None:
        raise DataNotFoundError(
            f"MNIST files not found: looked in {candidate} and {candidate / 'mnist'} (from "
            f"{origin}) for {', '.join(FILE_NAMES)}. Point path= or ${DATA_DIR_ENV} at a "
            "directory holding these four files (directly or in a mnist/ subfolder)."
        )
    return found


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    flatten: bool = True,
    as_uint8: bool = False,
) -> tuple[Split, Split]:
    """Load MNIST (60,000 training and 10,000 test digits), verified against pinned SHA-256.

    Parameters
    ----------
    path : str, os.PathLike or None
        Directory holding the four IDX ``.gz`` files (directly or in a ``mnist/``
        subfolder). If None, the ``XPNET_DATA_DIR`` environment variable is used when
        set, else the copy shipped inside the package.
    flatten : bool
        If True (default) images have shape ``(n, 784)``, else ``(n, 28, 28)``.
    as_uint8 : bool
        If True, return the raw pixels as uint8 in ``0..255`` (for scaling per batch
        on a device); if False (default), float32 in ``[0, 1]``.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuples of numpy.ndarray
        ``x_train`` of shape ``(60000, 784)`` (or ``(60000, 28, 28)``), ``x_test`` of
        shape ``(10000, 784)`` (or ``(10000, 28, 28)``); ``y_train`` ``(60000,)`` and
        ``y_test`` ``(10000,)`` int64 labels in ``0..9``.

    Raises
    ------
    DataNotFoundError
        If the directory or one of the four files is missing (the message names where
        it looked).
    DataIntegrityError
        If a file fails its SHA-256 check or is not a valid IDX file.
    XPNetTypeError
        If an argument has the wrong type.

    Notes
    -----
    The files are hashed and parsed once per process and directory: a small LRU cache
    (4 entries, keyed on the resolved directory and each file's size and modification
    time) serves later calls. The float32 images and the labels are fresh arrays on
    every call. With ``as_uint8=True`` the images are read-only views of the cache
    (``flags.writeable`` is False), so no copy is made; call ``.copy()`` to modify them.
    """
    directory = _resolve_mnist_dir(path)
    return _load_four_files(directory, MNIST_SHA256, flatten=flatten, as_uint8=as_uint8)
