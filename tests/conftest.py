"""Our suite runs on the same backend matrix users get from the ``xp_device`` fixture (xpnet.testing.plugin)."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

os.environ.setdefault("JAX_ENABLE_X64", "1")  # the jax-cpu-float64 cells; tests/test_jax.py checks JAX without it

import numpy as np
import pytest
from hypothesis import settings

from xpnet.testing.matrix import XPDevice

# The xp_device fixture comes from xpnet's pytest plugin, registered when xpnet is installed; from a bare checkout
# (a GPU machine that runs .ci/gpu without installing anything) it is loaded here instead.
if not any(entry.value == "xpnet.testing.plugin" for entry in importlib.metadata.entry_points(group="pytest11")):
    pytest_plugins = ["xpnet.testing.plugin"]

# Property tests draw the same examples on every run (seeded from each test), so the README's test command passes
# or fails the same way everywhere; XPNET_HYPOTHESIS_PROFILE=explore draws fresh ones each run to hunt for bugs.
settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("XPNET_HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture
def backend(xp_device: XPDevice) -> XPDevice:
    """The matrix cell under test (``xp_device`` under the name our tests grew up with)."""
    return xp_device


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def cupy() -> Iterator[ModuleType]:
    """The CuPy stand-in (xpnet.testing.cupy_standin) as ``import cupy`` gives it while the test runs (files that
    use it skip themselves where a real CuPy is present)."""
    from xpnet.testing import cupy_standin

    with cupy_standin.installed() as module:
        yield module


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A valid float32 model file (tests/test_io*.py)."""
    from model_files import _model

    from xpnet.io import save

    return save(_model("cpu", "float32"), tmp_path / "model.safetensors")


@pytest.fixture
def blas_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy's BLAS called through ctypes whatever the problem's size: below ``SMALL_GEMM``/``SMALL_AXPY`` NumPy's
    own operators stand in for it, and the tests of the BLAS calls use small arrays."""
    from xpnet.backend import host_blas

    monkeypatch.setattr(host_blas, "SMALL_GEMM", 0)
    monkeypatch.setattr(host_blas, "SMALL_AXPY", 0)


@pytest.fixture(params=["cpu", "torch:cpu", "strict:device1", "standin-cuda"])
def layout_spec(request: pytest.FixtureRequest) -> Iterator[str]:
    """The devices of the layout tests (tests/test_layout.py, tests/test_activation_layout.py): the host's backends,
    whose weights are column-major, and the CuPy stand-in, whose cells have a GPU's layout (row-major)."""
    from xpnet.testing import cupy_standin

    if request.param.startswith("torch"):
        pytest.importorskip("torch")
    if request.param != "standin-cuda":
        yield request.param
        return
    if cupy_standin.real_cupy_present():
        pytest.skip("a real CuPy is here: the gpu cells test it")
    with cupy_standin.installed():
        yield "cuda"
