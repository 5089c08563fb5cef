"""Matrix products and in-place update kernels with backend fast paths and the portable path beside each.

``matmul`` (``a @ b``), ``affine`` (``x @ w + b``), ``matmul_into`` (``out = a @ b + beta·out``), ``axpy``
(``y += alpha·x``), ``descend`` (``y -= alpha·x``), ``axpby`` (``y = beta·y + x``) and ``column_sums_into`` (a bias
gradient into its buffer) are what the optimizers and backprop need to touch each large array as few times as
possible. Fast paths: NumPy's own BLAS (:mod:`xpnet.backend.host_blas`), cuBLAS for CuPy arrays
(:mod:`xpnet.backend.device_blas`: one kernel for ``matmul_into``, and capturable in CUDA graphs), fused CuPy
kernels and PyTorch's fused in-place ops; everything else (array-api-strict, JAX, any namespace) takes the portable
path written with standard operators. ``alpha`` may be a 0-d device array (a captured step's learning rate) as well
as a number. The step's other operations (ReLU, softmax cross-entropy, gathers) are in :mod:`.step_ops`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_cupy_array

from .arrays import backend_of, column_major, dtype_name
from .device_blas import device_blas
from .fused import UNFUSED, fused
from .host_blas import host_blas
from .memo import by_spec
from .precision import current as current_precision

# Module-level switch so tests can run the portable path on NumPy and PyTorch too.
FAST_PATHS = True
# Module-level switch so benchmarks/layouts.py can time the row-major outputs that column-major weights once made.
OUTPUTS_FOLLOW_LAYOUT = True
# Below this many multiply-adds (or with one row) a dense layer's output stays row-major whatever its weights' layout:
# the transposed call costs more host time than it saves (784→16 at batch 8 on PyTorch's CPU: 9.5 against 6.8 µs).
SMALL_FOLLOW = 1 << 19


def _is_torch(a: Any) -> bool:
    return FAST_PATHS and type(a).__module__ == "torch" and not a.requires_grad


def _numpy_blas(*arrays: Any) -> Any:
    if FAST_PATHS and all(isinstance(a, np.ndarray) for a in arrays):
        return host_blas()
    return None


def _is_cupy(*arrays: Any) -> bool:
    return FAST_PATHS and all(is_cupy_array(a) for a in arrays)


def _fused(name: str, *arrays: Any) -> Any:
    """The fused CuPy kernel ``name`` when every array is CuPy's (see :mod:`xpnet.backend.fused`), else None."""
    table = fused() if _is_cupy(*arrays) else None
    return None if table is None else table[name]


def _cuda_blas(*arrays: Any) -> Any:
    if _is_cupy(*arrays) and all(a.dtype.kind == "f" for a in arrays):
        return device_blas()
    return None


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D ``a`` and ``b`` at the precision in force (:mod:`xpnet.backend.precision`): on CuPy
    through cuBLAS itself (a CUDA graph can capture it, TensorFloat-32 by its compute type); bfloat16 operands with
    float32 results on PyTorch and JAX."""
    precision = current_precision()
    if precision == "bf16":
        return _bf16_matmul(a, b)
    blas = _cuda_blas(a, b)
    if blas is not None:
        return blas.gemm(a, b, precision=precision)
    return a @ b


def _follows(like: Any) -> bool:
    return FAST_PATHS and OUTPUTS_FOLLOW_LAYOUT and column_major(like)


def follows_weights(x: Any, w: Any, rows: bool = False) -> bool:
    """Whether ``x @ w`` (a dense layer's product) is made laid out as ``w``, column-major (:mod:`.layout`): where
    ``w`` is, on the fast paths, for more than one row and :data:`SMALL_FOLLOW` multiply-adds. ``rows``: the output
    is to be read by rows (the network's last): then only where ``x`` is column-major too (a row-major product from
    it is MKL's slowest; one made in columns and copied costs less), else ``x @ w`` is made row-major at once."""
    if not _follows(w) or (rows and not column_major(x)):  # first: an exported graph's batch size may be None
        return False
    n = x.shape[0]
    return n > 1 and n * x.shape[1] * w.shape[1] >= SMALL_FOLLOW


def matmul_as(a: Any, b: Any, like: Any) -> Any:
    """:func:`matmul` laid out as ``like`` is: where ``like`` is column-major (a dense layer's input on the host,
    :mod:`.layout`), computed as ``(bᵀ @ aᵀ)ᵀ``, whose result is column-major too (the portable path: ``a @ b``)."""
    return matmul(b.T, a.T).T if _follows(like) else matmul(a, b)


def torch_addmm(op: Any, x: Any, w: Any, b: Any, rows: bool = False) -> Any:
    """``op(b, x, w)`` (PyTorch's ``addmm`` or ``_addmm_activation``: ``x @ w + b``, then the activation), as
    ``op(b[:, None], wᵀ, xᵀ)ᵀ``, column-major, where :func:`follows_weights`."""
    if follows_weights(x, w, rows):
        return op(b[:, None], w.T, x.T).T
    return op(b, x, w)


def _torch_affine(x: Any, w: Any, b: Any) -> bool:
    """Whether ``x @ w + b`` is one PyTorch ``addmm``: PyTorch tensors, matrix products not in bfloat16."""
    return _is_torch(x) and _is_torch(w) and _is_torch(b) and current_precision() != "bf16"


def affine(x: Any, w: Any, b: Any, rows: bool = False) -> Any:
    """``x @ w + b`` (a dense layer's output, ``b`` broadcast over the rows) at the precision in force, laid out as
    ``w`` is where :func:`follows_weights` (``rows``: the network's last output). On PyTorch one ``addmm`` (on CUDA a
    cuBLASLt matmul whose epilogue adds the bias: one kernel where two would run)."""
    if _torch_affine(x, w, b):
        return torch_addmm(_torch_ops().aten.addmm.default, x, w, b, rows)
    y = matmul(w.T, x.T).T if follows_weights(x, w, rows) else matmul(x, w)
    y += b  # in place: no second (n, fan_out) array
    return y


def operand(a: Any) -> Any:
    """``a`` as the matrix products at the precision in force read it: under ``"bf16"`` a bfloat16 copy, to be made
    once and handed to every product that reads ``a`` (a dense layer casts its input, weights and incoming gradient
    once per step, not once per product); otherwise ``a`` itself."""
    return _to_bf16(a) if current_precision() == "bf16" else a


def _to_bf16(a: Any) -> Any:
    if type(a).__module__ == "torch":
        import torch

        return a.to(torch.bfloat16)  # a itself when it is bfloat16 already
    import jax.numpy as jnp  # bf16 is checked to be PyTorch's or JAX's (xpnet.backend.precision)

    return a.astype(jnp.bfloat16)


def _bf16_matmul(a: Any, b: Any) -> Any:
    """``a @ b`` on bfloat16 copies of ``a`` and ``b`` (``a`` and ``b`` themselves when they are bfloat16 already),
    returned in the dtype of the operand that is not, float32 when neither is (float32 sums on JAX)."""
    left, right = _to_bf16(a), _to_bf16(b)
    if type(a).__module__ == "torch":
        import torch

        dtype = next((t.dtype for t in (a, b) if t.dtype != torch.bfloat16), torch.float32)
        if a.is_cuda:
            try:  # float32 sums written as float32 (PyTorch >= 2.8 on CUDA), as JAX's preferred_element_type
                return torch.mm(left, right, out_dtype=dtype)
            except (TypeError, RuntimeError, NotImplementedError):
                pass
        return torch.matmul(left, right).to(dtype)
    import jax.numpy as jnp

    dtype = next((t.dtype for t in (a, b) if t.dtype != jnp.bfloat16), jnp.float32)
    return jnp.matmul(left, right, preferred_element_type=dtype)


def matmul_into(a: Any, b: Any, out: Any, beta: float) -> Any:
    """``out = a @ b + beta * out``, in place where possible; returns ``out`` (store the result back).

    Fast paths fuse the scaling and the accumulation into the matrix product, so no ``(m, n)`` temporary
    is made and ``out`` is read and written once: BLAS ``gemm`` with ``beta`` on NumPy and
    ``Tensor.addmm_`` on PyTorch. The portable path is ``out = beta·out + a @ b`` (:func:`axpby`).
    """
    precision = current_precision()
    if precision == "bf16":
        product = _bf16_matmul(a, b)
    else:
        blas = _numpy_blas(a, b, out)
        if blas is not None and blas.gemm(a, b, out, beta):
            return out
        cuda = _cuda_blas(a, b, out)
        if cuda is not None and (out.flags.c_contiguous or out.flags.f_contiguous):
            return cuda.gemm(a, b, out, beta, precision=precision)
        if _is_torch(out):
            return out.addmm_(a, b, beta=beta)
        product = a @ b
    if beta == 0:
        return product  # like BLAS with beta = 0: the old contents (even NaN) are not read
    return axpby(product, out, beta)  # one pass where the backend fuses it


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
    kernel = _fused("axpy", x, y)
    if kernel is not None and kernel(alpha, x, y) is not UNFUSED:
        return y
    y += alpha * x  # portable: in place on NumPy, CuPy, array-api-strict; rebinds on immutable backends
    return y


def descend(alpha: Any, x: Any, y: Any) -> Any:
    """``y -= alpha·x`` in place where the backend allows it (an optimizer's step); returns ``y`` (store it back).

    Where ``alpha`` is a 0-d device array (a captured step's learning rate), :func:`axpy` of ``-alpha`` would
    negate it first, one more kernel per parameter; PyTorch's ``addcmul_`` with ``value=-1`` and the fused CuPy
    kernel take ``alpha`` as it is."""
    if isinstance(alpha, (int, float)):
        return axpy(-alpha, x, y)
    if _is_torch(y):
        return y.addcmul_(x, alpha, value=-1)
    kernel = _fused("descend", x, y)
    if kernel is not None and kernel(alpha, x, y) is not UNFUSED:
        return y
    y -= alpha * x  # portable: in place on NumPy, CuPy, array-api-strict; rebinds on immutable backends
    return y


def penalised_descend(alpha: Any, v: Any, p: Any, l2: float) -> tuple[Any, Any]:
    """``v += l2·p``, then ``p -= alpha·v`` (a weight's L2 term added to its momentum buffer, then the step), in
    place where possible; returns ``(v, p)`` (store both back). One fused kernel on CuPy where two run otherwise."""
    kernel = _fused("penalised_descend", v, p)
    if kernel is not None and kernel(alpha, v, p, l2) is not UNFUSED:
        return v, p
    v = axpy(l2, p, v)
    return v, descend(alpha, v, p)


def axpby(x: Any, y: Any, beta: float) -> Any:
    """``y = beta·y + x`` in place where the backend allows it; returns ``y`` (store the result back).

    On PyTorch ``torch.add(x, y, alpha=beta, out=y)``: one pass where ``y *= beta; y += x`` makes two."""
    if _is_torch(x) and _is_torch(y) and isinstance(beta, (int, float)) and x.dtype == y.dtype:
        return _torch_ops().aten.add.out(x, y, alpha=beta, out=y)
    kernel = _fused("axpby", x, y)
    if kernel is not None and kernel(x, y, beta) is not UNFUSED:
        return y
    y *= beta
    y += x
    return y


def column_sums_into(dy: Any, out: Any, beta: float) -> Any:
    """``out = beta·out + sum(dy, axis=0)`` in place where possible (a bias gradient into its optimizer buffer);
    returns ``out`` (store it back). On CuPy and PyTorch one matrix-vector product with a vector of ones (cuBLAS,
    ``addmv_``) where a reduction and an update make two kernels; float32 sums at every precision setting."""
    n = dy.shape[0]
    if n and dy.ndim == 2 and _is_torch(dy) and _is_torch(out) and out.dtype == dy.dtype:
        return out.addmv_(dy.T, ones(backend_of(dy), (n,), dtype_name(dy.dtype)), beta=beta)
    cuda = _cuda_blas(dy, out)
    if cuda is not None and n and dy.ndim == 2 and out.flags.c_contiguous and out.dtype == dy.dtype:
        cuda.gemm(ones(backend_of(dy), (1, n), dtype_name(dy.dtype)), dy, out.reshape(1, out.shape[0]), beta)
        return out
    return axpby(array_namespace(dy).sum(dy, axis=0), out, beta)


@by_spec(maxsize=None)  # never evicted: a live CUDA graph reads it at its address
def ones(backend: Any, shape: tuple[int, ...], dtype: str) -> Any:
    """Ones of ``shape`` on the device, made once per shape and dtype (a captured step reads them): the row a bias
    gradient is summed with, the upstream gradient of a mean loss. Never written to."""
    with backend.activate():
        return backend.xp.ones(shape, dtype=getattr(backend.xp, dtype), device=backend.device)


def _torch_ops() -> Any:
    import torch  # only reached with torch tensors in hand: torch is already imported

    return torch.ops
