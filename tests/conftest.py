"""The backend matrix of DESIGN.md §4: every installed (backend, device, dtype) combination.

``XPNET_BACKENDS=numpy,strict-device1`` keeps only the cases whose id starts with one of the entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import xpnet
from xpnet.backend import Backend, float_dtype, resolve


@dataclass(frozen=True)
class Case:
    """One cell of the matrix: a resolved backend and a dtype, plus the tolerance that fits the dtype."""

    id: str
    backend: Backend
    dtype_name: str

    @property
    def xp(self) -> Any:
        return self.backend.xp

    @property
    def dtype(self) -> Any:
        return float_dtype(self.backend, self.dtype_name)

    @property
    def has_values(self) -> bool:
        return self.backend.spec != "torch:meta"

    @property
    def rtol(self) -> float:
        return 1e-10 if self.dtype_name == "float64" else 2e-4

    def mlp(self, sizes, **kwargs) -> xpnet.MLP:
        return xpnet.MLP(sizes, device=self.backend, dtype=self.dtype_name, **kwargs)

    def require_values(self) -> None:
        if not self.has_values:
            pytest.skip("torch:meta holds shapes only; this test compares values")


CASES = [
    ("numpy-float64", "cpu", "float64", ()),
    ("numpy-float32", "cpu", "float32", ()),
    ("strict-cpu-float64", "strict", "float64", ()),
    ("strict-device1-float32", "strict:device1", "float32", ()),
    ("strict-no_float64-float32", "strict:no_float64", "float32", ()),
    ("torch-cpu-float32", "torch:cpu", "float32", ()),
    ("torch-cpu-float64", "torch:cpu", "float64", ()),
    ("torch-meta-float32", "torch:meta", "float32", ()),
    ("cupy-float32", "cuda:0", "float32", (pytest.mark.gpu,)),
    ("cupy-float64", "cuda:0", "float64", (pytest.mark.gpu,)),
    ("torch-cuda-float32", "torch:cuda:0", "float32", (pytest.mark.gpu,)),
    ("torch-cuda-float64", "torch:cuda:0", "float64", (pytest.mark.gpu,)),
]


def _selected(case_id: str) -> bool:
    wanted = [w.strip() for w in os.environ.get("XPNET_BACKENDS", "").split(",") if w.strip()]
    return not wanted or any(case_id.startswith(w) for w in wanted)


@pytest.fixture(
    params=[pytest.param(c, id=c[0], marks=c[3]) for c in CASES if _selected(c[0])],
)
def backend(request) -> Case:
    case_id, spec, dtype, _ = request.param
    try:
        resolved = resolve(spec)
    except xpnet.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return Case(case_id, resolved, dtype)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
