"""ONNX graphs recorded by ndonnx: a network's own forward pass, run on ndonnx arrays, becomes the graph.

ndonnx is an Array API library whose arrays record the operations applied to them; :func:`symbolic_input` makes
the graph's input (a dynamic batch dimension), :func:`build` turns the recorded outputs into a checked ONNX model.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import BackendUnavailableError
from .specs import Backend

INSTALL = 'pip install "xpnet[onnx]"'


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailableError(f"ONNX export needs {name!r} ({exc}); install it with: {INSTALL}") from exc


def symbolic_input(backend: Backend, n_features: int, dtype: Any, batch: str = "N") -> Any:
    """The graph's input: an ndonnx array of shape ``(batch, n_features)`` with a named, dynamic batch dimension."""
    return backend.xp.argument(shape=(batch, n_features), dtype=dtype)


def build(inputs: dict[str, Any], outputs: dict[str, Any], producer: str, metadata: dict[str, str]) -> bytes:
    """The ONNX model recorded from ``inputs`` to ``outputs``, with ``metadata`` as its ``metadata_props``
    (string keys and values, as ONNX has them), checked by ``onnx.checker``, serialised."""
    ndx, onnx = _module("ndonnx"), _module("onnx")
    model = ndx.build(inputs, outputs)
    model.producer_name = producer
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString())
