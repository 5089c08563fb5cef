"""pytest plugin (entry point ``pytest11``): the ``xp_device`` fixture, parametrized over the backend matrix.

Installing xpnet registers it; any test that takes ``xp_device`` runs once per (backend, device, dtype)
combination, with the ids of :data:`xpnet.testing.matrix.CASES`::

    def test_my_layer(xp_device):
        x = xp_device.asarray(np.ones((4, 3)))
        net = xp_device.mlp((3, 2), seed=0)
        assert net(x).device == xp_device.device

Cases whose backend is not installed are skipped with the install hint; GPU cases carry the ``gpu`` marker
(``pytest -m gpu`` runs only them, ``-m "not gpu"`` none of them); ``XPNET_BACKENDS`` filters by id prefix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from ..errors import BackendUnavailableError, XPNetValueError
from . import cupy_standin
from .matrix import XPDevice, is_standin, make_xp_device, selected_cases


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (CuPy or PyTorch CUDA); run with `pytest -m gpu`")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "xp_device" in metafunc.fixturenames:
        params = [
            pytest.param(case, id=case[0], marks=[pytest.mark.gpu] if case[3] else []) for case in selected_cases()
        ]
        metafunc.parametrize("xp_device", params, indirect=True)


@pytest.fixture
def xp_device(request: pytest.FixtureRequest) -> Iterator[XPDevice]:
    """An :class:`xpnet.testing.XPDevice`: one (backend, device, dtype) of the matrix. The ``standin-cupy`` cells
    run with the CuPy stand-in installed (:mod:`xpnet.testing.cupy_standin`) for the whole test."""
    case_id, spec, dtype, _ = request.param
    with contextlib.ExitStack() as stack:
        if is_standin(case_id):
            if cupy_standin.real_cupy_present():
                pytest.skip("a real CuPy is installed here: the cupy-* cells test it, not the stand-in")
            stack.enter_context(cupy_standin.installed())
        yield _resolve(case_id, spec, dtype)


def _resolve(case_id: str, spec: str, dtype: str) -> XPDevice:
    try:
        device = make_xp_device(case_id, spec, dtype)
        device.dtype  # noqa: B018 - a device without this dtype (float64 on JAX without x64) is skipped
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    except XPNetValueError as exc:
        if "dtype" not in str(exc):
            raise
        pytest.skip(str(exc))
    return device
