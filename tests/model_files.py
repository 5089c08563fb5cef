"""Helpers shared by the model-file tests (tests/test_io*.py): models with random weights and biases, bit-exact
comparison, a saved file, and header surgery."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy

from xpnet.backend import resolve, to_numpy
from xpnet.nn.network import MLP

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
SPECS = ["cpu", "strict:device1", pytest.param("torch:cpu", marks=needs_torch)]


def _model(spec: str, dtype: str, *, activation: str = "tanh", loss: str = "quadratic", seed: int = 0) -> MLP:
    """A (4, 7, 3) network on ``spec`` with random weights *and* biases (freshly initialised biases are all zero)."""
    rng = np.random.default_rng(seed)
    shapes = [(4, 7), (7,), (7, 3), (3,)]
    backend = resolve(spec)
    params = [backend.asarray(rng.standard_normal(s).astype(dtype)) for s in shapes]
    return MLP.from_params(params, activation=activation, loss=loss)


def _host(net: MLP) -> list[np.ndarray]:
    return [to_numpy(p) for p in net.params]


def _assert_same(loaded: MLP, original: MLP) -> None:
    assert (loaded.sizes, loaded.activation, loaded.loss) == (original.sizes, original.activation, original.loss)
    for a, b in zip(_host(loaded), _host(original)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # bit-exact, NaN- and signed-zero-safe


def _header_length(data: bytes) -> int:
    return int.from_bytes(data[:8], "little")


def _rewrite_metadata(path: Path, **changes: str) -> None:
    with safetensors.safe_open(path, framework="numpy") as f:
        metadata = f.metadata() | changes
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))
