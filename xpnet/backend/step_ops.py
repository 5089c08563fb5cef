"""The training step's operations other than matrix products and parameter updates, each with its backend fast
paths beside the portable path: ReLU and its backward pass, softmax cross-entropy and its gradient, row gathers and
the divergence guard's latch. Fast paths: PyTorch's own kernels (called through ``torch.ops``: no tensor made from
host values, so a CUDA graph captures them; each by its resolved overload, ``aten.eq.Scalar`` not ``aten.eq``,
whose packet tries the overloads in turn: 13-21 µs of host time lost per call given a Python number), fused CuPy
kernels (:mod:`xpnet.backend.fused`) and NumPy's ufuncs with ``out=``. The switch
:data:`xpnet.backend.kernels.FAST_PATHS` turns them off here too.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import kernels, memo
from .arrays import backend_of, dtype_name
from .fused import UNFUSED, fused
from .kernels import _fused, _is_cupy, _is_torch, _torch_ops
from .memo import by_spec


def latch_first(first: Any, value: Any, step: Any) -> Any:
    """``first += [first == 0]·[value is not finite]·step`` in place where possible; returns ``first`` (store it
    back): the first step (1-based) whose loss is not finite, latched on the device without a host read. One fused
    kernel on CuPy where the portable formula makes seven; five on PyTorch where it makes eleven (its ``isfinite``
    is four: ``value - value`` is 0 exactly when ``value`` is finite)."""
    if _is_torch(first) and _is_torch(value):
        aten = _torch_ops().aten
        bad = aten.logical_and.default(aten.eq.Scalar(first, 0), aten.ne.Scalar(aten.sub.Tensor(value, value), 0))
        if type(step).__module__ != "torch":  # a number; never a host tensor: a graph would not capture its copy
            return first.masked_fill_(bad, float(step))
        # a 0-d device step (a captured step's), in first's dtype (no operation when it is already): out= casts nothing
        return aten.where.self_out(bad, step.to(first.dtype), first, out=first)
    kernel = _fused("latch_first", first, value)
    if kernel is not None:
        # a Python float beside a boolean is float16 inside cupy.fuse (step 2049 would latch as 2048): typed here
        typed = np.dtype(first.dtype).type(step) if isinstance(step, (int, float)) else step
        if kernel(first, value, typed) is not UNFUSED:
            return first
    xp, dtype = array_namespace(first), first.dtype
    unset = xp.astype(first == 0, dtype)
    finite = xp.astype(xp.isfinite(value), dtype)
    first += unset * (1.0 - finite) * step  # in place (a captured step replays on this memory); JAX rebinds
    return first


def add_loss_and_hits(sums: Any, loss: Any, n: int, predicted: Any, labels: Any) -> Any:
    """``sums += [n·loss, Σ(predicted == labels)]`` (a batch's loss and correct predictions into the running sums;
    no hits where ``predicted`` is None: regression), in place where possible; returns ``sums`` (store it back). On
    PyTorch four operations into views of ``sums`` where the portable formula makes six."""
    if _is_torch(sums) and _is_torch(loss):
        sums[0].add_(loss, alpha=float(n))
        if predicted is not None:
            aten = _torch_ops().aten
            hits = aten.sum.default(aten.eq.Tensor(predicted, labels))  # an integer count
            sums[1].add_(hits)  # into the float sum, cast in the add
        return sums
    xp, dtype = array_namespace(sums), sums.dtype
    hits = xp.zeros((), dtype=dtype, device=device_of(sums)) if predicted is None else (
        xp.sum(xp.astype(predicted == labels, dtype)))  # fmt: skip
    sums += xp.stack([loss * float(n), hits])  # in place (a captured step replays on this memory); JAX rebinds
    return sums


def take_rows(a: Any, rows: Any) -> Any:
    """``xp.take(a, rows, axis=0)`` for non-negative ``rows``. On PyTorch one ``index_select``: array-api-compat's
    ``take`` first wraps negative indices, three more kernels per call (a captured step gathers five times)."""
    if _is_torch(a) and _is_torch(rows):
        return _torch_ops().aten.index_select.default(a, 0, rows)
    return array_namespace(a).take(a, rows, axis=0)


def positive_part(z: Any) -> Any:
    """``max(z, 0)`` elementwise (ReLU). On PyTorch ``torch.relu``: array-api-compat's ``maximum(z, 0.0)`` turns
    the 0.0 into a tensor on ``z``'s device, a host-to-device copy per call, which a CUDA graph cannot capture."""
    if _is_torch(z):
        return _torch_ops().aten.relu.default(z)
    return array_namespace(z).maximum(z, 0.0)


def affine_relu(x: Any, w: Any, b: Any) -> Any:
    """``max(x @ w + b, 0)``: a dense layer and the ReLU after it, the numbers of :func:`kernels.affine` then
    :func:`positive_part`, in fewer passes. On PyTorch one ``_addmm_activation`` (on CUDA a cuBLASLt product whose
    epilogue adds the bias and applies the ReLU: one kernel where two would run, and no pre-activation written and
    read back; the product's algorithm may differ from ``addmm``'s, a difference in rounding), used where it treats
    NaN and infinities as the ReLU does (:func:`_fused_relu_agrees`; :func:`fused_relu_verdicts` says where); on
    CuPy the product and one fused kernel for the bias and the ReLU, where two ran; on NumPy the ReLU in place, on
    the product's own memory. On the host the output is laid out as ``w`` (:func:`kernels.follows_weights`)."""
    if kernels._torch_affine(x, w, b):
        aten = _torch_ops().aten
        if _fused_relu_agrees(backend_of(x), dtype_name(x.dtype), x.is_cuda):
            return kernels.torch_addmm(aten._addmm_activation.default, x, w, b)
        return aten.relu_.default(kernels.affine(x, w, b))
    kernel = _fused("bias_relu", x, w, b)
    if kernel is None:
        y = kernels.affine(x, w, b)  # a fresh array
    else:  # the product, then the bias and the ReLU in one kernel (or, where it failed its check, as affine's)
        y = kernels.matmul(x, w)
        a = kernel(y, b, np.dtype(y.dtype).type(0))
        if a is not UNFUSED:
            return a
        y += b
    if kernels.FAST_PATHS and isinstance(y, np.ndarray):
        return np.maximum(y, 0.0, out=y)
    return positive_part(y)


_RELU_VERDICTS: dict[tuple[str, str, str], bool] = memo.registered({})  # (spec, dtype, precision) -> agrees


def _fused_relu_agrees(backend: Any, dtype: str, on_cuda: bool) -> bool:
    """Whether PyTorch's ``_addmm_activation`` gives ``relu(addmm)``'s numbers on this device, dtype and precision,
    NaN and infinities included: on CUDA its ReLU is cuBLASLt's epilogue, whose NaN is not PyTorch's to promise.
    Checked once each (:func:`_check_fused_relu`), never inside a CUDA graph's capture (the check reads back to the
    host): there, unchecked, the two run apart and nothing is decided. True on ``meta`` (no values)."""
    key = (backend.spec, dtype, kernels.current_precision())
    verdict = _RELU_VERDICTS.get(key)
    if verdict is None:
        if on_cuda and importlib.import_module("torch").cuda.is_current_stream_capturing():
            return False
        verdict = _RELU_VERDICTS[key] = _check_fused_relu(backend, dtype)
    return verdict


def fused_relu_verdicts() -> dict[str, bool]:
    """Where PyTorch's fused product and ReLU ran in this process (True) and where the two ran apart because the
    device's check found them to differ (False), by ``"spec dtype precision"``: the benchmarks print it. Running apart
    is PyTorch's own way, so it is not warned about: nothing is wrong, one kernel is not saved."""
    return {" ".join(key): verdict for key, verdict in _RELU_VERDICTS.items()}


def _check_fused_relu(backend: Any, dtype: str) -> bool:
    """:func:`_fused_relu_agrees`'s check: small integers (products exact at any precision, whatever algorithm each
    call picks), a bias of 0.5, ±inf, NaN, -0.25, 0."""
    if backend.device.type == "meta":
        return True
    torch = importlib.import_module("torch")
    aten = torch.ops.aten
    with backend.activate():  # made on the device, no host values copied (a first call may come in a warm-up)
        kind, device = getattr(torch, dtype), backend.device
        x = torch.arange(128, dtype=kind, device=device).reshape(8, 16) % 7 - 3
        w = torch.arange(96, dtype=kind, device=device).reshape(16, 6) % 5 - 2
        b = torch.zeros(6, dtype=kind, device=device)
        for i, value in enumerate((0.5, -math.inf, math.inf, math.nan, -0.25)):
            b[i] = value
        fused = aten._addmm_activation.default(b, x, w).cpu().numpy()
        apart = aten.relu.default(aten.addmm.default(b, x, w)).cpu().numpy()
    return bool(np.array_equal(fused, apart, equal_nan=True))


def relu_backward(dy: Any, z: Any) -> Any:
    """``dy · [z > 0]`` (the ReLU's backward pass), in place where possible; returns the result (store it back).

    The portable path builds a boolean mask, casts it to ``dy``'s dtype and multiplies: three passes and two
    temporaries. PyTorch's own ``threshold_backward`` is one pass (a tenth of the time on a CPU); NumPy multiplies
    by the boolean mask directly, without the cast.
    """
    if _is_torch(dy) and _is_torch(z):
        return _torch_ops().aten.threshold_backward.default(dy, z, 0)
    if kernels.FAST_PATHS and isinstance(dy, np.ndarray) and isinstance(z, np.ndarray) and dy.flags.writeable:
        return np.multiply(dy, z > 0, out=dy)
    kernel = _fused("relu_backward", dy, z)
    if kernel is not None and kernel(dy, z) is not UNFUSED:
        return dy
    dy *= array_namespace(z).astype(z > 0, dy.dtype)  # portable: rebinds on immutable backends (JAX)
    return dy


def softmax_cross_entropy(z: Any, labels: Any) -> tuple[Any, Any] | None:
    """``(loss, delta)`` of :func:`xpnet.nn.losses.cross_entropy` in four fused CuPy kernels (row maximum, sum of
    exponentials, gradient, loss) or PyTorch's own log-softmax and NLL kernels (the five that its autograd runs
    for ``F.cross_entropy``) instead of sixteen; None on other backends (the portable code then runs)."""
    if _is_torch(z) and _is_torch(labels):
        return _torch_softmax_cross_entropy(z, labels)
    table = fused() if _is_cupy(z, labels) else None
    if table is None:
        return None
    xp = array_namespace(z)
    n, k = z.shape
    top = xp.max(z, axis=1, keepdims=True)  # (n, 1)
    total = table["sum_exp"](z, top)
    if total is UNFUSED:
        return None
    total = xp.reshape(total, (n, 1))
    column, classes = xp.reshape(labels, (n, 1)), _classes(backend_of(labels), k, str(labels.dtype))
    delta = table["softmax_delta"](z, top, total, column, classes, 1.0 / n)
    loss = table["picked_loss"](z, top, total, column, classes, 1.0 / n)
    if delta is UNFUSED or loss is UNFUSED:
        return None
    return loss, delta


def _torch_softmax_cross_entropy(z: Any, labels: Any) -> tuple[Any, Any] | None:
    """What PyTorch's autograd computes for ``F.cross_entropy(z, labels)`` and its gradient, called directly: no
    tensor made from host values (a CUDA graph captures it); None for labels other than int64 (NLL's own type)."""
    if z.ndim != 2 or labels.ndim != 1 or z.shape[0] == 0 or str(labels.dtype) != "torch.int64":
        return None
    aten = _torch_ops().aten
    logp = aten._log_softmax.default(z, 1, False)
    loss, total_weight = aten.nll_loss_forward.default(logp, labels, None, 1, -100)  # 1: the mean over the rows
    one = kernels.ones(backend_of(z), (), dtype_name(z.dtype))  # made once: no fill kernel per step
    grad = aten.nll_loss_backward.default(one, logp, labels, None, 1, -100, total_weight)  # -onehot / n
    return loss, aten._log_softmax_backward_data.default(grad, logp, 1, z.dtype)  # (softmax(z) - onehot) / n


@by_spec(maxsize=None)  # never evicted: a live CUDA graph reads it at its address
def _classes(backend: Any, k: int, dtype: str) -> Any:
    """``arange(k)`` on the device, made once (a captured step reads it)."""
    with backend.activate():
        return backend.xp.arange(k, dtype=getattr(backend.xp, dtype), device=backend.device)
