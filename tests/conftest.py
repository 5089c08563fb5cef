"""Our suite runs on the same backend matrix users get from the ``xp_device`` fixture (xpnet.testing.plugin)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_ENABLE_X64", "1")  # the jax-cpu-float64 cells; tests/test_jax.py checks JAX without it

import numpy as np
import pytest

from xpnet.testing.matrix import XPDevice


@pytest.fixture
def backend(xp_device: XPDevice) -> XPDevice:
    """The matrix cell under test (``xp_device`` under the name our tests grew up with)."""
    return xp_device


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A valid float32 model file (tests/test_io*.py)."""
    from model_files import _model

    from xpnet.io import save

    return save(_model("cpu", "float32"), tmp_path / "model.safetensors")
