"""The backend matrix: every (backend, device, dtype) combination xpnet is tested on, as DESIGN.md §4 lists.

``XPNET_BACKENDS=numpy,strict-device1`` keeps only the cases whose id starts with one of the entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..backend import Backend, float_dtype, resolve, to_device

# id, device spec, dtype, needs a GPU
CASES: tuple[tuple[str, str, str, bool], ...] = (
    ("numpy-float64", "cpu", "float64", False),
    ("numpy-float32", "cpu", "float32", False),
    ("strict-cpu-float64", "strict", "float64", False),
    ("strict-device1-float32", "strict:device1", "float32", False),
    ("strict-no_float64-float32", "strict:no_float64", "float32", False),
    ("torch-cpu-float32", "torch:cpu", "float32", False),
    ("torch-cpu-float64", "torch:cpu", "float64", False),
    ("torch-meta-float32", "torch:meta", "float32", False),
    ("jax-cpu-float32", "jax:cpu", "float32", False),
    ("jax-cpu-float64", "jax:cpu", "float64", False),  # needs JAX_ENABLE_X64=1 (skipped otherwise)
    # CuPy's traits on the CPU (xpnet.testing.cupy_standin), on the second of two simulated GPUs: an array made on
    # the current device instead of the model's, or a device object hashed, fails here as on a real GPU
    ("standin-cupy-cuda1-float32", "cuda:1", "float32", False),
    ("cupy-float32", "cuda:0", "float32", True),
    ("cupy-float64", "cuda:0", "float64", True),
    ("torch-cuda-float32", "torch:cuda:0", "float32", True),
    ("torch-cuda-float64", "torch:cuda:0", "float64", True),
    ("jax-cuda-float32", "jax:cuda:0", "float32", True),
)


def selected_cases(filter_text: str | None = None) -> list[tuple[str, str, str, bool]]:
    """The cases kept by ``filter_text`` (default: the ``XPNET_BACKENDS`` environment variable)."""
    text = os.environ.get("XPNET_BACKENDS", "") if filter_text is None else filter_text
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    return [case for case in CASES if not wanted or any(case[0].startswith(w) for w in wanted)]


@dataclass(frozen=True)
class XPDevice:
    """One cell of the matrix, as the ``xp_device`` fixture hands it to a test.

    Attributes
    ----------
    id : str
        ``"numpy-float64"``, ``"strict-device1-float32"``, ...
    backend : Backend
        The resolved device (``.spec``, ``.xp``, ``.device``).
    dtype_name : str
        ``"float32"`` or ``"float64"``.
    """

    id: str
    backend: Backend
    dtype_name: str

    @property
    def spec(self) -> str:
        """The canonical device spec."""
        return self.backend.spec

    @property
    def xp(self) -> Any:
        """The Array API namespace."""
        return self.backend.xp

    @property
    def device(self) -> Any:
        """The native device object."""
        return self.backend.device

    @property
    def dtype(self) -> Any:
        """The namespace's floating dtype of this cell."""
        return float_dtype(self.backend, self.dtype_name)

    @property
    def has_values(self) -> bool:
        """False on ``torch:meta``, whose tensors have shapes but no data."""
        return self.backend.spec != "torch:meta"

    @property
    def rtol(self) -> float:
        """A relative tolerance for comparing with a float64 reference: 1e-10 in float64, 2e-4 in float32."""
        return 1e-10 if self.dtype_name == "float64" else 2e-4

    def asarray(self, a: Any) -> Any:
        """Host data moved to this device, floating data cast to this dtype."""
        kind = getattr(getattr(a, "dtype", None), "kind", "f")
        return to_device(a, self.backend, dtype=self.dtype if kind == "f" else None)

    def mlp(self, sizes: Any, **kwargs: Any) -> Any:
        """An :class:`xpnet.MLP` on this device and dtype."""
        from ..nn.network import MLP

        return MLP(sizes, device=self.backend, dtype=self.dtype_name, **kwargs)

    def require_values(self) -> None:
        """Skip the calling test on ``torch:meta`` (it compares values)."""
        if not self.has_values:
            import pytest

            pytest.skip("torch:meta holds shapes only; this test compares values")

    def __str__(self) -> str:
        return f"{self.id} ({self.spec}, {self.dtype_name})"


def is_standin(case_id: str) -> bool:
    """Whether the case runs on the CuPy stand-in (installed around the test by the ``xp_device`` fixture)."""
    return case_id.startswith("standin-cupy")


def make_xp_device(case_id: str, spec: str, dtype: str) -> XPDevice:
    """Resolve one case; raises :class:`xpnet.BackendUnavailableError` where it cannot run."""
    return XPDevice(case_id, resolve(spec), dtype)
