"""Matrix products and in-place update kernels with backend fast paths and the portable path beside each.

``matmul`` (``a @ b``), ``matmul_into`` (``out = a @ b + beta·out``), ``axpy`` (``y += alpha·x``) and
``relu_backward`` (``dy·[z > 0]``) are what the optimizers and backprop need to touch each large array as few times
as possible. Fast paths: NumPy's own BLAS (:mod:`xpnet.backend.host_blas`), cuBLAS for CuPy arrays
(:mod:`xpnet.backend.device_blas`: one kernel for ``matmul_into``, and capturable in CUDA graphs) and PyTorch's
fused in-place ops; everything else (array-api-strict, JAX, any namespace) takes the portable path written with
standard operators. ``alpha`` may be a 0-d device array (a captured step's learning rate) as well as a number.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

from .device_blas import device_blas
from .host_blas import host_blas

# Module-level switch so tests can run the portable path on NumPy and PyTorch too.
FAST_PATHS = True


def _is_torch(a: Any) -> bool:
    return FAST_PATHS and type(a).__module__ == "torch" and not a.requires_grad


def _numpy_blas(*arrays: Any) -> Any:
    if FAST_PATHS and all(isinstance(a, np.ndarray) for a in arrays):
        return host_blas()
    return None


def _cuda_blas(*arrays: Any) -> Any:
    if FAST_PATHS and all(type(a).__module__.startswith("cupy") and a.dtype.kind == "f" for a in arrays):
        return device_blas()
    return None


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D ``a`` and ``b``: on CuPy through cuBLAS itself (a CUDA graph can capture it)."""
    blas = _cuda_blas(a, b)
    if blas is not None:
        return blas.gemm(a, b)
    return a @ b


def matmul_into(a: Any, b: Any, out: Any, beta: float) -> Any:
    """``out = a @ b + beta * out``, in place where possible; returns ``out`` (store the result back).

    Fast paths fuse the scaling and the accumulation into the matrix product, so no ``(m, n)`` temporary
    is made and ``out`` is read and written once: BLAS ``gemm`` with ``beta`` on NumPy and
    ``Tensor.addmm_`` on PyTorch. The portable path is ``out *= beta; out += a @ b``.
    """
    blas = _numpy_blas(a, b, out)
    if blas is not None and blas.gemm(a, b, out, beta):
        return out
    cuda = _cuda_blas(a, b, out)
    if cuda is not None and out.flags.c_contiguous:
        return cuda.gemm(a, b, out, beta)
    if _is_torch(out):
        return out.addmm_(a, b, beta=beta)
    if beta == 0:
        return a @ b  # like BLAS with beta = 0: the old contents (even NaN) are not read
    out *= beta
    out += a @ b
    return out


def axpy(alpha: float, x: Any, y: Any) -> Any:
    """``y += alpha * x`` in place where the backend allows it; returns ``y`` (store the result back).

    The portable path (``y += alpha * x``) allocates one temporary as large as ``x``; BLAS ``axpy`` on
    NumPy and ``Tensor.add_(x, alpha=...)`` on PyTorch make none.
    """
    blas = _numpy_blas(x, y)
    if blas is not None and isinstance(alpha, (int, float)) and blas.axpy(alpha, x, y):
        return y
    if _is_torch(y):
        if not isinstance(alpha, (int, float)):  # a 0-d tensor (a captured step's learning rate): one fused kernel
            return y.addcmul_(x, alpha)
        try:
            return y.add_(x, alpha=alpha)
        except RuntimeError:  # alpha beyond the tensor's dtype (l2=3e38 on float32): overflow as the portable path does
            pass
    y += alpha * x  # portable: in place on NumPy, CuPy, array-api-strict; rebinds on immutable backends
    return y


def relu_backward(dy: Any, z: Any) -> Any:
    """``dy · [z > 0]`` (the ReLU's backward pass), in place where possible; returns the result (store it back).

    The portable path builds a boolean mask, casts it to ``dy``'s dtype and multiplies: three passes and two
    temporaries. PyTorch's own ``threshold_backward`` is one pass (a tenth of the time on a CPU); NumPy multiplies
    by the boolean mask directly, without the cast.
    """
    if _is_torch(dy) and _is_torch(z):
        return _torch_ops().aten.threshold_backward(dy, z, 0)
    if FAST_PATHS and isinstance(dy, np.ndarray) and isinstance(z, np.ndarray) and dy.flags.writeable:
        return np.multiply(dy, z > 0, out=dy)
    dy *= array_namespace(z).astype(z > 0, dy.dtype)  # portable: rebinds on immutable backends (JAX)
    return dy


def _torch_ops() -> Any:
    import torch  # only reached with torch tensors in hand: torch is already imported

    return torch.ops
