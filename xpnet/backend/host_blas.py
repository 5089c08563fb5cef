"""NumPy's own BLAS (the OpenBLAS its wheels bundle), reached through ctypes for ``gemm`` with ``beta`` and ``axpy``.

NumPy exposes neither operation, and SciPy's BLAS is a second OpenBLAS with its own thread pool, which fights
NumPy's for the cores. Calling the library NumPy already loaded keeps one pool. Small problems (below
:data:`SMALL_GEMM` multiply-adds, :data:`SMALL_AXPY` elements) are done by NumPy's own operators, in place, where
the call through ctypes would cost more than the arithmetic. :func:`host_blas` returns None
wherever that library or its symbols cannot be found (other platforms, other builds): callers then take the
portable path.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path
from typing import Any

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# symbol prefix, suffix and integer type, most specific first (NumPy >= 2 wheels use scipy-openblas64)
_FLAVOURS = (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64), ("cblas_", "", ctypes.c_int))
_REALS = {np.dtype(np.float32): ("s", ctypes.c_float), np.dtype(np.float64): ("d", ctypes.c_double)}
# Below these sizes a call through ctypes (~6 µs for gemm, ~3 for axpy) costs more than NumPy's own matmul and
# in-place operators do the work (a small network's step: 164 -> 138 µs): NumPy does it then, in place all the same.
SMALL_GEMM = 1 << 19  # multiply-adds
SMALL_AXPY = 1 << 15  # elements


class HostBLAS:
    """``gemm`` and ``axpy`` on C-contiguous or transposed (F-contiguous) NumPy float32/float64 arrays."""

    def __init__(self, library: ctypes.CDLL, prefix: str, suffix: str, integer: Any) -> None:
        self._gemm, self._axpy = {}, {}
        for dtype, (letter, real) in _REALS.items():
            gemm = getattr(library, f"{prefix}{letter}gemm{suffix}")
            gemm.restype = None
            gemm.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, real,
                             ctypes.c_void_p, integer, ctypes.c_void_p, integer, real, ctypes.c_void_p, integer]  # fmt: skip
            axpy = getattr(library, f"{prefix}{letter}axpy{suffix}")
            axpy.restype = None
            axpy.argtypes = [integer, real, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
            self._gemm[dtype], self._axpy[dtype] = gemm, axpy

    @staticmethod
    def _operand(m: np.ndarray) -> tuple[int, int, np.ndarray] | None:
        """(transpose flag, leading dimension, array) describing ``m`` in row-major terms, without a copy."""
        if m.flags.c_contiguous and m.strides[-1] == m.itemsize:
            return _NO_TRANS, max(m.shape[1], 1), m
        if m.flags.f_contiguous and m.strides[0] == m.itemsize:
            return _TRANS, max(m.shape[0], 1), m
        return None

    def gemm(self, a: np.ndarray, b: np.ndarray, out: np.ndarray, beta: float) -> bool:
        """``out = a @ b + beta * out`` in place; False (nothing done) when the layouts do not fit."""
        gemm = self._gemm.get(out.dtype)
        if gemm is None or not (a.dtype == b.dtype == out.dtype) or not (a.ndim == b.ndim == out.ndim == 2):
            return False
        if a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
            return False  # let the portable path raise NumPy's own shape error
        if not out.flags.writeable or np.shares_memory(out, a) or np.shares_memory(out, b):
            return False
        if a.shape[0] * a.shape[1] * b.shape[1] < SMALL_GEMM:
            if beta == 0:
                np.matmul(a, b, out=out)  # the old contents (even NaN) are not read, as BLAS's
            else:
                out *= beta
                out += a @ b
            return True
        if not out.flags.c_contiguous:  # a column-major out (a parameter's layout): out.T = b.T @ a.T, row-major
            return out.flags.f_contiguous and self.gemm(b.T, a.T, out.T, beta)
        left, right = self._operand(a), self._operand(b)
        if left is None or right is None:
            return False
        (ta, lda, a), (tb, ldb, b) = left, right
        m, k = a.shape
        n = b.shape[1]
        gemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, beta, out.ctypes.data, max(n, 1))
        return True

    def axpy(self, alpha: float, x: np.ndarray, y: np.ndarray) -> bool:
        """``y += alpha * x`` in place; False when the arrays are not contiguous and alike (both row-major or both
        column-major)."""
        axpy = self._axpy.get(y.dtype)
        if axpy is None or x.dtype != y.dtype or x.shape != y.shape or not y.flags.writeable:
            return False
        if not ((x.flags.c_contiguous and y.flags.c_contiguous) or (x.flags.f_contiguous and y.flags.f_contiguous)):
            return False
        if y.size < SMALL_AXPY:
            y += alpha * x  # as the portable path: a Python number, so float32 stays float32
            return True
        axpy(y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
        return True


@functools.cache
def host_blas() -> HostBLAS | None:
    """The BLAS NumPy itself uses, or None where it cannot be found."""
    root = Path(np.__file__).resolve().parent
    candidates = [p for folder in (root.parent / "numpy.libs", root / ".dylibs", root / "_core") if folder.is_dir()
                  for p in sorted(folder.iterdir()) if "openblas" in p.name.lower()]  # fmt: skip
    for path in candidates:
        try:
            library = ctypes.CDLL(str(path))
        except OSError:
            continue
        for prefix, suffix, integer in _FLAVOURS:
            if hasattr(library, f"{prefix}sgemm{suffix}") and hasattr(library, f"{prefix}daxpy{suffix}"):
                return HostBLAS(library, prefix, suffix, integer)
    return None
