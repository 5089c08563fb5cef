"""ONNX export: the network's own forward pass, run on ndonnx arrays, recorded as an ONNX graph (no second,
hand-written description of the network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._version import __version__
from ..backend import resolve
from ..backend.onnx import build, symbolic_input
from ..errors import XPNetValueError
from ..nn.layers import EVALUATION
from ..nn.network import MLP, check_model
from .atomic import atomic_open


def export_onnx(model: MLP, path: str | os.PathLike, *, batch_dimension: str = "N") -> Path:
    """Write ``model`` as an ONNX file: input ``x`` ``(N, n_features)``, outputs ``probabilities`` ``(N, k)`` and
    ``labels`` ``(N,)`` (int64 class indices) for classifiers, ``outputs`` ``(N, k)`` for a regression (mse) model.
    The file's ``metadata_props`` carry the class names, feature names and image shape as JSON (see
    :func:`_metadata`), so a server can name the labels without xpnet.

    The model is copied to the host once; its evaluation-mode forward pass (standardization, batch norm's running
    statistics, no dropout) runs on ndonnx arrays, which record it. The file passes ``onnx.checker`` and is written
    atomically. Needs ``pip install "xpnet[onnx]"``.
    """
    model = check_model(model)
    if not batch_dimension or not isinstance(batch_dimension, str):
        raise XPNetValueError(f"batch_dimension: expected a name such as 'N'; received {batch_dimension!r}")
    target = resolve("onnx")
    graph_model = model.to(target)  # the weights become constants of the graph
    x = symbolic_input(target, model.sizes[0], graph_model.dtype, batch_dimension)
    z, _ = graph_model._forward(x, EVALUATION)  # one recorded pass; every output is taken from its last layer
    if model._loss.classifies:
        outputs = {"probabilities": model._loss.proba(z), "labels": target.xp.argmax(z, axis=1)}
    else:
        outputs = {"outputs": graph_model._output_of(z)}  # in the targets' units
    data = build({"x": x}, outputs, producer=f"xpnet {__version__}", metadata=_metadata(model))
    path = Path(path)
    with atomic_open(path, "wb") as f:
        f.write(data)
    return path


def _metadata(model: MLP) -> dict[str, str]:
    """What a server needs besides the graph, as JSON strings: ``classes`` (the name of each label index),
    ``feature_names`` (the columns of ``x``), ``image_shape`` (``[height, width, channels]`` of image inputs), and
    the ``architecture``; keys whose value the model lacks are left out."""
    facts = {
        "classes": model.classes,
        "feature_names": model.feature_names,
        "image_shape": None if model.image_shape is None else [int(v) for v in model.image_shape],
        "architecture": repr(model),
    }
    return {key: json.dumps(value) for key, value in facts.items() if value is not None}
