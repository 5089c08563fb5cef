"""cuBLAS reached through ctypes for CuPy arrays: ``gemm`` with ``beta`` and a compute type, capturable in graphs.

CuPy's own cuBLAS wrappers refuse to run while a stream captures a graph (``NotImplementedError: calling cuBLAS
API during stream capture is currently unsupported``), which would keep every matrix product of a training step
out of a CUDA graph; cuBLAS itself captures them. This module calls the cuBLAS library CuPy loaded, with a handle
of its own per GPU (its stream set at each call, a workspace of its own so that a capture allocates nothing), and
also fuses ``out = a @ b + beta·out`` into one kernel where CuPy's matmul takes three.

:func:`device_blas` returns None where the library cannot be found or fails its first check against CuPy's matmul
(callers then take CuPy's matmul); ``XPNET_DEVICE_BLAS=0`` turns it off. The CuPy stand-in
(:mod:`xpnet.testing.cupy_standin`) provides a library with the same entry points, so the calls are tested on
CPUs too.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import warnings
from typing import Any

import numpy as np

from .memo import per_library

_OP_N, _OP_T = 0, 1
_COMPUTE = {"float32": 68, "tf32": 77, "float64": 70}  # CUBLAS_COMPUTE_32F, _32F_FAST_TF32, _64F
_DATA = {"float32": 0, "float64": 1}  # CUDA_R_32F, CUDA_R_64F
_GEMM_DEFAULT = -1
WORKSPACE_BYTES = 32 * 2**20  # what NVIDIA recommends for Hopper


def _operand(a: Any) -> tuple[int, int] | None:
    """``(transpose flag, leading dimension)`` of a 2-D array in cuBLAS's column-major terms, or None (a copy is
    needed). A row-major ``(r, c)`` array is the column-major ``(c, r)`` matrix; its transpose view is not."""
    rows, cols = a.shape
    item = a.itemsize
    if a.strides == (cols * item, item) or (rows <= 1 and a.strides[1] == item):
        return _OP_N, max(cols, 1)
    if a.strides == (item, rows * item) or (cols <= 1 and a.strides[0] == item):
        return _OP_T, max(rows, 1)
    return None


class DeviceBLAS:
    """``gemm`` on CuPy float32/float64 arrays of the current GPU (see the module docstring)."""

    def __init__(self, library: Any, cupy: Any) -> None:
        self._lib, self._cupy = library, cupy
        self._handles: dict[int, tuple[int, Any]] = {}  # device id -> (handle, workspace kept alive)

    def _handle(self) -> int:
        device = self._cupy.cuda.runtime.getDevice()
        if device not in self._handles:
            handle = ctypes.c_void_p()
            _check(self._lib.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
            workspace = self._cupy.empty((WORKSPACE_BYTES,), dtype=np.uint8)
            _check(self._lib.cublasSetWorkspace_v2(handle, ctypes.c_void_p(workspace.data.ptr),
                                                   ctypes.c_size_t(WORKSPACE_BYTES)), "cublasSetWorkspace")  # fmt: skip
            self._handles[device] = (int(handle.value or 0), workspace)
        return self._handles[device][0]

    def gemm(self, a: Any, b: Any, out: Any | None = None, beta: float = 0.0, precision: str = "highest") -> Any:
        """``a @ b + beta·out`` into ``out`` (a new array when None); returns it. ``precision="tf32"`` lets
        float32 products use TensorFloat-32."""
        name = np.dtype(a.dtype).name
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or name not in _DATA or b.dtype != a.dtype:
            raise ValueError(f"gemm: unsupported operands {a.shape} {a.dtype} @ {b.shape} {b.dtype}")
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        if out is None:
            out = self._cupy.empty((m, n), dtype=a.dtype)
            beta = 0.0
        elif out.shape != (m, n) or out.dtype != a.dtype or not (out.flags.c_contiguous or out.flags.f_contiguous):
            raise ValueError(f"gemm: out must be contiguous {(m, n)} {a.dtype}; received {out.shape} {out.dtype}")
        elif not out.flags.c_contiguous:  # column-major (a parameter's layout): out.T = b.T @ a.T, row-major
            self.gemm(b.T, a.T, out.T, beta, precision)
            return out
        left, right = _operand(a), _operand(b)
        if left is None:
            a, left = self._cupy.ascontiguousarray(a), (_OP_N, max(k, 1))
        if right is None:
            b, right = self._cupy.ascontiguousarray(b), (_OP_N, max(n, 1))
        if m == 0 or n == 0:
            return out
        if k == 0:
            out *= beta
            return out
        # Row-major C = A @ B is column-major C^T = B^T @ A^T: cuBLAS gets B first.
        real = ctypes.c_double if name == "float64" else ctypes.c_float
        alpha_value, beta_value = real(1.0), real(beta)
        compute = _COMPUTE["tf32" if precision == "tf32" and name == "float32" else name]
        handle = self._handle()
        stream = self._cupy.cuda.get_current_stream()
        _check(self._lib.cublasSetStream_v2(ctypes.c_void_p(handle), ctypes.c_void_p(stream.ptr)), "cublasSetStream")
        status = self._lib.cublasGemmEx(
            ctypes.c_void_p(handle), right[0], left[0], n, m, k, ctypes.byref(alpha_value),
            ctypes.c_void_p(b.data.ptr), _DATA[name], right[1], ctypes.c_void_p(a.data.ptr), _DATA[name], left[1],
            ctypes.byref(beta_value), ctypes.c_void_p(out.data.ptr), _DATA[name], max(n, 1), compute, _GEMM_DEFAULT,
        )  # fmt: skip
        _check(status, "cublasGemmEx")
        return out


def _check(status: int, call: str) -> None:
    if status != 0:
        raise RuntimeError(f"{call} failed with cuBLAS status {status}")


def _library(cupy: Any) -> Any:
    """The cuBLAS library CuPy loaded (the stand-in's own where the stand-in is CuPy)."""
    if getattr(cupy, "STANDIN", False):
        return importlib.import_module("cupy.cuda.cublas_library").library()
    cupy.cuda.device.get_cublas_handle()  # makes CuPy load cuBLAS
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "/libcublas.so" in line and line.split()[-1][0] == "/"})
    if not paths:
        raise OSError("CuPy's cuBLAS library is not among the loaded libraries (/proc/self/maps)")
    return ctypes.CDLL(paths[0])


def turned_off() -> bool:
    """Whether the user turned xpnet's route to cuBLAS off (``XPNET_DEVICE_BLAS=0``)."""
    return os.environ.get("XPNET_DEVICE_BLAS", "1") == "0"


@per_library
def device_blas() -> DeviceBLAS | None:
    """cuBLAS for CuPy arrays, or None where it is not there or fails its first check (then CuPy's matmul)."""
    if turned_off():
        return None
    try:
        cupy = importlib.import_module("cupy")
        blas = DeviceBLAS(_library(cupy), cupy)
        rng = np.random.default_rng(0)
        for dtype in ("float32", "float64"):  # every layout the training step uses, against CuPy's matmul
            a, b = (cupy.asarray(rng.standard_normal(shape).astype(dtype)) for shape in ((5, 3), (3, 4)))
            out = cupy.asarray(rng.standard_normal((5, 4)).astype(dtype))
            expected = a @ b + 0.5 * out
            checks = [(blas.gemm(a, b, out.copy(), 0.5), expected), (blas.gemm(a.T.T, b.T.copy().T), a @ b),
                      (blas.gemm(b.T, a.T), (a @ b).T), (blas.gemm(a.T.copy().T, b), a @ b),
                      (blas.gemm(a, b, out.T.copy().T, 0.5), expected)]  # fmt: skip
            for got, want in checks:
                if not np.allclose(got.get(), want.get(), rtol=1e-5, atol=1e-5):
                    raise RuntimeError(f"gemm gave wrong {dtype} results in its first check")
        return blas
    except Exception as exc:  # no GPU, no library, a symbol missing, a wrong result
        if importlib.util.find_spec("cupy") is not None:
            warnings.warn(f"xpnet: cuBLAS through ctypes is unavailable ({exc}); CuPy's matmul is used instead, "
                          "and training steps on CuPy are not captured as CUDA graphs", RuntimeWarning, stacklevel=2)  # fmt: skip
        return None
