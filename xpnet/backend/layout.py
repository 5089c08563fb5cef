"""How parameters lie in memory. On the host's BLAS (NumPy, PyTorch's CPU, array-api-strict) a matrix ``W`` of
shape ``(fan_in, fan_out)`` is stored as its transpose, a C-contiguous ``(fan_out, fan_in)`` array seen through
``.T`` (column-major, the layout of PyTorch's ``nn.Linear.weight``); vectors, and every array on a GPU, as they are.

The shape everyone reads is unchanged (``W`` is ``(fan_in, fan_out)``, ``x @ W``); only the strides differ. With
them MKL (through PyTorch) runs the reference job's 10-wide layer's forward product about 2x and its weight
gradient about 3.5x faster, the 784×1024 forward product ~20% faster, and OpenBLAS the 784×1024 weight gradient
~17% faster (``benchmarks/layouts.py``). Everything made from a parameter keeps its strides (``zeros_like``,
copies, bfloat16 casts), so the optimizer's state follows; gradients are made in the same layout
(:func:`weight_gradient`), so updates walk every operand at unit stride; the matrix-product fast paths
(:mod:`.host_blas`, PyTorch's ``addmm_``, :mod:`.device_blas`) write column-major outputs in place.

A dense layer's output takes its weights' layout, computed as ``(Wᵀ @ xᵀ)ᵀ`` (:func:`.kernels.matmul_as`), and so
does the gradient of its input (``dy @ Wᵀ`` laid out as ``x``) and a dropout mask (:mod:`xpnet.nn.random`): every
elementwise pass of the step (the ReLU, its backward pass, dropout) then walks operands of one layout, and MKL and
OpenBLAS run the reference job's products faster in this orientation (the step 0.89x on PyTorch's CPU, 0.95x on
NumPy, ``benchmarks/layouts.py``). Only NumPy and PyTorch show their strides (:func:`.arrays.column_major`), so only
they follow, and only for products of :data:`.kernels.SMALL_FOLLOW` multiply-adds and more than one row (below, the
transposed call costs more host time than it saves). A network's last output is row-major, as the loss and the
network's user read it (a softmax over 4096 classes read down columns took 1.6x as long): made so at once from a
row-major input, made in columns and copied (:func:`row_major`) from a column-major one, from which MKL's row-major
product is its slowest (``kernels.follows_weights``'s ``rows``).

On a GPU the layout stays row-major: CuPy's elementwise kernels index a 2-D array that is not C-contiguous in
row order, so consecutive threads would read addresses a column apart (uncoalesced) in every optimizer update
(``tests/test_layout.py`` checks that the CuPy stand-in's cells stay row-major). Where arrays are immutable (JAX)
the layout is the compiler's business.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import is_jax_array

from .arrays import backend_of, column_major, is_host_array, to_device
from .kernels import matmul
from .specs import Backend


def stores_transposed(target: Backend, shape: tuple[int, ...]) -> bool:
    """Whether a parameter of ``shape`` on ``target`` is stored as the transpose of a C-contiguous array."""
    return len(shape) == 2 and target.updates_in_place and target.on_host


def as_parameter(a: Any, target: Backend) -> Any:
    """A new array on ``target`` holding ``a`` (host data, or an array on ``target``), laid out as above: training
    updates it in place, so it never shares memory with ``a``."""
    transposed = stores_transposed(target, tuple(a.shape))
    if is_host_array(a):  # a C-contiguous copy first, whatever the source's layout (a CPU model moved to a GPU)
        host = np.asarray(a)
        if transposed:
            return to_device(np.array(host.T, order="C", copy=True), target).T
        return to_device(np.array(host, order="C", copy=True), target)
    xp = target.xp
    if not target.updates_in_place:
        return xp.asarray(a, copy=True)
    shape = (a.shape[1], a.shape[0]) if transposed else tuple(a.shape)
    stored = xp.empty(shape, dtype=a.dtype, device=target.device)  # row-major, filled in whatever a's layout is
    stored[...] = a.T if transposed else a
    return stored.T if transposed else stored


def parameter_view(flat: Any, shape: tuple[int, ...], target: Backend) -> Any:
    """A view of the 1-D array ``flat`` (exactly as many values as ``shape`` holds) shaped ``shape`` and laid out
    as a parameter of that shape is (a gradient buffer whose arithmetic with the parameter runs at unit stride)."""
    xp = target.xp
    if not stores_transposed(target, shape):
        return xp.reshape(flat, shape)
    return xp.reshape(flat, (shape[1], shape[0])).T


def weight_gradient(x: Any, dy: Any) -> Any:
    """``x.T @ dy`` (a dense layer's weight gradient, ``(fan_in, fan_out)``) laid out as the weights are: on the
    host the product ``dy.T @ x`` seen through ``.T``, which is also how PyTorch's autograd computes it."""
    if not is_jax_array(dy) and stores_transposed(backend_of(dy), (x.shape[1], dy.shape[1])):  # JAX: maybe traced
        return matmul(dy.T, x).T
    return matmul(x.T, dy)


def row_major(a: Any) -> Any:
    """``a`` itself where it is row-major (or its strides are not shown), else a row-major copy: a network's last
    output, which the loss and the network's user read by rows (a PyTorch user's ``view`` needs it), where the
    products left it column-major."""
    if not column_major(a):
        return a
    return np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a.contiguous()
