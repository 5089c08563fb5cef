"""Files: safetensors with JSON metadata, never pickle (:mod:`.tensors`, the container; :mod:`.format`, models in
it), written atomically (:mod:`.atomic`); ONNX export (:mod:`.export`)."""

from __future__ import annotations

from .atomic import atomic_open
from .format import MODEL_KIND, load, save
from .tensors import FORMAT_VERSION, READABLE_VERSIONS, read_tensors, write_tensors

__all__ = [
    "FORMAT_VERSION",
    "MODEL_KIND",
    "READABLE_VERSIONS",
    "atomic_open",
    "load",
    "read_tensors",
    "save",
    "write_tensors",
]
