"""The entry points of the cuBLAS library that :mod:`xpnet.backend.device_blas` calls through ctypes, answered on
the stand-in's memory: column-major ``gemm`` on raw addresses, queued into a graph while the stream captures.

A layout mistake in the caller (a transpose flag, a leading dimension, the order of the operands) gives wrong
numbers here as on a GPU, and the caller's first check against ``a @ b`` catches it.
"""

from __future__ import annotations

import ctypes
import itertools
from typing import Any

import numpy as np

from .. import _dispatch

_DTYPES = {0: np.float32, 1: np.float64}
_HANDLES = itertools.count(0x5000)


def _value(argument: Any) -> float:
    """The number behind ``ctypes.byref(c_float(...))``."""
    return float(argument._obj.value)


def _matrix(address: Any, dtype: Any, rows: int, cols: int, ld: int) -> np.ndarray:
    """The column-major ``rows x cols`` matrix at ``address`` with leading dimension ``ld``, as a NumPy view."""
    item = np.dtype(dtype).itemsize
    count = max((cols - 1) * ld + rows, 0)
    raw = (ctypes.c_char * (count * item)).from_address(int(address.value if hasattr(address, "value") else address))
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    return np.lib.stride_tricks.as_strided(flat, shape=(rows, cols), strides=(item, ld * item))


class Library:
    """cublasCreate_v2, cublasSetWorkspace_v2, cublasSetStream_v2 and cublasGemmEx, returning cuBLAS statuses."""

    def cublasCreate_v2(self, handle: Any) -> int:
        handle._obj.value = next(_HANDLES)
        return 0

    def cublasSetWorkspace_v2(self, handle: Any, workspace: Any, size: Any) -> int:
        return 0

    def cublasSetStream_v2(self, handle: Any, stream: Any) -> int:
        return 0

    def cublasGemmEx(self, handle: Any, transa: int, transb: int, m: int, n: int, k: int, alpha: Any, a: Any,
                     a_type: int, lda: int, b: Any, b_type: int, ldb: int, beta: Any, c: Any, c_type: int, ldc: int,
                     compute: int, algo: int) -> int:  # fmt: skip
        if not (a_type == b_type == c_type) or a_type not in _DTYPES:
            return 7  # CUBLAS_STATUS_INVALID_VALUE
        dtype = _DTYPES[a_type]
        first = _matrix(a, dtype, *((m, k) if transa == 0 else (k, m)), lda)
        second = _matrix(b, dtype, *((k, n) if transb == 0 else (n, k)), ldb)
        target = _matrix(c, dtype, m, n, ldc)
        scale, keep = _value(alpha), _value(beta)

        def run(out: Any = None) -> None:  # ``out``: the graph's mark of a write-only node
            product = scale * ((first if transa == 0 else first.T) @ (second if transb == 0 else second.T))
            target[...] = product if keep == 0 else product + keep * target

        graph = _dispatch.capture()
        if graph is not None:
            graph.record(run, (), {"out": None})
        else:
            run()
        return 0


def library() -> Library:
    return Library()
