"""Models as safetensors files (conventionally ``*.safetensors``): host tensors plus JSON metadata, never pickle.

The header holds ``format`` (``"xpnet.model"``), ``format_version``, ``xpnet_version``, a ``sha256`` over the
tensors (safetensors has none of its own) and a JSON ``meta``. Loading never executes code from the file;
writes are atomic, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from .._version import __version__
from ..backend import Backend, dtype_name, float_dtype, resolve
from ..errors import DataIntegrityError, DataNotFoundError, XPNetTypeError, XPNetValueError, describe
from ..nn.activations import ACTIVATIONS
from ..nn.architecture import build_layers, check_architecture
from ..nn.losses import LOSSES
from ..nn.network import MLP
from .atomic import atomic_open

__all__ = ["load", "read_tensors", "save", "write_tensors"]

FORMAT_VERSION = 2  # what this xpnet writes when a file needs it; it reads every version in READABLE_VERSIONS
READABLE_VERSIONS = (1, 2)
MODEL_KIND = "xpnet.model"
# Version 1 knew plain networks of these activations and losses and nothing else; a model file that uses anything
# newer (layers, activations, losses, standardization, class names) is written as version 2, so that an xpnet
# which reads only version 1 says "upgrade" instead of misreading it. Plain models stay version 1.
_VERSION_1 = {"meta": {"sizes", "activation", "loss", "dtype", "extra"}, "activation": {"relu", "sigmoid", "tanh",
              "identity"}, "loss": {"cross_entropy", "quadratic"}}  # fmt: skip
_INPUT_TENSORS = ("input_mean", "input_std")  # the standardization a model applies to its inputs
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


def save(model: MLP, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> Path:
    """Save a model's parameters and architecture to a safetensors file (by convention ``*.safetensors``).

    The parameters are copied to the host in the model's dtype; the file loads on any device. The write is atomic.

    Parameters
    ----------
    model : MLP
        The network to save, on any device.
    path : str or os.PathLike
        Target file; its folder must exist. No suffix is added.
    extra : dict, optional
        JSON-serialisable data stored beside the model (e.g. a scikit-learn estimator's settings); read it back
        with ``xpnet.io.read_tensors(path, kind="xpnet.model")[1]["extra"]``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    XPNetTypeError
        ``model`` is not an :class:`~xpnet.MLP`.
    DataNotFoundError, XPNetValueError
        The folder of ``path`` does not exist; ``path`` is a directory.
    """
    if not isinstance(model, MLP):
        raise XPNetTypeError(f"model: expected an xpnet MLP; received {describe(model)}")
    path = _as_path(path)
    if not path.parent.is_dir():
        raise DataNotFoundError(f"{path}: folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise XPNetValueError(f"{path}: is a directory; expected a file path such as {path / 'model.safetensors'}")
    dtype = dtype_name(model.dtype)
    state = model.state()
    tensors = {name: np.asarray(a, dtype=dtype) for kind in ("params", "buffers") for name, a in state[kind].items()}
    meta: dict[str, Any] = {"sizes": state["sizes"], "activation": model.activation, "loss": model.loss, "dtype": dtype}
    if any(state["arch"]["dropout"]) or state["arch"]["norm"] is not None:  # plain networks keep format 1's meta
        meta["arch"] = state["arch"]
    if model.standardization is not None:
        tensors["input_mean"], tensors["input_std"] = model.standardization
    for key, value in (("classes", model.classes), ("features", model.feature_names)):
        if value is not None:
            meta[key] = [str(v) for v in value]
    if extra is not None:
        meta["extra"] = extra
    plain = (set(meta) <= _VERSION_1["meta"] and model.activation in _VERSION_1["activation"]
             and model.loss in _VERSION_1["loss"] and model.standardization is None)  # fmt: skip
    return write_tensors(path, tensors, meta, kind=MODEL_KIND, version=1 if plain else FORMAT_VERSION)


def _state_from_file(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    """A network's :meth:`~xpnet.MLP.state` from a model file whose metadata and tensors are consistent."""
    sizes, activation, loss, dtype = (meta.get(key) for key in ("sizes", "activation", "loss", "dtype"))
    if activation not in ACTIVATIONS or loss not in LOSSES or dtype not in ("float32", "float64"):
        raise DataIntegrityError(
            f"{path}: unknown activation {activation!r}, loss {loss!r} or dtype {dtype!r}; expected "
            f"activation in {sorted(ACTIVATIONS)}, loss in {sorted(LOSSES)}, dtype 'float32' or 'float64'"
        )
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(isinstance(w, int) and w > 0 for w in sizes):
        raise DataIntegrityError(f"{path}: expected 'sizes' as a list of at least 2 positive widths; found {sizes!r}")
    arch = meta.get("arch") or {"activation": activation, "dropout": [], "norm": None, "norm_momentum": 0.1,
                                "norm_eps": 1e-5}  # fmt: skip
    try:
        architecture = check_architecture(len(sizes) - 2, arch["activation"], arch["dropout"] or 0.0, arch["norm"],
                                          arch["norm_momentum"], arch["norm_eps"])  # fmt: skip
        _, param_names, buffer_names = build_layers(sizes, architecture)
    except (XPNetValueError, XPNetTypeError, KeyError, TypeError) as exc:
        raise DataIntegrityError(f"{path}: its architecture metadata is not valid: {exc}") from exc
    params, buffers = [n for names in param_names for n in names], [n for names in buffer_names for n in names]
    arrays = {name: t for name, t in tensors.items() if name not in _INPUT_TENSORS}
    if sorted(arrays) != sorted(params + buffers) or {t.dtype.name for t in arrays.values()} != {dtype}:
        found = {name: t.dtype.name for name, t in sorted(arrays.items())}
        raise DataIntegrityError(
            f"{path}: expected tensors {', '.join(params + buffers)} of dtype {dtype}; found {found}"
        )
    weights = [arrays[f"W{layer}"] for layer in range(1, len(sizes))]
    if any(W.ndim != 2 for W in weights) or any(a.shape[1] != b.shape[0] for a, b in itertools.pairwise(weights)):
        raise DataIntegrityError(f"{path}: tensors do not chain into a network: {[W.shape for W in weights]}")
    widths = [weights[0].shape[0], *(W.shape[1] for W in weights)]
    if widths != sizes:
        raise DataIntegrityError(f"{path}: tensors give layer widths {widths}; the metadata says {sizes!r}")
    state = {"sizes": sizes, "arch": arch, "loss": loss, "dtype": dtype, "params": {n: arrays[n] for n in params},
             "buffers": {n: arrays[n] for n in buffers}, "standardization": None}  # fmt: skip
    stats = [tensors.get(name) for name in _INPUT_TENSORS]
    if any(t is not None for t in stats):
        if any(t is None or t.shape != (sizes[0],) for t in stats):
            raise DataIntegrityError(f"{path}: expected input_mean and input_std of shape ({sizes[0]},)")
        state["standardization"] = tuple(stats)
    for key, field, width in (("classes", "classes", sizes[-1]), ("features", "feature_names", sizes[0])):
        names = meta.get(key)
        if names is not None and (not isinstance(names, list) or len(names) != width):
            raise DataIntegrityError(f"{path}: its {key!r} metadata should list {width} names; found {names!r}")
        state[field] = None if names is None else [str(n) for n in names]
    return state


def load(path: str | os.PathLike, device: str | Backend | None = "auto", *, dtype: Any = None) -> MLP:
    """Load a model saved by :func:`save` onto any device; the file is never executed (no pickle).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str or Backend
        Where to put the parameters (``"auto"``, ``"cpu"``, ``"cuda:0"``, ``"torch:cpu"``, ...), wherever it was trained.
    dtype : {None, "float32", "float64"}
        ``None`` keeps the saved dtype; otherwise the parameters are cast on the host before the transfer.

    Returns
    -------
    MLP
        The network, bit-identical to the saved one when ``dtype`` is unchanged.

    Raises
    ------
    DataNotFoundError, DataIntegrityError, XPNetValueError
        See :func:`read_tensors`; also a device without the file's dtype (pass ``dtype="float32"``).
    """
    path = _as_path(path)
    tensors, meta = read_tensors(path, kind=MODEL_KIND)
    state = _state_from_file(path, tensors, meta)
    backend = resolve(device)
    if dtype is None and not backend.supports_dtype(getattr(backend.xp, meta["dtype"])):
        raise XPNetValueError(
            f"{path}: saved in {meta['dtype']}, which device {backend.spec!r} lacks; load it with dtype='float32'"
        )
    target = float_dtype(backend, meta["dtype"] if dtype is None else dtype)  # also checks an explicit dtype
    try:
        return MLP.from_state(state | {"spec": backend.spec}, device=backend, dtype=dtype_name(target))
    except DataIntegrityError as exc:
        raise DataIntegrityError(f"{path}: {exc}") from exc
