"""Models as safetensors files (conventionally ``*.safetensors``): the weights, buffers and standardization as
tensors, the architecture, dtype and names in the metadata (the container itself: :mod:`xpnet.io.tensors`)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import Backend, dtype_name, float_dtype, resolve
from ..errors import DataIntegrityError, DataNotFoundError, XPNetTypeError, XPNetValueError, describe
from ..nn.activations import ACTIVATIONS
from ..nn.architecture import build_layers, check_architecture
from ..nn.losses import LOSSES
from ..nn.network import MLP
from .tensors import FORMAT_VERSION, _as_path, read_tensors, write_tensors

__all__ = ["MODEL_KIND", "load", "save"]

MODEL_KIND = "xpnet.model"
# Version 1 knew plain networks of these activations and losses and nothing else; a model file that uses anything
# newer (layers, activations, losses, standardization, class names) is written as version 2, so that an xpnet
# which reads only version 1 says "upgrade" instead of misreading it. Plain models stay version 1, and so does
# metadata a version-1 reader may ignore without misreading the model ("image_shape": only a hint for new inputs).
_VERSION_1 = {"meta": {"sizes", "activation", "loss", "dtype", "extra", "image_shape"}, "activation": {"relu", "sigmoid", "tanh",
              "identity"}, "loss": {"cross_entropy", "quadratic"}}  # fmt: skip
_INPUT_TENSORS = ("input_mean", "input_std")  # the standardization a model applies to its inputs
_TARGET_TENSORS = ("target_mean", "target_std")  # the standardization a regression model's targets were trained in


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
    if model.target_standardization is not None:
        tensors["target_mean"], tensors["target_std"] = model.target_standardization
    if model.target_vector:
        meta["target_vector"] = True
    for key, value in (("classes", model.classes), ("features", model.feature_names)):
        if value is not None:
            meta[key] = [str(v) for v in value]
    if model.image_shape is not None:
        if not _fits(model.image_shape, model.sizes[0]):
            raise XPNetValueError(
                f"model.image_shape: expected (height, width, channels) with channels 1 or 3 and "
                f"{model.sizes[0]} values in all (the model's inputs); received {model.image_shape!r}"
            )
        meta["image_shape"] = [int(v) for v in model.image_shape]
    if extra is not None:
        meta["extra"] = extra
    plain = (set(meta) <= _VERSION_1["meta"] and model.activation in _VERSION_1["activation"]
             and model.loss in _VERSION_1["loss"] and model.standardization is None
             and model.target_standardization is None)  # fmt: skip
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
    arrays = {name: t for name, t in tensors.items() if name not in _INPUT_TENSORS + _TARGET_TENSORS}
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
    targets = [tensors.get(name) for name in _TARGET_TENSORS]
    if any(t is not None for t in targets):
        if any(t is None or t.shape != (sizes[-1],) for t in targets) or loss != "mse":
            raise DataIntegrityError(f"{path}: expected target_mean and target_std of shape ({sizes[-1]},) (mse only)")
        state["target_standardization"] = tuple(targets)
    state["target_vector"] = bool(meta.get("target_vector", False))
    for key, field, width in (("classes", "classes", sizes[-1]), ("features", "feature_names", sizes[0])):
        names = meta.get(key)
        if names is not None and (not isinstance(names, list) or len(names) != width):
            raise DataIntegrityError(f"{path}: its {key!r} metadata should list {width} names; found {names!r}")
        state[field] = None if names is None else [str(n) for n in names]
    state["image_shape"] = _image_shape(path, meta.get("image_shape"), sizes[0])
    return state


def _fits(shape: Any, n_inputs: int) -> bool:
    """Whether ``shape`` is a ``(height, width, channels)`` of a model with ``n_inputs`` inputs."""
    integers = (int, np.integer)
    valid = (
        isinstance(shape, (list, tuple))
        and len(shape) == 3
        and all(isinstance(v, integers) and not isinstance(v, bool) and v > 0 for v in shape)
    )
    return valid and shape[2] in (1, 3) and shape[0] * shape[1] * shape[2] == n_inputs


def _image_shape(path: Path, shape: Any, n_inputs: int) -> tuple[int, int, int] | None:
    """The ``(height, width, channels)`` of a model's input images, checked against its input width."""
    if shape is None:
        return None
    if not _fits(shape, n_inputs):
        raise DataIntegrityError(
            f"{path}: its 'image_shape' metadata should be [height, width, channels] (channels 1 or 3) with "
            f"{n_inputs} values in all; found {shape!r}"
        )
    return (shape[0], shape[1], shape[2])


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
            f"{path}: saved in {meta['dtype']}, which device {backend.spec!r} lacks; load it with dtype='float32' "
            "(xpnet eval and predict: --dtype float32)"
        )
    target = float_dtype(backend, meta["dtype"] if dtype is None else dtype)  # also checks an explicit dtype
    try:
        return MLP.from_state(state | {"spec": backend.spec}, device=backend, dtype=dtype_name(target))
    except DataIntegrityError as exc:
        raise DataIntegrityError(f"{path}: {exc}") from exc
