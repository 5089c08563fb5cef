"""xpnet's safetensors container: host tensors plus JSON metadata, never pickle.

The header holds ``format`` (``"xpnet.model"``, ``"xpnet.checkpoint"``), ``format_version``, ``xpnet_version``,
a ``sha256`` over the tensors and the metadata (safetensors has no checksum of its own) and a JSON ``meta``.
Reading never executes code from the file; writes are atomic, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from .._version import __version__
from ..errors import DataIntegrityError, DataNotFoundError, XPNetTypeError, XPNetValueError, describe
from .atomic import atomic_open

FORMAT_VERSION = 2  # what this xpnet writes when a file needs it; it reads every version in READABLE_VERSIONS
READABLE_VERSIONS = (1, 2)
_PARSE_ERRORS = (safetensors.SafetensorError, KeyError, ValueError, TypeError)


def _checksum(tensors: dict[str, np.ndarray], meta_json: str) -> str:
    """SHA-256 over the meta JSON and every tensor's name, dtype, shape and bytes, in sorted-name order."""
    digest = hashlib.sha256(meta_json.encode())
    for name in sorted(tensors):
        array = np.asarray(tensors[name], order="C")
        digest.update(json.dumps([name, array.dtype.name, list(array.shape), array.nbytes]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise XPNetTypeError(f"path: expected a str or os.PathLike; received {describe(path)}")
    return Path(path)


def write_tensors(
    path: str | os.PathLike,
    tensors: dict[str, np.ndarray],
    meta: dict[str, Any],
    *,
    kind: str,
    version: int = FORMAT_VERSION,
) -> Path:
    """Write host tensors and JSON-serialisable ``meta`` to a safetensors file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; an existing file is replaced only once the new one is complete.
    tensors : dict of str to numpy.ndarray
        Named host arrays of any shape.
    meta : dict
        JSON-serialisable, stored in the header.
    kind : str
        The file's ``format`` (``"xpnet.model"``, ``"xpnet.checkpoint"``), checked by :func:`read_tensors`.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = _as_path(path)
    try:
        arrays = {name: np.asarray(a, order="C") for name, a in tensors.items()}  # safetensors ignores strides
        meta_json = json.dumps(meta)
        header = dict(format=kind, format_version=str(version), xpnet_version=__version__, meta=meta_json)
        data = safetensors.numpy.save(arrays, metadata=header | {"sha256": _checksum(arrays, meta_json)})
    except (TypeError, ValueError, safetensors.SafetensorError) as exc:
        raise XPNetTypeError(f"cannot store these tensors or meta (tensors must be numeric, meta JSON): {exc}") from exc
    with atomic_open(path, "wb") as f:
        f.write(data)
    return path


def _not_safetensors(path: Path, data: bytes, kind: str, reason: object) -> DataIntegrityError:
    """The error for bytes safetensors cannot parse, naming pickles and torch.save archives explicitly."""
    hint = "is it truncated, corrupted or of another format?"
    if data[:1] == b"\x80" or data[:4] == b"PK\x03\x04":  # checked only once parsing failed: 0x80 can start a header
        what = "a Python pickle" if data[:1] == b"\x80" else "a zip archive such as a torch.save file (holds pickles)"
        reason = f"it looks like {what}; xpnet never unpickles, because loading a pickle can run arbitrary code"
        hint = "xpnet reads only the safetensors files it writes"
    return DataIntegrityError(f"{path}: not a readable safetensors file: {reason}; expected an {kind} file ({hint})")


def read_tensors(path: str | os.PathLike, *, kind: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and validate a file written by :func:`write_tensors`; nothing in the file is ever executed.

    Parameters
    ----------
    path : str or os.PathLike
    kind : str
        The ``format`` the file must declare.

    Returns
    -------
    tensors : dict of str to numpy.ndarray
        Writable host copies of the stored arrays.
    meta : dict

    Raises
    ------
    DataNotFoundError, XPNetValueError
        ``path`` does not exist; ``path`` is a directory.
    DataIntegrityError
        Not safetensors (truncated, pickle, other format), not xpnet's, another ``kind``, newer, or corrupted.
    """
    path = _as_path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file; expected an {kind} file (e.g. model.safetensors)")
    if path.is_dir():
        raise XPNetValueError(f"{path}: is a directory; expected the path of an {kind} file")
    data = path.read_bytes()
    try:
        loaded = safetensors.numpy.load(data)
    except _PARSE_ERRORS as exc:
        raise _not_safetensors(path, data, kind, exc) from None
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])  # safetensors validated it: str -> str
    info: dict[str, str] = header.get("__metadata__") or {}
    found = info.get("format")
    if not isinstance(found, str) or not found.startswith("xpnet."):
        raise DataIntegrityError(
            f"{path}: a safetensors file, but not an xpnet file (no xpnet 'format' in its metadata; "
            f"found keys {sorted(info)}); expected an {kind} file written by xpnet"
        )
    if found != kind:
        raise DataIntegrityError(f"{path}: is an {found!r} file; expected an {kind!r} file")
    written_by = info.get("xpnet_version", "an unknown version")
    version = info.get("format_version", "")
    if not version.isdecimal() or int(version) not in READABLE_VERSIONS:
        raise DataIntegrityError(
            f"{path}: written by xpnet {written_by} in format version {version!r}, but this xpnet {__version__} "
            f"reads format versions {', '.join(map(str, READABLE_VERSIONS))}; if the file is newer, upgrade xpnet "
            "(pip install -U xpnet)"
        )
    tensors = {name: np.array(array, copy=True) for name, array in loaded.items()}
    if info.get("sha256") != _checksum(tensors, info.get("meta", "")):
        raise DataIntegrityError(
            f"{path}: corrupted: its tensors or meta do not match the checksum stored when xpnet {written_by} wrote it"
        )
    try:
        meta = json.loads(info["meta"])
    except (KeyError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise DataIntegrityError(f"{path}: corrupted: its 'meta' header is not a JSON object")
    return tensors, meta
