"""``assert_close``: compare arrays from any backend with dtype-aware default tolerances."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import dtype_name, is_host_array, to_numpy

# (rtol, atol) by the dtype of ``actual``
DEFAULT_TOLERANCES = {"float64": (1e-10, 1e-12), "float32": (1e-5, 1e-6), "float16": (1e-3, 1e-4)}


def assert_close(
    actual: Any, desired: Any, *, rtol: float | None = None, atol: float | None = None, check_dtype: bool = True
) -> None:
    """Assert that two arrays (NumPy, CuPy, PyTorch, array-api-strict, ...) agree.

    Both are moved to the host first. Shapes must match exactly; dtypes must match when ``check_dtype``
    (a Python scalar or list ``desired`` takes ``actual``'s dtype). Default tolerances follow the dtype
    of ``actual`` (:data:`DEFAULT_TOLERANCES`): float64 rtol 1e-10, float32 rtol 1e-5.

    Raises
    ------
    AssertionError
        Naming the shape, dtype or the largest differences.
    """
    got = to_numpy(actual)
    want = (
        to_numpy(desired)
        if not isinstance(desired, (list, tuple, int, float))
        else np.asarray(desired, dtype=got.dtype)
    )
    if got.shape != want.shape:
        raise AssertionError(f"shapes differ: actual {got.shape}, desired {want.shape}")
    if check_dtype and not (is_host_array(desired) and not isinstance(desired, np.ndarray)) and got.dtype != want.dtype:
        raise AssertionError(f"dtypes differ: actual {dtype_name(got.dtype)}, desired {dtype_name(want.dtype)}")
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(got.dtype.name, (0.0, 0.0))
    np.testing.assert_allclose(
        got, want, rtol=default_rtol if rtol is None else rtol, atol=default_atol if atol is None else atol
    )
