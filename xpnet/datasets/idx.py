"""Reader for the IDX format of MNIST-style data sets (plain or gzip-compressed)."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from xpnet.errors import DataIntegrityError, DataNotFoundError, XPNetTypeError, describe

__all__ = ["read_idx"]

# IDX type code (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _parse(stream: io.BufferedIOBase, path: Path, size_on_disk: int) -> np.ndarray:
    """Parse one IDX stream; raise DataIntegrityError naming `path` on any inconsistency."""

    def bad(what: str) -> DataIntegrityError:
        return DataIntegrityError(
            f"{path} is not a valid IDX file: {what}. Replace it with an intact copy "
            "(re-download it, or restore it from the original distribution)."
        )

    magic = stream.read(4)
    if len(magic) < 4:
        raise bad(f"the file holds {len(magic)} bytes, fewer than the 4-byte magic number")
    if magic[:2] != b"\x00\x00":
        raise bad(f"the magic number must start with two zero bytes, got {magic[:2].hex()}")
    code, ndim = magic[2], magic[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise bad(f"unknown data type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise bad("the magic number declares 0 dimensions (expected at least 1)")
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise bad(
            f"header truncated: {ndim} dimensions declared but only {len(raw_dims)} of {4 * ndim} size bytes present"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    # A bogus header must not allocate gigabytes: no compressed file expands more than ~1032:1 (deflate's limit).
    if expected > 1032 * max(size_on_disk, 1) + (1 << 20):
        raise bad(f"the header declares {expected} bytes of data, more than a {size_on_disk}-byte file can hold")
    payload = np.empty(expected, dtype=np.uint8)  # read straight into the array: no second copy in memory
    view, filled = memoryview(payload.data), 0
    while filled < expected and (got := stream.readinto(view[filled : filled + (1 << 22)])):  # 4 MiB at a time
        filled += got
    if filled != expected or stream.read(1):
        shape = " x ".join(map(str, dims))
        kind = "truncated" if filled < expected else "has trailing bytes"
        raise bad(
            f"payload {kind}: {filled if filled < expected else 'more than ' + str(expected)} bytes after the "
            f"header, expected {expected} for shape ({shape}) of {dtype.newbyteorder('=').name}"
        )
    # A writable view of the buffer, swapped in place to native byte order where needed.
    native = payload.view(dtype.newbyteorder("=")).reshape(dims)
    if dtype.newbyteorder("=") != dtype and dtype.itemsize > 1:
        native.byteswap(inplace=True)
    return native


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST file format) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. It may be raw or gzip-compressed; compression is detected from the
        gzip magic bytes, so the ``.gz`` suffix is customary but not required.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(d0, d1, ..., d{ndim-1})`` as declared in the header, in native
        byte order and writable. Its dtype follows the header's type code: 0x08 uint8,
        0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. MNIST images give
        ``(n, 28, 28)`` uint8, MNIST labels ``(n,)`` uint8.

    Raises
    ------
    DataNotFoundError
        If `path` does not exist or is not a file.
    DataIntegrityError
        If the file is not IDX (bad magic number or type code), has a truncated header,
        a payload whose length differs from the product of the dimensions, or is a
        corrupt/truncated gzip stream.
    XPNetTypeError
        If `path` is not a str or os.PathLike.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise XPNetTypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    file = Path(path)
    if not file.is_file():
        raise DataNotFoundError(f"IDX file not found: {file} (no such file)")
    try:
        with open(file, "rb") as raw:
            if raw.read(2) == _GZIP_MAGIC:
                raw.seek(0)
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _parse(stream, file, file.stat().st_size)
            raw.seek(0)
            return _parse(raw, file, file.stat().st_size)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataIntegrityError(
            f"{file} is a corrupt or truncated gzip file ({type(exc).__name__}: {exc}). "
            "Replace it with an intact copy (re-download it)."
        ) from exc
