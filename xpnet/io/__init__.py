"""Files: models and checkpoints as safetensors with JSON metadata (:mod:`.format`, never pickle), written
atomically (:mod:`.atomic`); ONNX export (:mod:`.export`)."""

from __future__ import annotations

from .atomic import atomic_open
from .format import FORMAT_VERSION, MODEL_KIND, load, read_tensors, save, write_tensors

__all__ = ["FORMAT_VERSION", "MODEL_KIND", "atomic_open", "load", "read_tensors", "save", "write_tensors"]
